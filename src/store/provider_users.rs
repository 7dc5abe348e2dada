//! Users a sign-in provider vouches for (LDAP, OpenID Connect): created at their first sign-in
//! (or, where the provider is set so, only matched to accounts an admin made), and their
//! memberships in the provider's groups made equal to what the provider said at each sign-in.
//! Grants on those groups (`user_groups.source` = the provider) then give the roles.

use serde_json::json;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::audit::insert as audit;
use super::users::{LOCAL_USERS, User};
use super::{Actor, NewAudit, Store, StoreError, StoreResult, now_ts, parse_uuid};
use crate::role::Role;

/// What a provider said about a user that signed in.
#[derive(Debug, Clone)]
pub struct ProviderSignIn<'a> {
    /// The provider: `ldap` or `oidc:<name>` (the users' and groups' `source`).
    pub source: &'a str,
    /// The provider's name for the user (an LDAP DN, an ID token's `sub`).
    pub subject: &'a str,
    /// The username, already checked by [`crate::validate::username`].
    pub username: &'a str,
    /// The user's group names at the provider, already checked by [`crate::validate::name`].
    pub groups: &'a [String],
    /// How an account is found or made for the user.
    pub accounts: AccountPolicy,
}

/// How a provider's sign-in finds its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountPolicy {
    /// The account of the username, made at the first sign-in; its subject follows the provider
    /// (an LDAP entry may be renamed). A local account of that name is never taken.
    CreateFollowSubject,
    /// The account of the username, made at the first sign-in, and bound to the subject it was
    /// made with: a later sign-in by another subject under the same username (a name the
    /// provider gave to someone else) is refused. A local account of that name is never taken.
    CreatePinSubject,
    /// No account is made: only an existing one of this provider (bound to its subject), or a
    /// local account an admin made for the user, which the first sign-in links to the provider:
    /// its source and subject are set and its local password is dropped (from then on it signs
    /// in through the provider only, so the provider's second factor and offboarding hold). A
    /// local account that holds the admin role anywhere (its own role, a grant, or a group's
    /// grant) is never linked: the provider's word alone does not make an admin.
    ExistingOnly,
}

/// Why a provider's sign-in got no account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRefusal {
    /// The username is a local account that this sign-in may not take.
    OtherAccount,
    /// The username is an account of another provider (or of one no longer configured).
    OtherProvider,
    /// The account is disabled (nothing was changed).
    Disabled,
    /// No account of that username, and the provider may not make one.
    NoAccount,
    /// The account is bound to another subject of the provider.
    SubjectChanged,
    /// The local account to link holds the admin role somewhere.
    AdminAccount,
}

impl ProviderRefusal {
    /// The reason the audit records.
    pub fn reason(self) -> &'static str {
        match self {
            ProviderRefusal::OtherAccount => "local_account_of_that_name",
            ProviderRefusal::OtherProvider => "account_of_another_provider",
            ProviderRefusal::Disabled => "disabled",
            ProviderRefusal::NoAccount => "no_account",
            ProviderRefusal::SubjectChanged => "subject_changed",
            ProviderRefusal::AdminAccount => "admin_account_not_linked",
        }
    }
}

/// The user after a provider sign-in, and what changed.
#[derive(Debug, Clone)]
pub struct ProviderUser {
    pub user: User,
    /// Created by this sign-in.
    pub created: bool,
    /// The provider's groups the user is in now (names as recorded).
    pub groups: Vec<String>,
    /// Groups of the provider the user joined, and left, with this sign-in (names).
    pub joined: Vec<String>,
    pub left: Vec<String>,
}

