//! The command line: `testum serve` and `testum worker` (the service), the admin commands that
//! work on the database directly (`audit verify`, `rotate-master-key`, `backup`, `restore`,
//! `doctor`), and the client commands of [`crate::client`] (`login`, `keys`, `platforms`,
//! `deploy`, `run`, `scan`, `access`, `tasks`, ..., and `audit list`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ServeConfig, WorkerCommandConfig};

/// testum: SSH keys into authorized_keys and commands across a fleet, audited.
#[derive(Debug, Parser)]
#[command(name = "testum", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: HTTP API, WebSocket streams and in-process workers.
    Serve(ServeConfig),
    /// Run a worker only (no HTTP): claims and runs targets from the shared PostgreSQL queue.
    Worker(WorkerCommandConfig),
    /// The audit log: `testum audit list` reads it from a server's API (like the other client
    /// commands); `testum audit verify` checks its chain in the database, with no server.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Re-seal every stored credential under a new master key, in one transaction (stop the
    /// servers first, restart them after).
    RotateMasterKey(crate::admin::rotate_key::RotateMasterKey),
    /// Back up while the service runs: `testum backup --to FILE` writes the database snapshot
    /// (SQLite), the local task logs and a manifest of checksums; `testum backup verify FILE`
    /// checks an archive.
    Backup(crate::backup::BackupCommand),
    /// Restore a `testum backup` archive into an empty data dir (or beside a PostgreSQL database
    /// restored from its pg_dump).
    Restore(crate::backup::RestoreCommand),
    /// Check an installation with the settings `serve` would use (configuration, database and
    /// schema version, master key, object store, free disk, clock skew): one line per check,
    /// exit status 0 when all pass, 1 otherwise.
    Doctor(crate::doctor::Doctor),
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

/// `testum audit ...`: the local admin command (`verify`) and the API's listing (`list`).
#[derive(Debug, Subcommand)]
enum AuditCommand {
    #[command(flatten)]
    Local(crate::admin::audit_verify::AuditCommand),
    /// List audit events from the server's API, newest first, a page at a time; filter by
    /// actor, action, target (or a platform, key or task), and time (`--since 24h`).
    List(Box<crate::client::AuditListArgs>),
}

/// Parse the command line, run the command, and turn a failure into a one-line message on stderr
/// and exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("testum: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(mut config) => config.settings.read_files().and_then(|()| {
            config.oidc = crate::oidc::OidcSettings::from_vars(std::env::vars())
                .map_err(anyhow::Error::msg)?;
            runtime.block_on(crate::server::serve(config))
        }),
        Command::Worker(mut config) => config
            .settings
            .read_files()
            .and_then(|()| runtime.block_on(crate::server::work(config))),
        Command::Audit(AuditCommand::Local(command)) => runtime.block_on(command.run()),
        Command::Audit(AuditCommand::List(args)) => {
            die_quietly_on_a_closed_pipe();
            return runtime.block_on(crate::client::audit_list(*args));
        }
        Command::RotateMasterKey(command) => runtime.block_on(command.run()),
        Command::Backup(command) => runtime.block_on(command.run()),
        Command::Restore(command) => runtime.block_on(command.run()),
        Command::Doctor(command) => runtime.block_on(command.run()),
        Command::Client(command) => {
            die_quietly_on_a_closed_pipe();
            return runtime.block_on(crate::client::run(command));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testum: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Let a client command end silently when its reader goes away (`testum platforms list | head`),
/// as other Unix tools do: Rust ignores SIGPIPE, so a `println!` to a closed pipe would panic
/// with a backtrace. A SIGPIPE now runs its default action (the process ends by that signal).
/// Only for the client: `serve` and `worker` keep SIGPIPE ignored and see `EPIPE` as an error on
/// the one connection concerned.
fn die_quietly_on_a_closed_pipe() {
    let always = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    if let Err(e) =
        signal_hook::flag::register_conditional_default(signal_hook::consts::SIGPIPE, always)
    {
        tracing::debug!(error = %e, "SIGPIPE keeps Rust's default (ignored)");
    }
}

/// `error` and its causes as one line, joined with `: ` like `{:#}`, but leaving out a cause
/// whose text the line already holds (many errors repeat their source in their own message, e.g.
/// `object_store`'s and `std::io`'s wrappers) and with line breaks turned into spaces.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own checks of every subcommand (ids named by `requires`/`conflicts_with`, flags
    /// named twice, ...), which otherwise fail only when the command is run.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn port_zero_is_refused_before_anything_is_sent() {
        use clap::Parser as _;
        let args = [
            "testum",
            "platforms",
            "add",
            "--name",
            "web1",
            "--host",
            "h",
            "--port",
            "0",
            "--username",
            "u",
        ];
        let err = super::Cli::try_parse_from(args).unwrap_err();
        assert!(err.to_string().contains("--port"), "{err}");
    }
}
