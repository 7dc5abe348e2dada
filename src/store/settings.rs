//! Installation-wide settings stored by name (see migrations `0003_settings`).

use super::{Store, StoreResult};

impl Store {
    /// The value stored under `name`, if any.
    pub async fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Store `value` under `name` unless a value is there already (a concurrent first writer
    /// wins); returns the value in force afterwards.
    pub async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt(format!("setting {name} vanished")))
    }
}
