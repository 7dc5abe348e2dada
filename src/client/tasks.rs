//! `testum deploy`, `revoke`, `run` and `keys replace`: queue a task over platforms chosen by
//! name, tag or selector (`POST /api/tasks`, `POST /api/keys/{id}/replace`), then follow it
//! ([`super::follow`]). Each returns whether every target succeeded.

use clap::{ArgGroup, Args};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::Api;
use super::follow::{Output, follow, print_dry_run, print_summaries};
use super::inventory::{key_ids, platform_ids};
use super::resolve::Naming;
use super::{Connection, UsageError};
use crate::authorized_keys::{KeyOptions, parse_options};
use crate::selector::Selector;
use crate::shell::shell_quote;

/// The platforms of a task, by name or tag (the parent command says whether one is required, in
/// its group `platforms`).
#[derive(Debug, Args)]
#[group(skip)]
pub struct Platforms {
    /// A platform by name (repeat the flag or list several after it).
    #[arg(long, num_args = 1..)]
    platform: Vec<String>,
    /// Every platform with this tag (repeat the flag or list several after it).
    #[arg(long, num_args = 1..)]
    tag: Vec<String>,
    /// Instead of `--platform` and `--tag`: every platform this selector matches, e.g.
    /// `--selector 'tag:web and not state:in_sync'` (see the README's "Selectors"). The server
    /// resolves it and refuses one that matches nothing.
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["platform", "tag"])]
    selector: Option<String>,
}

/// `text` parsed as a selector; a syntax error is a one-line [`UsageError`] with its position.
pub fn parse_selector(text: &str) -> anyhow::Result<Selector> {
    text.parse::<Selector>()
        .map_err(|e| UsageError(format!("--selector {text:?}: {e}")).into())
}

impl Platforms {
    /// Whether no platform was named.
    fn is_empty(&self) -> bool {
        self.platform.is_empty() && self.tag.is_empty() && self.selector.is_none()
    }

    /// Put the task's platforms in `body`: `selector` (checked here first, so a typo queues
    /// nothing) or `platform_ids` ([`Platforms::ids`]).
    pub async fn add_to(&self, api: &mut Api, body: &mut Value) -> anyhow::Result<()> {
        match &self.selector {
            Some(text) => body["selector"] = json!(parse_selector(text)?.to_string()),
            None => body["platform_ids"] = json!(self.ids(api).await?),
        }
        Ok(())
    }

    /// The platforms' ids ([`platform_ids`]).
    pub async fn ids(&self, api: &mut Api) -> anyhow::Result<Vec<String>> {
        platform_ids(api, &self.platform, &self.tag, Naming::Exact).await
    }
}

/// `testum deploy` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").required(true).multiple(true).args(["platform", "tag", "selector"])))]
pub struct DeployArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    platforms: Platforms,
    /// Keys by name (repeat the flag or list several after it).
    #[arg(long, required = true, num_args = 1..)]
    key: Vec<String>,
    /// An authorized_keys option for every key of the command, in sshd's own syntax (sshd(8)
    /// "AUTHORIZED_KEYS FILE FORMAT"), one per flag: `restrict`, `no-pty`, `from="10.0.0.0/8"`,
    /// `command="/usr/bin/backup"`. Replaces the options those keys have on those platforms.
    #[arg(long = "option", value_name = "OPTION")]
    options: Vec<String>,
    /// Change nothing: show per platform the diff of authorized_keys the deploy would write.
    #[arg(long)]
    dry_run: bool,
}

/// `testum revoke` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").multiple(true).args(["platform", "tag", "selector"])))]
#[command(group(ArgGroup::new("keys").required(true).args(["key", "owner"])))]
pub struct RevokeArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    platforms: Platforms,
    /// Keys by name (repeat the flag or list several after it); needs `--platform`, `--tag` or
    /// `--selector`.
    #[arg(long, num_args = 1.., requires = "platforms")]
    key: Vec<String>,
    /// Offboarding: every key whose owner is exactly this, from every platform where one is
    /// assigned (or only those of `--platform`, `--tag` or `--selector`).
    #[arg(long)]
    owner: Option<String>,
    /// Change nothing: show per platform the diff of authorized_keys the revoke would write.
    #[arg(long)]
    dry_run: bool,
}

/// `testum run` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").required(true).multiple(true).args(["platform", "tag", "selector"])))]
pub struct RunArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    platforms: Platforms,
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
    // Checked before anything is asked of the server: a bad option queues nothing.
    let options = key_options(&args.options)?;
    let mut api = Api::open(&args.connection)?;
    let mut body = json!({"kind": "deploy_keys", "dry_run": args.dry_run});
    args.platforms.add_to(&mut api, &mut body).await?;
    let key_ids = key_ids(&mut api, "--key", &args.key, Naming::Exact).await?;
    body["key_ids"] = json!(key_ids);
    if let Some(options) = options {
        let options = serde_json::to_value(options)?;
        let by_key = key_ids.iter().map(|id| (id.clone(), options.clone()));
        body["options"] = Value::Object(by_key.collect());
    }
    queue_and_follow(&mut api, &body).await
}

