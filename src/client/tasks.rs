//! `testum deploy` and `testum run`: queue a task over platforms chosen by name or tag
//! (`POST /api/tasks`), then follow it ([`super::follow`]). Both return whether every target
//! succeeded.

use clap::{ArgGroup, Args};
use serde::Deserialize;
use serde_json::json;

use super::Connection;
use super::api::Api;
use super::follow::{Output, follow, print_summaries};
use super::inventory::{key_ids, platform_ids};
use crate::ssh::shell_quote;

/// `testum deploy` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").required(true).multiple(true).args(["platform", "tag"])))]
pub struct DeployArgs {
    #[command(flatten)]
    connection: Connection,
    /// A platform by name (repeat for several).
    #[arg(long)]
    platform: Vec<String>,
    /// Every platform with this tag (repeat for several).
    #[arg(long)]
    tag: Vec<String>,
    /// Keys by name (repeat the flag or list several after it).
    #[arg(long, required = true, num_args = 1..)]
    key: Vec<String>,
}

/// `testum run` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").required(true).multiple(true).args(["platform", "tag"])))]
pub struct RunArgs {
    #[command(flatten)]
    connection: Connection,
    /// A platform by name (repeat for several).
    #[arg(long)]
    platform: Vec<String>,
    /// Every platform with this tag (repeat for several).
    #[arg(long)]
    tag: Vec<String>,
    /// Seconds the command may run on each platform before it is ended (TERM, then KILL).
    /// Default: the server's (600).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    timeout: Option<u32>,
    /// The command, after `--`. One argument is a shell command line run as is (`'df -h | tail
    /// -1'`); several are quoted one by one, like an argv (`sh -c 'echo hi'`).
    #[arg(last = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

/// The answer of `POST /api/tasks`.
#[derive(Deserialize)]
pub struct Accepted {
    pub task_id: String,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    let platform_ids = platform_ids(&mut api, &args.platform, &args.tag).await?;
    let key_ids = key_ids(&mut api, &args.key).await?;
    let body = json!({"kind": "deploy_keys", "platform_ids": platform_ids, "key_ids": key_ids});
    queue_and_follow(&mut api, &body).await
}

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    let platform_ids = platform_ids(&mut api, &args.platform, &args.tag).await?;
    let mut body = json!({
        "kind": "run_command", "platform_ids": platform_ids, "command": command_line(&args.command),
    });
    if let Some(timeout) = args.timeout {
        body["timeout_s"] = json!(timeout);
    }
    queue_and_follow(&mut api, &body).await
}

async fn queue_and_follow(api: &mut Api, body: &serde_json::Value) -> anyhow::Result<bool> {
    let accepted: Accepted = api.post("/api/tasks", body).await?;
    let task = follow(api, &accepted.task_id, Output::Print).await?;
    print_summaries(&task);
    Ok(task.succeeded())
}

/// The remote command line for `words`: one word as is, several shell-quoted and joined (so
/// `-- sh -c 'echo hi; echo err >&2'` runs exactly that argv, unlike ssh's plain join).
fn command_line(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        many => many
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::command_line;

    #[test]
    fn one_word_is_a_shell_line_several_are_an_argv() {
        assert_eq!(command_line(&["df -h | tail -1".into()]), "df -h | tail -1");
        assert_eq!(
            command_line(&["sh".into(), "-c".into(), "echo 'hi'; echo err >&2".into()]),
            r#"'sh' '-c' 'echo '\''hi'\''; echo err >&2'"#
        );
    }
}
