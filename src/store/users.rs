//! Users: the accounts that log in to testum.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::role::Role;

use super::{Store, StoreError, StoreResult, now_ts, parse_ts, parse_uuid};

/// A user account. The password hash stays inside the store's callers that verify logins.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// PHC string of the Argon2id hash.
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Number of users (0 on a fresh database).
    pub async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Create a user with an already hashed password.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ts())
        .execute(&self.pool)
        .await
        .map_err(super::unique_violation("username already exists"))?;
        Ok(id)
    }

    /// The user named `username`, if any.
    pub async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, role, disabled, created_at
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(User {
                id: parse_uuid(row.try_get("id")?)?,
                username: row.try_get("username")?,
                password_hash: row.try_get("password_hash")?,
                role: row
                    .try_get::<String, _>("role")?
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("user role: {e}")))?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                created_at: parse_ts(row.try_get("created_at")?)?,
            })
        })
        .transpose()
    }
}
