//! API tokens: long-lived bearer secrets for scripts and CI, each with a role no higher than its
//! owner's. Stored as SHA-256 hashes only ([`crate::opaque_token`]); a token of a disabled user
//! is refused, and deleting a user deletes its tokens.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::role::Role;

use super::audit::insert as audit;
use super::sessions::SignedIn;
use super::users::parse_role;
use super::{
    Actor, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts, page_of,
    parse_opt_ts, parse_ts, parse_uuid, sql, ts,
};

/// An API token as listed: never the secret or its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The most this token may do (the owner's current role caps it further).
    pub role: Role,
    /// The owner.
    pub user_id: Uuid,
    pub username: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use, to the minute (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A validated token to store.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    pub role: Role,
    pub user_id: Uuid,
    /// [`crate::opaque_token::hash`] of the secret handed to the client.
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "t.id, t.name, t.role, t.user_id, u.username, t.created_at, t.expires_at, \
                       t.last_used_at, t.revoked_at";

/// How stale `last_used_at` may get before a use writes it again.
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

fn token_from_row(row: &AnyRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        role: parse_role(row.try_get("role")?)?,
        user_id: parse_uuid(row.try_get("user_id")?)?,
        username: row.try_get("username")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        expires_at: parse_opt_ts(row.try_get("expires_at")?)?,
        last_used_at: parse_opt_ts(row.try_get("last_used_at")?)?,
        revoked_at: parse_opt_ts(row.try_get("revoked_at")?)?,
    })
}

impl Store {
    /// Store a new token, audited as `token.create` by `actor`.
    pub async fn create_api_token(&self, actor: &Actor, new: NewApiToken) -> StoreResult<ApiToken> {
        let id = Uuid::new_v4();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, user_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(new.user_id.to_string())
        .bind(&new.token_hash)
        .bind(now_ts())
        .bind(new.expires_at.map(ts))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1"
        )))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let token = token_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "token.create",
                target: Some(format!("token:{id}")),
                outcome: "success",
                details: json!({"name": token.name, "role": token.role,
                                "expires_at": token.expires_at}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Tokens newest first: those of `owner`, or everyone's when `owner` is `None`.
    pub async fn list_api_tokens(
        &self,
        owner: Option<Uuid>,
        page: &PageRequest,
    ) -> StoreResult<Page<ApiToken>> {
        let (after_ts, after_id) = super::audit::cursor_parts(page.cursor.as_ref());
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE ($1 IS NULL OR t.user_id = $1)
               AND ($2 IS NULL OR t.created_at < $2 OR (t.created_at = $2 AND t.id < $3))
             ORDER BY t.created_at DESC, t.id DESC LIMIT $4"
        )))
        .bind(owner.map(|id| id.to_string()))
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(token_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(page_of(items, page.limit, |t: &ApiToken| Cursor {
            created_at: ts(t.created_at),
            id: t.id.to_string(),
        }))
    }

    /// Revoke token `id` (of `owner` only, unless `owner` is `None`), audited as `token.revoke`.
    /// Revoking a revoked token changes nothing and succeeds. [`StoreError::NotFound`] when no
    /// such token is visible.
    pub async fn revoke_api_token(
        &self,
        actor: &Actor,
        id: Uuid,
        owner: Option<Uuid>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3)
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) RETURNING name",
        )
        .bind(id.to_string())
        .bind(owner.map(|id| id.to_string()))
        .bind(now_ts())
        .fetch_optional(&mut *tx)
        .await?;
        let name = name.ok_or(StoreError::NotFound)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "token.revoke",
                target: Some(format!("token:{id}")),
                outcome: "success",
                details: json!({"name": name}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a presented API token stands for, with the token's role (which caps the user's
    /// current roles); `None` when the token is unknown, revoked or expired, or its user disabled.
    /// One indexed read; `last_used_at` is written only when it is a minute old or more.
    pub async fn api_token_user(&self, token_hash: &str) -> StoreResult<Option<SignedIn>> {
        let now = Utc::now();
        let row = sqlx::query(
            "SELECT t.id, t.role AS token_role, t.last_used_at, u.id AS user_id, u.username,
                    u.role
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut user = super::sessions::signed_in(&row)?;
        user.token_role = Some(parse_role(row.try_get("token_role")?)?);
        let last_used = parse_opt_ts(row.try_get("last_used_at")?)?;
        if last_used.is_none_or(|at| now - at >= LAST_USED_GRANULARITY) {
            let id: String = row.try_get("id")?;
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(user))
    }
}
