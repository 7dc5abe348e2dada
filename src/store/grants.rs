//! Grants: a role for a user or a group, over every platform (`all`) or over those a selector
//! matches. The effective role they give is computed by [`crate::grants`]; this module stores
//! them and reads a user's (own and through groups) on each request.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::audit::insert as audit;
use super::users::parse_role;
use super::{
    Actor, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts, parse_ts,
    parse_uuid, sql, ts,
};
use crate::grants::ScopedGrant;
use crate::role::Role;
use crate::selector::Selector;

/// Who a grant is given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSubject {
    User(Uuid),
    Group(Uuid),
}

/// A grant as listed: its subject by id and current name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: Uuid,
    /// The user it is given to (`null` for a group's grant).
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    /// The group it is given to (`null` for a user's grant); it holds for every member.
    pub group_id: Option<Uuid>,
    pub group_name: Option<String>,
    pub role: Role,
    /// Where the role holds: `all` (every platform), or a selector in canonical form, evaluated
    /// on each platform's facts (tags, name, host, state) whenever the grant is used.
    pub selector: String,
    /// Username of the admin who gave it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A validated grant to store.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub subject: GrantSubject,
    pub role: Role,
    pub selector: Selector,
}

const COLUMNS: &str = "id, user_id, (SELECT username FROM users u WHERE u.id = grants.user_id)
     AS username, group_id, (SELECT name FROM user_groups g WHERE g.id = grants.group_id)
     AS group_name, role, selector, created_by, created_at";

fn grant_from_row(row: &AnyRow) -> StoreResult<Grant> {
    let id = |column: &str| -> StoreResult<Option<Uuid>> {
        row.try_get::<Option<String>, _>(column)?
            .as_deref()
            .map(parse_uuid)
            .transpose()
    };
    Ok(Grant {
        id: parse_uuid(row.try_get("id")?)?,
        user_id: id("user_id")?,
        username: row.try_get("username")?,
        group_id: id("group_id")?,
        group_name: row.try_get("group_name")?,
        role: parse_role(row.try_get("role")?)?,
        selector: row.try_get("selector")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn subject_json(grant: &Grant) -> serde_json::Value {
    json!({"user_id": grant.user_id, "username": grant.username,
           "group_id": grant.group_id, "group_name": grant.group_name,
           "role": grant.role, "selector": grant.selector})
}

impl Store {
    /// Store `new`, audited as `grant.create` by `actor`. [`StoreError::Conflict`] when the
    /// subject already has this role on this selector, or no longer exists.
    pub async fn create_grant(&self, actor: &Actor, new: NewGrant) -> StoreResult<Grant> {
        let id = Uuid::new_v4();
        let (user, group) = match new.subject {
            GrantSubject::User(u) => (Some(u.to_string()), None),
            GrantSubject::Group(g) => (None, Some(g.to_string())),
        };
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO grants (id, user_id, group_id, role, selector, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(user)
        .bind(group)
        .bind(new.role.as_str())
        .bind(new.selector.to_string())
        .bind(&actor.name)
        .bind(now_ts())
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("this subject already has this role on this selector".into())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Conflict("the user or group was deleted meanwhile".into())
            }
            _ => StoreError::Db(e),
        })?;
        let grant = grant_row(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "grant.create",
                target: Some(format!("grant:{id}")),
                outcome: "success",
                details: subject_json(&grant),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// Grants newest first: all, or those given to `user` or to `group` (directly).
    pub async fn list_grants(
        &self,
        subject: Option<GrantSubject>,
        page: &PageRequest,
    ) -> StoreResult<Page<Grant>> {
        let subject = match subject {
            Some(GrantSubject::User(u)) => Some(("user_id", u.to_string())),
            Some(GrantSubject::Group(g)) => Some(("group_id", g.to_string())),
            None => None,
        };
        let equals = subject.as_ref().map(|(column, id)| (*column, id.as_str()));
        self.list_newest_where("grants", COLUMNS, equals, page, grant_from_row, |g| {
            Cursor {
                created_at: ts(g.created_at),
                id: g.id.to_string(),
            }
        })
        .await
    }

    /// Delete grant `id`, audited as `grant.delete` with what it gave to whom; it stops
    /// applying from the next request. [`StoreError::NotFound`] when there is none.
    pub async fn delete_grant(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let grant = grant_row(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM grants WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "grant.delete",
                target: Some(format!("grant:{id}")),
                outcome: "success",
                details: subject_json(&grant),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every grant user `user` holds, given to it or to one of its groups (an `all` grant is
    /// one with [`Selector::is_all`]). A stored selector that no longer parses is
    /// [`StoreError::Corrupt`]: the request fails rather than run with unknown rights.
    pub async fn grants_of(&self, user: Uuid) -> StoreResult<Vec<ScopedGrant>> {
        let rows = sqlx::query(
            "SELECT role, selector FROM grants WHERE user_id = $1
             UNION ALL
             SELECT gr.role, gr.selector FROM grants gr
                 JOIN group_members m ON m.group_id = gr.group_id
             WHERE m.user_id = $1",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("selector")?;
                Ok(ScopedGrant {
                    role: parse_role(row.try_get("role")?)?,
                    selector: text.parse().map_err(|e| {
                        StoreError::Corrupt(format!("grant selector {text:?}: {e}"))
                    })?,
                })
            })
            .collect()
    }
}

async fn grant_row(conn: &mut sqlx::AnyConnection, id: Uuid) -> StoreResult<Option<Grant>> {
    sqlx::query(sql(format!("SELECT {COLUMNS} FROM grants WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
}