impl Store {
    /// Record the sign-in `sign_in` in one transaction: find its account as `sign_in.accounts`
    /// says, creating it when new (no fleet-wide role, no usable local password, audited
    /// `user.create` by the actor named after the provider) or linking a local one (audited
    /// `user.link`), record its subject, create the provider's groups it names that do not
    /// exist yet (audited `group.create`), and make its memberships in the provider's groups
    /// equal to `sign_in.groups`. `Ok(Err(_))`: no account for this sign-in, nothing changed.
    pub async fn provider_sign_in(
        &self,
        sign_in: &ProviderSignIn<'_>,
    ) -> StoreResult<Result<ProviderUser, ProviderRefusal>> {
        let actor = Actor {
            user_id: None,
            name: sign_in.source.to_string(),
        };
        let mut tx = self.write_tx().await?;
        let (user, created) = match find_or_create(&mut tx, self, &actor, sign_in).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut wanted = Vec::new();
        for name in sign_in.groups {
            wanted.push(provider_group(&mut tx, self, &actor, sign_in.source, name).await?);
        }
        let rows = sqlx::query(
            "SELECT g.id, g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id
             WHERE m.user_id = $1 AND g.source = $2",
        )
        .bind(user.id.to_string())
        .bind(sign_in.source)
        .fetch_all(&mut *tx)
        .await?;
        let mut current = Vec::new();
        for row in &rows {
            current.push((
                parse_uuid(row.try_get("id")?)?,
                row.try_get::<String, _>("name")?,
            ));
        }
        let mut left = Vec::new();
        for (id, name) in &current {
            if wanted.iter().all(|(w, _)| w != id) {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(id.to_string())
                    .bind(user.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                left.push(name.clone());
            }
        }
        let mut joined = Vec::new();
        for (id, name) in &wanted {
            if current.iter().all(|(c, _)| c != id) && !joined.contains(name) {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(id.to_string())
                .bind(user.id.to_string())
                .bind(now_ts())
                .execute(&mut *tx)
                .await?;
                joined.push(name.clone());
            }
        }
        tx.commit().await?;
        let mut groups: Vec<String> = Vec::new();
        for (_, name) in wanted {
            if !groups.contains(&name) {
                groups.push(name);
            }
        }
        Ok(Ok(ProviderUser {
            user,
            created,
            groups,
            joined,
            left,
        }))
    }
}

/// The account of `sign_in` as its [`AccountPolicy`] says (created or linked when it says so),
/// its subject recorded, and whether it was created now.
async fn find_or_create(
    conn: &mut AnyConnection,
    store: &Store,
    actor: &Actor,
    sign_in: &ProviderSignIn<'_>,
) -> StoreResult<Result<(User, bool), ProviderRefusal>> {
    let existing = super::users::user_by_name_in(conn, sign_in.username).await?;
    if existing.as_ref().is_some_and(|user| user.disabled) {
        return Ok(Err(ProviderRefusal::Disabled));
    }
    let (id, created) = match existing {
        Some(user) if user.source == sign_in.source => {
            if sign_in.accounts != AccountPolicy::CreateFollowSubject {
                let subject: Option<String> =
                    sqlx::query_scalar("SELECT subject FROM users WHERE id = $1")
                        .bind(user.id.to_string())
                        .fetch_one(&mut *conn)
                        .await?;
                if subject.is_some_and(|s| s != sign_in.subject) {
                    return Ok(Err(ProviderRefusal::SubjectChanged));
                }
            }
            (user.id, false)
        }
        Some(user)
            if sign_in.accounts == AccountPolicy::ExistingOnly && user.source == LOCAL_USERS =>
        {
            if user.role == Some(Role::Admin) || admin_by_grant(conn, user.id).await? {
                return Ok(Err(ProviderRefusal::AdminAccount));
            }
            // "!" is no PHC string: the local password no longer verifies.
            sqlx::query("UPDATE users SET source = $1, password_hash = '!' WHERE id = $2")
                .bind(sign_in.source)
                .bind(user.id.to_string())
                .execute(&mut *conn)
                .await?;
            let details = json!({"username": user.username, "source": sign_in.source,
                                 "subject": sign_in.subject, "local_password_dropped": true});
            record(conn, store, actor, "user.link", user.id, details).await?;
            (user.id, false)
        }
        Some(user) if user.source == LOCAL_USERS => {
            return Ok(Err(ProviderRefusal::OtherAccount));
        }
        Some(_) => return Ok(Err(ProviderRefusal::OtherProvider)),
        None if sign_in.accounts == AccountPolicy::ExistingOnly => {
            return Ok(Err(ProviderRefusal::NoAccount));
        }
        None => {
            let id = Uuid::new_v4();
            // "!" is no PHC string: no password ever verifies against it.
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, role, created_at, source)
                 VALUES ($1, $2, '!', 'none', $3, $4)",
            )
            .bind(id.to_string())
            .bind(sign_in.username)
            .bind(now_ts())
            .bind(sign_in.source)
            .execute(&mut *conn)
            .await?;
            let details = json!({"username": sign_in.username, "role": null,
                                 "source": sign_in.source, "subject": sign_in.subject});
            record(conn, store, actor, "user.create", id, details).await?;
            (id, true)
        }
    };
    sqlx::query("UPDATE users SET subject = $1 WHERE id = $2")
        .bind(sign_in.subject)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    let user = super::users::user_by_id_in(conn, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Ok((user, created)))
}

/// Whether user `id` holds the admin role through a grant, its own or one of its groups'.
async fn admin_by_grant(conn: &mut AnyConnection, id: Uuid) -> StoreResult<bool> {
    let grants: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM grants g WHERE g.role = 'admin' AND (g.user_id = $1 OR g.group_id IN
           (SELECT m.group_id FROM group_members m WHERE m.user_id = $1))",
    )
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    Ok(grants > 0)
}

/// Audit `action` on user `id` by `actor`, in the sign-in's transaction.
async fn record(
    conn: &mut AnyConnection,
    store: &Store,
    actor: &Actor,
    action: &str,
    id: Uuid,
    details: serde_json::Value,
) -> StoreResult<()> {
    audit(
        conn,
        store.chain_key(),
        NewAudit {
            actor,
            action,
            target: Some(format!("user:{id}")),
            outcome: "success",
            details,
        },
    )
    .await?;
    Ok(())
}

/// The id and name of the group `name` of `source`, created (audited `group.create`) when new.
async fn provider_group(
    conn: &mut AnyConnection,
    store: &Store,
    actor: &Actor,
    source: &str,
    name: &str,
) -> StoreResult<(Uuid, String)> {
    let found = sqlx::query(
        "SELECT id, name FROM user_groups WHERE source = $1 AND lower(name) = lower($2)",
    )
    .bind(source)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = found {
        return Ok((parse_uuid(row.try_get("id")?)?, row.try_get("name")?));
    }
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO user_groups (id, name, source, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id.to_string())
        .bind(name)
        .bind(source)
        .bind(now_ts())
        .execute(&mut *conn)
        .await?;
    audit(
        conn,
        store.chain_key(),
        NewAudit {
            actor,
            action: "group.create",
            target: Some(format!("group:{id}")),
            outcome: "success",
            details: json!({"name": name, "source": source}),
        },
    )
    .await?;
    Ok((id, name.to_string()))
}
