//! Schedules (see migrations `0011_schedules`): cron expressions that create ordinary tasks.
//!
//! A firing is claimed by a compare-and-swap on `next_run_at` ([`Store::fire_schedule`]) in the
//! same transaction that creates its task, so however many processes share the database, each
//! firing creates one task, and a process that dies mid-way leaves either both or neither.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::audit::{Deletion, delete_audited, insert as audit};
use super::tasks::insert_task;
use super::{
    Actor, Cursor, NewAudit, NewTask, Page, PageRequest, Store, StoreError, StoreResult,
    TaskStatus, now_ts, parse_opt_ts, parse_ts, parse_uuid, parse_word, sql, ts, unique_violation,
};

crate::words! {
    /// What a schedule's firing does: the kind of the task it creates.
    pub enum ScheduleKind {
        /// Run `command` on every selected platform.
        RunCommand => "run_command",
        /// Scan every selected platform's authorized_keys.
        Scan => "scan",
        /// Converge every selected platform on its assignments (and record a scan of it).
        Sync => "sync",
    }
}

impl ScheduleKind {
    /// The kind of the task a firing creates.
    pub fn task_kind(self) -> super::TaskKind {
        match self {
            ScheduleKind::RunCommand => super::TaskKind::RunCommand,
            ScheduleKind::Scan => super::TaskKind::Scan,
            ScheduleKind::Sync => super::TaskKind::Sync,
        }
    }
}

/// A schedule as `GET /api/schedules/{id}` returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: Uuid,
    pub name: String,
    /// Five fields: minute, hour, day of month, month, day of week (`0 3 * * *`).
    pub cron: String,
    /// IANA time zone the cron expression is read in (`UTC`, `Europe/Berlin`).
    pub time_zone: String,
    pub kind: ScheduleKind,
    /// Which platforms each firing targets, resolved at the firing.
    pub selector: String,
    /// For `run_command`.
    pub command: Option<String>,
    /// For `run_command`: seconds.
    pub timeout_s: Option<u32>,
    /// Targets in flight at once in each task.
    pub concurrency: u32,
    pub enabled: bool,
    /// Kept by testum itself (`daily-sync`, from `TESTUM_DAILY_SYNC_CRON`).
    pub builtin: bool,
    /// The next firing; `null` while disabled.
    pub next_run_at: Option<DateTime<Utc>>,
    /// The latest firing.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The task of the latest firing that created one (a firing that created none, see
    /// `last_error`, leaves it); `null` before the first.
    pub last_task_id: Option<Uuid>,
    /// The status of that task.
    pub last_result: Option<TaskStatus>,
    /// Why the latest firing created no task; `null` when it did.
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated schedule to create, or what an update makes of one (every field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub kind: ScheduleKind,
    pub selector: String,
    pub command: Option<String>,
    pub timeout_s: Option<u32>,
    pub concurrency: u32,
    pub enabled: bool,
    /// The next firing (computed by the caller from the cron expression); `None` when disabled.
    pub next_run_at: Option<DateTime<Utc>>,
}

/// What a due schedule's firing does, decided before it is claimed.
#[derive(Debug)]
pub enum Firing {
    /// Create this task.
    Task(NewTask),
    /// Create no task, for this reason (a selector that matches nothing, ...).
    Failed(String),
}

/// What [`Store::fire_schedule`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Another process claimed this firing first (or the schedule changed meanwhile).
    Lost,
    /// Claimed; the task created, or the error recorded.
    Claimed(Result<Uuid, String>),
}

const COLUMNS: &str = "id, name, cron, time_zone, kind, selector, command, timeout_s, \
                       concurrency, enabled, builtin, next_run_at, last_run_at, last_task_id, \
                       last_error, created_by, created_at, updated_at, \
                       (SELECT t.status FROM tasks t WHERE t.id = schedules.last_task_id) \
                           AS last_result";

const NAME_TAKEN: &str = "a schedule with this name already exists";

