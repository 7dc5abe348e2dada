//! Groups of users: a grant given to a group holds for each of its members
//! ([`super::grants`]). A group's `source` says who manages its members: `local` groups are
//! managed through the API and the web UI; a sign-in provider (`ldap`, `oidc:<provider>`) will
//! manage the memberships of its own groups, which the API then refuses to change (409).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::audit::{Deletion, delete_audited, insert as audit};
use super::{
    Actor, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts, parse_ts,
    parse_uuid, sql, ts, unique_violation,
};

/// The source of the groups managed in testum itself.
pub const LOCAL: &str = "local";

/// A group as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: Uuid,
    /// Unique per source, whatever its case.
    pub name: String,
    /// `local` (members managed through the API and the UI), or the sign-in provider that
    /// manages its members (`ldap`, `oidc:<provider>`).
    pub source: String,
    /// How many users belong to it.
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupMember {
    pub user_id: Uuid,
    pub username: String,
}

/// A group with its members (by username).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: Group,
    pub members: Vec<GroupMember>,
}

/// Changes to a group; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    /// The whole new member list (user ids that exist; the API checks them).
    pub members: Option<Vec<Uuid>>,
}

const COLUMNS: &str = "g.id, g.name, g.source, g.created_at,
     (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS member_count";

fn group_from_row(row: &AnyRow) -> StoreResult<Group> {
    Ok(Group {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        source: row.try_get("source")?,
        member_count: row.try_get("member_count")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

const TAKEN: &str = "a group with this name already exists";

impl Store {
    /// Create the empty group `name` of `source`, audited as `group.create`.
    /// [`StoreError::Conflict`] when the source has a group of that name (whatever its case).
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        source: &str,
    ) -> StoreResult<Group> {
        let id = Uuid::new_v4();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO user_groups (id, name, source, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(source)
        .bind(now_ts())
        .execute(&mut *tx)
        .await
        .map_err(unique_violation(TAKEN))?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "group.create",
                target: Some(format!("group:{id}")),
                outcome: "success",
                details: json!({"name": name, "source": source}),
            },
        )
        .await?;
        let group = group_row(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(group)
    }

    /// Groups, newest first.
    pub async fn list_groups(&self, page: &PageRequest) -> StoreResult<Page<Group>> {
        self.list_newest("user_groups g", COLUMNS, page, group_from_row, |g| Cursor {
            created_at: ts(g.created_at),
            id: g.id.to_string(),
        })
        .await
    }

    /// Group `id` with its members by username, if it exists.
    pub async fn get_group(&self, id: Uuid) -> StoreResult<Option<GroupDetail>> {
        let mut conn = self.pool.acquire().await?;
        let Some(group) = group_row(&mut conn, id).await? else {
            return Ok(None);
        };
        let members = members_of(&mut conn, id).await?;
        Ok(Some(GroupDetail { group, members }))
    }

    /// Rename group `id` and/or set its members, audited as `group.update` (the details name
    /// the users added and removed). [`StoreError::NotFound`] when there is no such group;
    /// [`StoreError::Conflict`] for a name taken in its source, or for members of a group a
    /// sign-in provider manages.
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: GroupPatch,
    ) -> StoreResult<GroupDetail> {
        let mut tx = self.write_tx().await?;
        let before = group_row(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        if let Some(name) = &patch.name {
            sqlx::query("UPDATE user_groups SET name = $2 WHERE id = $1")
                .bind(id.to_string())
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(unique_violation(TAKEN))?;
        }
        let old = members_of(&mut tx, id).await?;
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        if let Some(members) = &patch.members {
            if before.source != LOCAL {
                return Err(StoreError::Conflict(format!(
                    "the members of group {:?} are managed by {}; they change when its users \
                     sign in",
                    before.name, before.source
                )));
            }
            removed = old
                .iter()
                .map(|m| m.user_id)
                .filter(|u| !members.contains(u))
                .collect();
            let mut seen = std::collections::HashSet::new();
            added = members
                .iter()
                .copied()
                .filter(|u| seen.insert(*u) && old.iter().all(|m| m.user_id != *u))
                .collect();
            for user in &removed {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            for user in &added {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(now_ts())
                .execute(&mut *tx)
                .await?;
            }
        }
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "group.update",
                target: Some(format!("group:{id}")),
                outcome: "success",
                details: json!({"name": patch.name.as_deref().unwrap_or(&before.name),
                                "renamed_from": patch.name.as_ref().map(|_| &before.name),
                                "source": before.source,
                                "members_added": added, "members_removed": removed}),
            },
        )
        .await?;
        let group = group_row(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let members = members_of(&mut tx, id).await?;
        tx.commit().await?;
        Ok(GroupDetail { group, members })
    }

    /// Delete group `id` with its memberships and grants, audited as `group.delete` (the
    /// details count the grants that went with it). [`StoreError::NotFound`] when there is none.
    pub async fn delete_group(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grants WHERE group_id = $1")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM user_groups WHERE id = $1 RETURNING name",
                id,
                column: "name",
            },
            "group.delete",
            json!({"grants_deleted": grants}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn group_row(conn: &mut sqlx::AnyConnection, id: Uuid) -> StoreResult<Option<Group>> {
    sqlx::query(sql(format!(
        "SELECT {COLUMNS} FROM user_groups g WHERE g.id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(group_from_row)
    .transpose()
}

async fn members_of(conn: &mut sqlx::AnyConnection, id: Uuid) -> StoreResult<Vec<GroupMember>> {
    let rows = sqlx::query(
        "SELECT u.id, u.username FROM group_members m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = $1 ORDER BY lower(u.username)",
    )
    .bind(id.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(GroupMember {
                user_id: parse_uuid(row.try_get("id")?)?,
                username: row.try_get("username")?,
            })
        })
        .collect()
}
