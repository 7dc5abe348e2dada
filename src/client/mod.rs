//! The command-line client: `testum login`, `keys`, `platforms`, `deploy`, `revoke`, `run`,
//! `scan`, `access`, `schedules`, `tasks`, `host-key` and `audit list` talk to a testum server
//! over its HTTP API and WebSocket streams (reqwest and tokio-tungstenite, rustls). Keys and
//! platforms are named by name, unique prefix or (keys) fingerprint ([`resolve`]); list commands
//! print a table or, with `--output json`, the server's objects ([`output`]).
//!
//! Exit status: 0 on success (for a command that follows a task, `deploy`, `revoke`, `run`,
//! `scan` and `keys replace`: every target succeeded), 1 on any failure
//! (a target failed, the server refused, the network failed), 2 on a usage error (clap's own, or
//! a key or platform name that resolves to nothing or to several). Errors are one line on stderr; for a refused request it names
//! the fields of the server's problem+json answer.

mod access;
pub(crate) mod api;
mod audit;
mod follow;
mod host_key;
mod import;
mod inventory;
mod login;
mod output;
mod resolve;
mod scan;
mod schedules;
mod session;
mod task_info;
mod tasks;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::secret::Secret;

pub use audit::AuditListArgs;
pub use session::Session;

/// Client subcommands (flattened into `testum`'s own).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in to a testum server and save the session (0600) under $XDG_CONFIG_HOME/testum/
    /// (default ~/.config/testum/). The password comes from TESTUM_PASSWORD or a prompt.
    Login(login::LoginArgs),
    /// List, register, import, replace (rotate) and delete SSH public keys.
    Keys(inventory::KeysArgs),
    /// List, register, import, edit and delete platforms (hosts).
    Platforms(inventory::PlatformsArgs),
    /// Deploy keys to platforms (by name or tag) and follow the task; `--option` sets sshd's
    /// authorized_keys options, `--dry-run` only shows the diffs.
    Deploy(tasks::DeployArgs),
    /// Revoke keys from platforms, or every key of an owner (offboarding), and follow the task.
    Revoke(tasks::RevokeArgs),
    /// Run a command on platforms, print its output prefixed `name | `, and exit 0 only if it
    /// succeeded everywhere.
    Run(tasks::RunArgs),
    /// Scan platforms' authorized_keys (by name or tag; nothing is changed), then print the
    /// counts by state and each platform that is not in_sync. Exit 0 only if every scan ran.
    Scan(scan::ScanArgs),
    /// Schedules: cron expressions that create tasks (list, show, create, update, enable,
    /// disable, delete).
    Schedules(schedules::SchedulesArgs),
    /// Who can log in where: every key line of the platforms' latest scans (all pages), as a
    /// table or, with --csv, the server's CSV.
    Access(access::AccessArgs),
    /// Tasks: list them (a page at a time), show one (counts by status, then the targets that
    /// did not simply succeed), print its output, cancel one.
    Tasks(task_info::TasksArgs),
    /// Host keys: `trust` a platform's new host key after a legitimate change.
    HostKey(host_key::HostKeyArgs),
}

/// Where the server is and who calls it (every client command but `login` takes these).
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Server URL, e.g. `https://testum.example.com`. Default: the saved session's.
    #[arg(long, env = "TESTUM_URL", global = true)]
    pub url: Option<String>,

    /// API token (`tsm_...`) to use instead of the saved session. Prefer the environment
    /// variable (flags show in `ps`).
    #[arg(long, env = "TESTUM_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<Secret>,
}

/// A mistake in how the command was called (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Run a client command; its exit status.
pub async fn run(command: ClientCommand) -> ExitCode {
    exit_status(match command {
        ClientCommand::Login(args) => login::login(args).await.map(|()| true),
        ClientCommand::Keys(args) => inventory::keys(args).await,
        ClientCommand::Platforms(args) => inventory::platforms(args).await,
        ClientCommand::Deploy(args) => tasks::deploy(args).await,
        ClientCommand::Revoke(args) => tasks::revoke(args).await,
        ClientCommand::Run(args) => tasks::run(args).await,
        ClientCommand::Scan(args) => scan::scan(args).await,
        ClientCommand::Access(args) => access::access(args).await.map(|()| true),
        ClientCommand::Schedules(args) => schedules::schedules(args).await.map(|()| true),
        ClientCommand::Tasks(args) => task_info::tasks(args).await.map(|()| true),
        ClientCommand::HostKey(args) => host_key::host_key(args).await.map(|()| true),
    })
}

/// `testum audit list` (joined to the local `testum audit verify` by `crate::cli`); its exit
/// status.
pub async fn audit_list(args: AuditListArgs) -> ExitCode {
    exit_status(audit::list(args).await.map(|()| true))
}

/// 0 for `Ok(true)`, 1 for `Ok(false)` or an error, 2 for a [`UsageError`]; an error is one
/// line on stderr.
fn exit_status(result: anyhow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("testum: {e:#}");
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