/// The options of `--option` arguments (each one option in sshd's syntax), checked as the server
/// checks them; `None` without any. A bad one is a [`UsageError`] naming it.
fn key_options(arguments: &[String]) -> anyhow::Result<Option<KeyOptions>> {
    if arguments.is_empty() {
        return Ok(None);
    }
    let mut parsed = Vec::new();
    for argument in arguments {
        let bad = |why: String| UsageError(format!("--option {argument}: {why}"));
        let mut one = parse_options(argument).map_err(|e| bad(e.to_string()))?;
        if one.len() != 1 {
            return Err(bad("give exactly one option per --option".into()).into());
        }
        parsed.append(&mut one);
    }
    let options =
        KeyOptions::from_options(parsed).map_err(|e| UsageError(format!("--option: {e}")))?;
    options
        .render()
        .map_err(|e| UsageError(format!("--option {e}")))?;
    Ok(Some(options))
}

pub async fn revoke(args: RevokeArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    let mut body = json!({"kind": "revoke_keys", "dry_run": args.dry_run});
    if !args.platforms.is_empty() {
        args.platforms.add_to(&mut api, &mut body).await?;
    }
    match args.owner {
        Some(owner) => body["owner"] = json!(owner),
        None => {
            body["key_ids"] = json!(key_ids(&mut api, "--key", &args.key, Naming::Exact).await?)
        }
    }
    queue_and_follow(&mut api, &body).await
}

/// `testum keys replace OLD NEW`: queue the `replace_key` task, follow it, and say on stderr
/// where the old key is still present (the platforms whose target did not succeed).
pub async fn replace(api: &mut Api, old: &str, new: &str) -> anyhow::Result<bool> {
    if old == new {
        return Err(UsageError(format!("keys replace: OLD and NEW are both {old:?}")).into());
    }
    let ids = key_ids(
        api,
        "keys replace",
        &[old.to_string(), new.to_string()],
        Naming::Exact,
    )
    .await?;
    let accepted: Accepted = api
        .post(
            &format!("/api/keys/{}/replace", ids[0]),
            &json!({"new_key_id": ids[1]}),
        )
        .await?;
    let task = follow(api, &accepted.task_id, Output::Print).await?;
    print_summaries(&task, &accepted.task_id);
    let left: Vec<&str> = task
        .targets
        .iter()
        .filter(|t| t.status != "succeeded")
        .map(|t| t.platform_name.as_str())
        .collect();
    if left.is_empty() {
        eprintln!("the old key {old} is gone from every platform");
    } else {
        eprintln!("the old key {old} is still on: {}", left.join(", "));
    }
    Ok(task.succeeded())
}

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    let mut body = json!({"kind": "run_command", "command": command_line(&args.command)});
    args.platforms.add_to(&mut api, &mut body).await?;
    if let Some(timeout) = args.timeout {
        body["timeout_s"] = json!(timeout);
    }
    queue_and_follow(&mut api, &body).await
}

/// Queue the task `body`, follow it and print its summary (a dry run's: [`print_dry_run`]).
async fn queue_and_follow(api: &mut Api, body: &Value) -> anyhow::Result<bool> {
    let accepted: Accepted = api.post("/api/tasks", body).await?;
    if body["dry_run"] == true {
        let task = follow(api, &accepted.task_id, Output::Hide).await?;
        print_dry_run(api, &accepted.task_id, &task).await?;
        return Ok(task.succeeded());
    }
    let task = follow(api, &accepted.task_id, Output::Print).await?;
    print_summaries(&task, &accepted.task_id);
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
    use super::{command_line, key_options};

    fn refused(arguments: &[&str]) -> String {
        let arguments: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        key_options(&arguments).unwrap_err().to_string()
    }

    #[test]
    fn options_are_sshds_syntax_one_per_flag() {
        let arguments = [
            r#"from="10.0.0.0/8""#,
            "restrict",
            r#"command="/usr/bin/backup""#,
        ];
        let arguments: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        let options = key_options(&arguments).unwrap().unwrap();
        assert_eq!(
            options.render().unwrap().unwrap(),
            r#"restrict,from="10.0.0.0/8",command="/usr/bin/backup""#
        );
        assert_eq!(key_options(&[]).unwrap(), None);
    }

    #[test]
    fn a_bad_option_is_named() {
        assert_eq!(
            refused(&["restrict", "no-shell"]),
            r#"--option no-shell: unknown option "no-shell" (sshd ignores a line with an unknown option)"#
        );
        assert_eq!(
            refused(&["restrict,pty"]),
            "--option restrict,pty: give exactly one option per --option"
        );
        assert_eq!(
            refused(&["from=10.0.0.1"]),
            r#"--option from=10.0.0.1: value of option "from" must be in double quotes"#
        );
        assert_eq!(
            refused(&[r#"from="10.0.0.1/8""#]),
            "--option from: entry 1: the address has bits set beyond the prefix length (sshd \
             refuses every source)"
        );
        assert_eq!(
            refused(&["pty", "PTY"]),
            r#"--option: option "pty" given more than once"#
        );
    }

    #[test]
    fn one_word_is_a_shell_line_several_are_an_argv() {
        assert_eq!(command_line(&["df -h | tail -1".into()]), "df -h | tail -1");
        assert_eq!(
            command_line(&["sh".into(), "-c".into(), "echo 'hi'; echo err >&2".into()]),
            r#"'sh' '-c' 'echo '\''hi'\''; echo err >&2'"#
        );
    }
}
