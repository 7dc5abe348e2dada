//! `testum schedules`: list, show, create, update, enable, disable and delete schedules (cron
//! expressions that create tasks). A schedule is named by its name (or id).

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::api::Api;
use super::output::{OutputArg, print_items, print_json};
use super::{Connection, UsageError};

/// `testum schedules` arguments.
#[derive(Debug, Args)]
pub struct SchedulesArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: SchedulesCommand,
}

#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    /// List schedules: name, cron, kind, selector, next firing, last result.
    List(OutputArg),
    /// Show one schedule (by name or id) as JSON.
    Show {
        /// Name or id.
        schedule: String,
    },
    /// Create a schedule.
    Create(Fields),
    /// Change some fields of a schedule (by name or id).
    Update {
        /// Name or id.
        schedule: String,
        #[command(flatten)]
        fields: UpdateFields,
    },
    /// Enable a schedule: it fires again from its next firing after now.
    Enable {
        /// Name or id.
        schedule: String,
    },
    /// Disable a schedule: it fires no more until enabled.
    Disable {
        /// Name or id.
        schedule: String,
    },
    /// Delete a schedule (the tasks it created stay).
    Delete {
        /// Name or id.
        schedule: String,
    },
}

/// `testum schedules create` fields.
#[derive(Debug, Args)]
struct Fields {
    /// Unique name.
    #[arg(long)]
    name: String,
    /// Five fields: minute hour day-of-month month day-of-week, e.g. `0 3 * * *`.
    #[arg(long)]
    cron: String,
    /// IANA time zone the expression is read in (default UTC).
    #[arg(long)]
    time_zone: Option<String>,
    /// run_command, scan or sync.
    #[arg(long)]
    kind: String,
    /// Which platforms each firing targets (`all`: every platform).
    #[arg(long)]
    selector: String,
    /// For run_command: the command.
    #[arg(long)]
    command: Option<String>,
    /// For run_command: timeout in seconds.
    #[arg(long)]
    timeout_s: Option<u32>,
    /// Targets in flight at once (default 50).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Create it disabled.
    #[arg(long)]
    disabled: bool,
}

/// `testum schedules update` fields: only those given change.
#[derive(Debug, Args)]
struct UpdateFields {
    /// New name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    cron: Option<String>,
    #[arg(long)]
    time_zone: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    selector: Option<String>,
    #[arg(long)]
    command: Option<String>,
    #[arg(long)]
    timeout_s: Option<u32>,
    #[arg(long)]
    concurrency: Option<u32>,
}

/// A schedule as the API returns it (the fields the CLI shows).
#[derive(Debug, Deserialize)]
struct Schedule {
    id: String,
    name: String,
    cron: String,
    time_zone: String,
    kind: String,
    selector: String,
    enabled: bool,
    next_run_at: Option<String>,
    last_task_id: Option<String>,
    last_result: Option<String>,
    last_error: Option<String>,
}

/// `testum schedules ...`.
pub async fn schedules(args: SchedulesArgs) -> anyhow::Result<()> {
    let mut api = Api::open(&args.connection)?;
    match args.command {
        SchedulesCommand::List(output) => {
            let schedules: Vec<Value> = api.list_all("/api/schedules").await?;
            let header = ["NAME", "CRON", "KIND", "SELECTOR", "NEXT", "LAST"];
            print_items(output.output, schedules, &header, |s: Schedule| {
                vec![
                    s.name.clone(),
                    format!("{} ({})", s.cron, s.time_zone),
                    s.kind.clone(),
                    s.selector.clone(),
                    if s.enabled {
                        s.next_run_at.clone().unwrap_or_else(|| "never".into())
                    } else {
                        "disabled".into()
                    },
                    last(&s),
                ]
            })?;
        }
        SchedulesCommand::Show { schedule } => {
            let id = find(&mut api, &schedule).await?.id;
            let full: Value = api.get(&format!("/api/schedules/{id}")).await?;
            print_json(&full)?;
        }
        SchedulesCommand::Create(fields) => {
            let mut body = json!({
                "name": fields.name, "cron": fields.cron, "kind": fields.kind,
                "selector": fields.selector, "enabled": !fields.disabled,
            });
            for (field, value) in [
                ("time_zone", fields.time_zone.map(Value::from)),
                ("command", fields.command.map(Value::from)),
                ("timeout_s", fields.timeout_s.map(Value::from)),
                ("concurrency", fields.concurrency.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[field] = value;
                }
            }
            let created: Schedule = api.post("/api/schedules", &body).await?;
            say("created", &created);
        }
        SchedulesCommand::Update { schedule, fields } => {
            let id = find(&mut api, &schedule).await?.id;
            let mut body = Map::new();
            for (field, value) in [
                ("name", fields.name.map(Value::from)),
                ("cron", fields.cron.map(Value::from)),
                ("time_zone", fields.time_zone.map(Value::from)),
                ("kind", fields.kind.map(Value::from)),
                ("selector", fields.selector.map(Value::from)),
                ("command", fields.command.map(Value::from)),
                ("timeout_s", fields.timeout_s.map(Value::from)),
                ("concurrency", fields.concurrency.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body.insert(field.into(), value);
                }
            }
            if body.is_empty() {
                return Err(UsageError("give at least one field to change".into()).into());
            }
            let updated: Schedule = api.patch(&format!("/api/schedules/{id}"), &body).await?;
            say("updated", &updated);
        }
        SchedulesCommand::Enable { schedule } => set_enabled(&mut api, &schedule, true).await?,
        SchedulesCommand::Disable { schedule } => set_enabled(&mut api, &schedule, false).await?,
        SchedulesCommand::Delete { schedule } => {
            let found = find(&mut api, &schedule).await?;
            api.delete(&format!("/api/schedules/{}", found.id)).await?;
            println!("deleted schedule {}", found.name);
        }
    }
    Ok(())
}

/// Enable or disable the schedule named (or with id) `schedule`.
async fn set_enabled(api: &mut Api, schedule: &str, enabled: bool) -> anyhow::Result<()> {
    let id = find(api, schedule).await?.id;
    let updated: Schedule = api
        .patch(
            &format!("/api/schedules/{id}"),
            &json!({"enabled": enabled}),
        )
        .await?;
    say(if enabled { "enabled" } else { "disabled" }, &updated);
    Ok(())
}

/// The schedule named `name` (or with that id); a usage error when there is none.
async fn find(api: &mut Api, name: &str) -> anyhow::Result<Schedule> {
    let schedules: Vec<Schedule> = api.list_all("/api/schedules").await?;
    schedules
        .into_iter()
        .find(|s| s.name == name || s.id == name)
        .ok_or_else(|| UsageError(format!("no schedule named {name:?}")).into())
}

/// `created schedule nightly (0 3 * * * UTC, sync of all); next firing 2026-...`.
fn say(what: &str, s: &Schedule) {
    println!(
        "{what} schedule {} ({} {}, {} of {}); next firing {}",
        s.name,
        s.cron,
        s.time_zone,
        s.kind,
        s.selector,
        match (&s.next_run_at, s.enabled) {
            (_, false) => "none (disabled)".to_string(),
            (Some(at), true) => at.clone(),
            (None, true) => "never".to_string(),
        }
    );
}

/// The latest firing: the task's status and id, or the error.
fn last(s: &Schedule) -> String {
    match (&s.last_task_id, &s.last_error) {
        (_, Some(error)) => format!("error: {error}"),
        (Some(task), None) => format!(
            "{} (task {task})",
            s.last_result.as_deref().unwrap_or("queued")
        ),
        (None, None) => "-".into(),
    }
}
