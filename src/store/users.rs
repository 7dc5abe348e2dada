//! Users: the accounts that log in to testum, and the guard that keeps one enabled admin.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::role::Role;

use super::audit::{Deletion, delete_audited, insert as audit};
use super::sessions::end_sessions_of;
use super::{
    Actor, Backend, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts,
    parse_ts, parse_uuid, sql, ts, unique_violation,
};

/// A user account. The password hash stays inside the store's callers that verify logins; the
/// API shows [`UserInfo`].
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// PHC string of the Argon2id hash.
    pub password_hash: String,
    /// The user's own fleet-wide role; `None`: only what grants give.
    pub role: Option<Role>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Who vouches for the password: [`LOCAL_USERS`] or a sign-in provider (`ldap`).
    pub source: String,
    /// An admin asked this user to sign in with a second factor.
    pub require_totp: bool,
    /// Two-factor sign-in (TOTP) is on.
    pub totp_enabled: bool,
}

/// The `source` of users whose password testum keeps itself.
pub const LOCAL_USERS: &str = "local";

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: Uuid,
    pub username: String,
    /// The user's own role over the whole fleet; `null`: none, only what grants (own or
    /// through groups) give.
    pub role: Option<Role>,
    /// A disabled user cannot sign in, and its sessions and API tokens are refused.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Who vouches for the password: `local` (testum) or a sign-in provider (`ldap`), whose
    /// users were created at their first sign-in and have no local password.
    pub source: String,
    /// The user must sign in with a second factor, whatever `TESTUM_REQUIRE_TOTP_FOR` says.
    pub require_totp: bool,
    /// The user signs in with a second factor (TOTP) now.
    pub totp_enabled: bool,
}

impl From<User> for UserInfo {
    fn from(user: User) -> UserInfo {
        UserInfo {
            id: user.id,
            username: user.username,
            role: user.role,
            disabled: user.disabled,
            created_at: user.created_at,
            source: user.source,
            require_totp: user.require_totp,
            totp_enabled: user.totp_enabled,
        }
    }
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// `Some(None)` takes the fleet-wide role away (the user keeps what grants give).
    pub role: Option<Option<Role>>,
    pub disabled: Option<bool>,
    /// A new Argon2id PHC hash; setting it ends the user's sessions.
    pub password_hash: Option<String>,
    /// Whether the user must sign in with a second factor.
    pub require_totp: Option<bool>,
}

const COLUMNS: &str = "id, username, password_hash, role, disabled, created_at, source,
    require_totp,
    (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = users.id AND t.enabled_at IS NOT NULL)
        AS totp_enabled";

/// Message of the 409 that keeps the installation administrable.
const LAST_ADMIN: &str = "this is the last enabled admin: make another user an admin first";

pub(crate) fn parse_role(text: String) -> StoreResult<Role> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("role {text:?}: {e}")))
}

/// What `users.role` holds for a user without a fleet-wide role (migration 0019).
const NO_ROLE: &str = "none";

/// `users.role` as stored: a role, or `none`.
pub(crate) fn parse_fleet_role(text: String) -> StoreResult<Option<Role>> {
    match text.as_str() {
        NO_ROLE => Ok(None),
        _ => parse_role(text).map(Some),
    }
}

fn fleet_role_text(role: Option<Role>) -> &'static str {
    role.map_or(NO_ROLE, Role::as_str)
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: parse_uuid(row.try_get("id")?)?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: parse_fleet_role(row.try_get("role")?)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: parse_ts(row.try_get("created_at")?)?,
        source: row.try_get("source")?,
        require_totp: row.try_get::<i64, _>("require_totp")? != 0,
        totp_enabled: row.try_get::<i64, _>("totp_enabled")? != 0,
    })
}