fn schedule_from_row(row: &AnyRow) -> StoreResult<Schedule> {
    Ok(Schedule {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        cron: row.try_get("cron")?,
        time_zone: row.try_get("time_zone")?,
        kind: parse_word("schedules.kind", row.try_get("kind")?)?,
        selector: row.try_get("selector")?,
        command: row.try_get("command")?,
        timeout_s: row
            .try_get::<Option<i64>, _>("timeout_s")?
            .map(|t| t as u32),
        concurrency: row.try_get::<i64, _>("concurrency")? as u32,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        builtin: row.try_get::<i64, _>("builtin")? != 0,
        next_run_at: parse_opt_ts(row.try_get("next_run_at")?)?,
        last_run_at: parse_opt_ts(row.try_get("last_run_at")?)?,
        last_task_id: row
            .try_get::<Option<String>, _>("last_task_id")?
            .as_deref()
            .map(parse_uuid)
            .transpose()?,
        last_result: row
            .try_get::<Option<String>, _>("last_result")?
            .map(|status| {
                serde_json::from_value(json!(status))
                    .map_err(|_| StoreError::Corrupt(format!("task status {status:?}")))
            })
            .transpose()?,
        last_error: row.try_get("last_error")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

/// The audit details of a schedule: what it does, never more than its fields.
fn details(new: &NewSchedule) -> serde_json::Value {
    json!({
        "name": new.name, "cron": new.cron, "time_zone": new.time_zone, "kind": new.kind,
        "selector": new.selector, "command": new.command, "timeout_s": new.timeout_s,
        "concurrency": new.concurrency, "enabled": new.enabled,
    })
}

impl Store {
    /// Create a schedule (`builtin` only for testum's own). [`StoreError::Conflict`] when the
    /// name is taken.
    pub async fn create_schedule(
        &self,
        actor: &Actor,
        new: &NewSchedule,
        builtin: bool,
    ) -> StoreResult<Schedule> {
        let id = Uuid::new_v4();
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "INSERT INTO schedules (id, name, cron, time_zone, kind, selector, command, timeout_s,
                 concurrency, enabled, builtin, next_run_at, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
             RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(&new.name)
        .bind(&new.cron)
        .bind(&new.time_zone)
        .bind(new.kind.as_str())
        .bind(&new.selector)
        .bind(&new.command)
        .bind(new.timeout_s.map(i64::from))
        .bind(i64::from(new.concurrency))
        .bind(i64::from(new.enabled))
        .bind(i64::from(builtin))
        .bind(new.next_run_at.map(ts))
        .bind(&actor.name)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation(NAME_TAKEN))?;
        let schedule = schedule_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "schedule.create",
                target: Some(format!("schedule:{id}")),
                outcome: "success",
                details: details(new),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(schedule)
    }

    /// The schedule with `id`, if any.
    pub async fn get_schedule(&self, id: Uuid) -> StoreResult<Option<Schedule>> {
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM schedules WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// The schedule named `name`, if any.
    pub async fn schedule_by_name(&self, name: &str) -> StoreResult<Option<Schedule>> {
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM schedules WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Schedules, newest first.
    pub async fn list_schedules(&self, page: &PageRequest) -> StoreResult<Page<Schedule>> {
        self.list_newest(
            "schedules",
            COLUMNS,
            page,
            schedule_from_row,
            |s: &Schedule| Cursor {
                created_at: ts(s.created_at),
                id: s.id.to_string(),
            },
        )
        .await
    }

    /// Replace every field of schedule `id` with `new` (the caller merged a patch and validated
    /// the whole). [`StoreError::NotFound`], or [`StoreError::Conflict`] for a taken name.
    pub async fn update_schedule(
        &self,
        actor: &Actor,
        id: Uuid,
        new: &NewSchedule,
    ) -> StoreResult<Schedule> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "UPDATE schedules SET name = $2, cron = $3, time_zone = $4, kind = $5, selector = $6,
                 command = $7, timeout_s = $8, concurrency = $9, enabled = $10, next_run_at = $11,
                 updated_at = $12
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(&new.name)
        .bind(&new.cron)
        .bind(&new.time_zone)
        .bind(new.kind.as_str())
        .bind(&new.selector)
        .bind(&new.command)
        .bind(new.timeout_s.map(i64::from))
        .bind(i64::from(new.concurrency))
        .bind(i64::from(new.enabled))
        .bind(new.next_run_at.map(ts))
        .bind(now_ts())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unique_violation(NAME_TAKEN))?
        .ok_or(StoreError::NotFound)?;
        let schedule = schedule_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "schedule.update",
                target: Some(format!("schedule:{id}")),
                outcome: "success",
                details: details(new),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(schedule)
    }

    /// Delete schedule `id` (its tasks stay). [`StoreError::NotFound`] when there is none.
    pub async fn delete_schedule(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM schedules WHERE id = $1 RETURNING name",
                id,
                column: "name",
            },
            "schedule.delete",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` enabled schedules whose next firing is at or before `now`, earliest first.
    pub async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Schedule>> {
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM schedules
             WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= $1
             ORDER BY next_run_at, id LIMIT $2"
        )))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Fire schedule `id`, whose next firing was read as `due`: in one transaction, move
    /// `next_run_at` from `due` to `next` (compare-and-swap: only one caller wins a firing),
    /// then create the firing's task (as `schedule:<name>`) or record its error, with
    /// `last_run_at = at`. [`Fired::Lost`] when another caller won (or the schedule changed).
    pub async fn fire_schedule(
        &self,
        schedule: &Schedule,
        due: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        firing: Firing,
    ) -> StoreResult<Fired> {
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "UPDATE schedules SET next_run_at = $3
             WHERE id = $1 AND next_run_at = $2 AND enabled = 1",
        )
        .bind(schedule.id.to_string())
        .bind(ts(due))
        .bind(next.map(ts))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(Fired::Lost);
        }
        let actor = Actor {
            user_id: None,
            name: format!("schedule:{}", schedule.name),
        };
        let outcome = match firing {
            Firing::Task(task) => Ok(insert_task(&mut tx, self.chain_key(), &actor, task).await?),
            Firing::Failed(error) => Err(error),
        };
        let (task_id, error) = match &outcome {
            Ok(id) => (Some(id.to_string()), None),
            Err(e) => (None, Some(e.clone())),
        };
        sqlx::query(
            // A firing without a task keeps the last task it did create: the next firing checks
            // that task before starting another beside it.
            "UPDATE schedules SET last_run_at = $2, last_task_id = COALESCE($3, last_task_id),
                 last_error = $4
             WHERE id = $1",
        )
        .bind(schedule.id.to_string())
        .bind(ts(at))
        .bind(task_id)
        .bind(&error)
        .execute(&mut *tx)
        .await?;
        if let Some(error) = &error {
            audit(
                &mut tx,
                self.chain_key(),
                NewAudit {
                    actor: &actor,
                    action: "schedule.fire",
                    target: Some(format!("schedule:{}", schedule.id)),
                    outcome: "failure",
                    details: json!({"name": schedule.name, "error": error}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Fired::Claimed(outcome))
    }

    /// Create or update testum's own schedule `new.name` (`builtin`): its cron expression, time
    /// zone and enabled state follow `new`, the rest is kept. A schedule of that name that a
    /// user made is left alone (`false`).
    pub async fn upsert_builtin_schedule(&self, new: &NewSchedule) -> StoreResult<bool> {
        let existing = self.schedule_by_name(&new.name).await?;
        match existing {
            None => match self.create_schedule(&Actor::system(), new, true).await {
                Ok(_) => Ok(true),
                // Another process starting at the same time created it.
                Err(StoreError::Conflict(_)) => Ok(true),
                Err(e) => Err(e),
            },
            Some(schedule) if !schedule.builtin => Ok(false),
            Some(schedule) => {
                let unchanged = schedule.cron == new.cron
                    && schedule.time_zone == new.time_zone
                    && schedule.enabled == new.enabled;
                if !unchanged {
                    let merged = NewSchedule {
                        name: schedule.name.clone(),
                        cron: new.cron.clone(),
                        time_zone: new.time_zone.clone(),
                        kind: schedule.kind,
                        selector: schedule.selector.clone(),
                        command: schedule.command.clone(),
                        timeout_s: schedule.timeout_s,
                        concurrency: schedule.concurrency,
                        enabled: new.enabled,
                        next_run_at: new.next_run_at,
                    };
                    self.update_schedule(&Actor::system(), schedule.id, &merged)
                        .await?;
                }
                Ok(true)
            }
        }
    }
}