/// The user named `username` whatever its case (names are unique so, migration 0009), if any,
/// read on `conn` (in a transaction, say).
pub(super) async fn user_by_name_in(
    conn: &mut AnyConnection,
    username: &str,
) -> StoreResult<Option<User>> {
    let row = sqlx::query(sql(format!(
        "SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)"
    )))
    .bind(username)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user with `id`, if any, read on `conn`.
pub(super) async fn user_by_id_in(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<User>> {
    let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM users WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

fn info_from_row(row: &AnyRow) -> StoreResult<UserInfo> {
    user_from_row(row).map(UserInfo::from)
}

impl Store {
    /// Number of users (0 on a fresh database).
    pub async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Create a user with an already hashed password, audited as `user.create` by `actor`.
    /// [`StoreError::Conflict`] when the username is taken.
    pub async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password_hash: &str,
        role: impl Into<Option<Role>>,
    ) -> StoreResult<UserInfo> {
        let role = role.into();
        let id = Uuid::new_v4();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "INSERT INTO users (id, username, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(username)
        .bind(password_hash)
        .bind(fleet_role_text(role))
        .bind(now_ts())
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation("username already exists"))?;
        let user = info_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "user.create",
                target: Some(format!("user:{id}")),
                outcome: "success",
                details: json!({"username": user.username, "role": user.role}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The user named `username` whatever its case, if any.
    pub async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        user_by_name_in(&mut *self.pool.acquire().await?, username).await
    }

    /// The user with `id`, if any.
    pub async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        user_by_id_in(&mut *self.pool.acquire().await?, id).await
    }

    /// The usernames of the users among `ids` that exist, by id.
    pub async fn usernames(
        &self,
        ids: &[Uuid],
    ) -> StoreResult<std::collections::HashMap<Uuid, String>> {
        self.names_by_id("users", "username", ids).await
    }

    /// Users, newest first.
    pub async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<UserInfo>> {
        self.list_newest("users", COLUMNS, page, info_from_row, |u: &UserInfo| {
            Cursor {
                created_at: ts(u.created_at),
                id: u.id.to_string(),
            }
        })
        .await
    }

    /// Apply `patch` to user `id`, audited as `user.update` (the details name what changed, never
    /// the password). Disabling the user or setting a password ends all its sessions in the same
    /// transaction. [`StoreError::Conflict`] when the change would leave no enabled admin;
    /// [`StoreError::NotFound`] when there is no such user.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: UserPatch,
    ) -> StoreResult<UserInfo> {
        let mut tx = self.write_tx().await?;
        let loses_admin =
            patch.role.is_some_and(|r| r != Some(Role::Admin)) || patch.disabled == Some(true);
        if loses_admin {
            self.guard_last_admin(&mut tx, id).await?;
        }
        let row = sqlx::query(sql(format!(
            "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled),
                password_hash = COALESCE($4, password_hash),
                require_totp = COALESCE($5, require_totp)
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(patch.role.map(fleet_role_text))
        .bind(patch.disabled.map(i64::from))
        .bind(patch.password_hash.as_deref())
        .bind(patch.require_totp.map(i64::from))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let user = info_from_row(&row)?;
        let ends_sessions = patch.disabled == Some(true) || patch.password_hash.is_some();
        let sessions_ended = if ends_sessions {
            end_sessions_of(&mut tx, id).await?
        } else {
            0
        };
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "user.update",
                target: Some(format!("user:{id}")),
                outcome: "success",
                details: json!({
                    "username": user.username,
                    "role": patch.role.map(fleet_role_text),
                    "disabled": patch.disabled,
                    "password_changed": patch.password_hash.is_some(),
                    "require_totp": patch.require_totp,
                    "sessions_ended": sessions_ended,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Delete user `id` with its sessions and API tokens, audited as `user.delete`.
    /// [`StoreError::Conflict`] for the last enabled admin.
    pub async fn delete_user(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        self.guard_last_admin(&mut tx, id).await?;
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM users WHERE id = $1 RETURNING username",
                id,
                column: "username",
            },
            "user.delete",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refuse (409) a change that takes admin rights from `id` when it is the only enabled admin.
    /// On PostgreSQL the enabled admins' rows are locked, so two admins demoting each other at
    /// once cannot both succeed; SQLite's write transaction already excludes that.
    async fn guard_last_admin(&self, conn: &mut AnyConnection, id: Uuid) -> StoreResult<()> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let admins: Vec<String> = sqlx::query_scalar(sql(format!(
            "SELECT id FROM users WHERE role = 'admin' AND disabled = 0{lock}"
        )))
        .fetch_all(conn)
        .await?;
        if admins == [id.to_string()] {
            return Err(StoreError::Conflict(LAST_ADMIN.into()));
        }
        Ok(())
    }
}
