//! Fleet-scale benchmark: testum (the release binary, run as its own `testum serve` process)
//! against asyncssh (`benches/asyncssh_peer.py`) and the OpenSSH client, on a fleet of real sshd
//! on 127.0.0.1 (`../shared/tools/fleet.sh`, started when `$FLEET_DIR` has none and stopped
//! after).
//!
//! `cargo bench --bench fanout` (or `make bench`, which installs asyncssh first) prints one line
//! per figure, `name  value unit  note`; ratios carry both sides in the note. Scenarios
//! (`TESTUM_BENCH_ONLY=true,output,deploy,read`, default all):
//! - `true`: `true` on every host, testum (POST /api/tasks to `done`) vs asyncssh, alternating
//!   rounds, on each backend; OpenSSH `xargs -P N ssh true` once for reference.
//! - `deploy`: `deploy_keys` then `revoke_keys` of one key on every host, on each backend; the
//!   ratio to testum's own `true` on that backend.
//! - `output`: `head -c 10000000 /dev/zero` on every host, stored by testum while ONE WebSocket
//!   client follows the task to `done`, vs asyncssh reading and discarding the bytes: wall, CPU,
//!   testum's peak RSS (VmHWM, reset before each round), bytes the WebSocket client received.
//! - `read`: after that task ended and its output was archived, the first and the last page
//!   (`limit=10`) of `GET /api/tasks/{id}/output`, and the RSS testum adds serving them.
//!
//! Settings: `TESTUM_BENCH_ROUNDS` (3), `TESTUM_BENCH_OUTPUT_ROUNDS` (the same),
//! `TESTUM_BENCH_BACKENDS` (`sqlite,postgres`) for `true`
//! and `deploy`, `TESTUM_BENCH_OUTPUT_BACKENDS` (`sqlite`) for `output` and `read`,
//! `TESTUM_BENCH_PG` (`postgres://postgres@127.0.0.1:5432`; each pass creates a database
//! `testum_bench_<uuid>` there and drops it), `TESTUM_BENCH_PYTHON` (`python3`),
//! `TESTUM_BENCH_HOSTS` (200, for a fleet started here), `FLEET_DIR`.
//!
//! Nothing asserts a time: the figures are for people. Correctness is checked (every target
//! succeeded, the WebSocket client saw `done` and every byte, asyncssh succeeded everywhere);
//! a failure is reported and the run goes on, then the exit status is 1.

// Tests and benchmarks may unwrap, expect and panic: a failure is the point (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fanout/api.rs"]
mod api;
#[path = "fanout/fleet.rs"]
mod fleet;
#[path = "fanout/peers.rs"]
mod peers;
#[path = "fanout/report.rs"]
mod report;
#[path = "fanout/server.rs"]
mod server;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use api::{Api, Followed, Outcome};
use fleet::Fleet;
use peers::PeerRun;
use report::{Report, max, progress};
use server::{ADMIN_PASSWORD, Backend, Testum};

/// The command of the `output` scenario, and the bytes it writes on each host.
const OUTPUT_COMMAND: &str = "head -c 10000000 /dev/zero";
const OUTPUT_BYTES_PER_HOST: u64 = 10_000_000;

/// Bound on one `true`, deploy or revoke task; on one `output` task; on the wait for a task's
/// output to be archived. Past it the task is cancelled and the round reported as timed out.
const TASK_BOUND: Duration = Duration::from_secs(300);
const OUTPUT_BOUND: Duration = Duration::from_secs(900);
const ARCHIVE_BOUND: Duration = Duration::from_secs(300);

/// When the archived state cannot be read from the database: how long to wait instead.
const ARCHIVE_SETTLE: Duration = Duration::from_secs(30);

/// A part of the benchmark, selected with `TESTUM_BENCH_ONLY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    True,
    Output,
    Deploy,
    Read,
}

impl Scenario {
    fn parse(text: &str) -> anyhow::Result<Scenario> {
        Ok(match text.trim() {
            "true" => Scenario::True,
            "output" => Scenario::Output,
            "deploy" => Scenario::Deploy,
            "read" => Scenario::Read,
            other => bail!("unknown scenario {other:?} (true, output, deploy, read)"),
        })
    }
}

/// The run's settings, from the environment (see the module doc).
struct Options {
    rounds: usize,
    /// Rounds of the `output` scenario (the long one).
    output_rounds: usize,
    scenarios: Vec<Scenario>,
    backends: Vec<Backend>,
    output_backends: Vec<Backend>,
    pg_server: String,
    python: String,
}

/// A comma-separated list from the environment variable `var` (else `default`), each parsed.
fn env_list<T>(
    var: &str,
    default: &str,
    parse: fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let text = std::env::var(var).unwrap_or_else(|_| default.to_string());
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse)
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("{var}={text:?}"))
}

impl Options {
    fn from_env() -> anyhow::Result<Options> {
        let count = |var: &str, default: usize| -> anyhow::Result<usize> {
            match std::env::var(var) {
                Ok(n) => n.parse().ok().filter(|&n| n >= 1).context(var.to_string()),
                Err(_) => Ok(default),
            }
        };
        let rounds = count("TESTUM_BENCH_ROUNDS", 3)?;
        let env = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
        Ok(Options {
            rounds,
            output_rounds: count("TESTUM_BENCH_OUTPUT_ROUNDS", rounds)?,
            scenarios: env_list(
                "TESTUM_BENCH_ONLY",
                "true,output,deploy,read",
                Scenario::parse,
            )?,
            backends: env_list("TESTUM_BENCH_BACKENDS", "sqlite,postgres", Backend::parse)?,
            output_backends: env_list("TESTUM_BENCH_OUTPUT_BACKENDS", "sqlite", Backend::parse)?,
            pg_server: env("TESTUM_BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
            python: env("TESTUM_BENCH_PYTHON", "python3"),
        })
    }

    fn has(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// The backends a pass runs on, in order, each once.
    fn all_backends(&self) -> Vec<Backend> {
        let mut all: Vec<Backend> = Vec::new();
        for b in self.backends.iter().chain(&self.output_backends) {
            if !all.contains(b) {
                all.push(*b);
            }
        }
        all
    }
}

/// One testum task, from `POST /api/tasks` to `done` as the WebSocket client saw it.
struct TaskRun {
    id: String,
    /// Seconds from the POST to `done` (every frame read).
    wall: f64,
    /// testum's CPU seconds over that span.
    cpu: Option<f64>,
    /// This benchmark process's CPU seconds over that span (the WebSocket client, mostly).
    client_cpu: Option<f64>,
    /// testum's peak RSS (MB) from the POST to `done`.
    peak_rss: Option<f64>,
    /// testum's RSS (MB) when the task was posted (memory kept from earlier rounds shows here).
    start_rss: Option<f64>,
    followed: Followed,
    outcome: Outcome,
    timed_out: bool,
}

/// When a task's output was archived, measured after its `done`.
struct ArchiveWait {
    /// Seconds from `done` until the database showed it archived; `None` when it did not in
    /// [`ARCHIVE_BOUND`] or could not be told.
    after_done: Option<f64>,
    /// testum's peak RSS (MB) from the POST until then.
    peak_rss: Option<f64>,
    /// How it was told, or why not.
    how: String,
}

/// Everything that runs against one testum process (one backend).
struct Pass<'a> {
    opts: &'a Options,
    fleet: &'a Fleet,
    server: Testum,
    api: Api,
    platforms: Vec<String>,
    key: String,
}

impl<'a> Pass<'a> {
    /// Start testum on `backend`, register every fleet host as a platform and the fleet's
    /// second key.
    async fn start(
        opts: &'a Options,
        fleet: &'a Fleet,
        backend: Backend,
    ) -> anyhow::Result<Pass<'a>> {
        progress(&format!("{}: starting testum serve", backend.name()));
        let server = Testum::start(backend, &opts.pg_server, fleet.hosts.len()).await?;
        let api = Api::login(&server.base, ADMIN_PASSWORD).await?;
        let private_key = std::fs::read_to_string(fleet.client_key()).context("client key")?;
        let mut platforms = Vec::new();
        for host in &fleet.hosts {
            let body = json!({"name": format!("fleet-{}", host.port), "host": "127.0.0.1",
                              "port": host.port, "username": "root", "auth_method": "private_key",
                              "private_key": private_key,
                              "authorized_keys_path": host.dir.join("authorized_keys")});
            let (status, platform) = api.post("/api/platforms", body).await?;
            if status != StatusCode::CREATED {
                bail!("POST /api/platforms: {status} {platform}");
            }
            platforms.push(platform["id"].as_str().context("platform id")?.to_string());
        }
        let new_key =
            std::fs::read_to_string(fleet.dir.join("newkey_ed25519.pub")).context("new key")?;
        let (status, key) = api
            .post(
                "/api/keys",
                json!({"name": "bench", "public_key": new_key.trim()}),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("POST /api/keys: {status} {key}");
        }
        let key = key["id"].as_str().context("key id")?.to_string();
        Ok(Pass {
            opts,
            fleet,
            server,
            api,
            platforms,
            key,
        })
    }

    /// `scenario/backend what`: the name of a printed figure.
    fn name(&self, scenario: &str, what: &str) -> String {
        format!("{scenario}/{} {what}", self.server.backend.name())
    }

    fn run_body(&self, command: &str) -> Value {
        json!({"kind": "run_command", "platform_ids": self.platforms, "command": command,
               "timeout_s": 3600, "concurrency": self.platforms.len()})
    }

    fn keys_body(&self, kind: &str) -> Value {
        json!({"kind": kind, "platform_ids": self.platforms, "key_ids": [self.key],
               "concurrency": self.platforms.len()})
    }

    /// Run one task, following it on the WebSocket; cancelled past `bound`.
    async fn run_task(&mut self, body: &Value, bound: Duration) -> anyhow::Result<TaskRun> {
        if !self.server.alive() {
            bail!("testum is no longer running: {}", self.server.log_tail(10));
        }
        self.server.reset_peak();
        let start_rss = self.server.rss_mb();
        let cpu0 = self.server.cpu_s();
        let client0 = server::process_cpu_s("self");
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + bound;
        let id = self.api.queue(body).await?;
        let mut timed_out = false;
        let followed = match tokio::time::timeout_at(deadline, self.api.follow(&id)).await {
            Ok(followed) => followed?,
            Err(_) => {
                timed_out = true;
                Followed::default()
            }
        };
        // The socket ended without `done`: wait for the end the plain way.
        if !timed_out
            && followed.done.is_none()
            && tokio::time::timeout_at(deadline, self.api.wait_final(&id))
                .await
                .is_err()
        {
            timed_out = true;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = self.server.cpu_s().zip(cpu0).map(|(b, a)| b - a);
        let client_cpu = server::process_cpu_s("self")
            .zip(client0)
            .map(|(b, a)| b - a);
        let peak_rss = self.server.peak_rss_mb();
        if timed_out {
            progress(&format!(
                "task {id} still running after {} s: cancelling it",
                bound.as_secs()
            ));
            self.api.cancel(&id).await;
            let _ = tokio::time::timeout(Duration::from_secs(60), self.api.wait_final(&id)).await;
        }
        let outcome = self.api.outcome(&id).await?;
        Ok(TaskRun {
            id,
            wall,
            cpu,
            client_cpu,
            peak_rss,
            start_rss,
            followed,
            outcome,
            timed_out,
        })
    }

    /// Record every correctness problem of `run` (named `what`), expecting `bytes` output bytes
    /// on the WebSocket when given.
    fn check(&self, report: &mut Report, what: &str, run: &TaskRun, bytes: Option<u64>) {
        let backend = self.server.backend.name();
        let o = &run.outcome;
        if run.timed_out {
            report.problem(format!(
                "{what} on {backend}: no `done` within its bound; cancelled"
            ));
        } else if run.followed.done.is_none() {
            report.problem(format!(
                "{what} on {backend}: the WebSocket ended without `done`"
            ));
        }
        if o.succeeded != o.targets || o.targets != self.platforms.len() {
            report.problem(format!(
                "{what} on {backend}: {} of {} targets succeeded (task {}: {}); e.g. {}",
                o.succeeded,
                self.platforms.len(),
                run.id,
                o.status,
                o.failures.join("; ")
            ));
        }
        if let Some(expected) = bytes
            && run.followed.bytes != expected
        {
            report.problem(format!(
                "{what} on {backend}: the WebSocket client received {} output bytes, expected \
                 {expected} ({} frames for seqs 1..={}: {})",
                run.followed.bytes,
                run.followed.frames,
                run.followed.done.as_ref().map_or(0, |d| d.0),
                if run
                    .followed
                    .done
                    .as_ref()
                    .is_some_and(|d| d.0 == run.followed.frames as i64)
                {
                    "no seq was skipped, so testum stored fewer bytes"
                } else {
                    "some seqs never reached the WebSocket"
                }
            ));
        }
    }

    /// Wait until task `id`'s output was archived (read from the database: the API does not
    /// show it); when the database cannot tell, wait [`ARCHIVE_SETTLE`] instead.
    async fn wait_archived(&self, id: &str, done_at: Instant) -> ArchiveWait {
        let deadline = done_at + ARCHIVE_BOUND;
        loop {
            match self.server.archived(id).await {
                Ok(true) => {
                    return ArchiveWait {
                        after_done: Some(done_at.elapsed().as_secs_f64()),
                        peak_rss: self.server.peak_rss_mb(),
                        how: "archived_at set in the database".into(),
                    };
                }
                Ok(false) if Instant::now() < deadline => {}
                Ok(false) => {
                    return ArchiveWait {
                        after_done: None,
                        peak_rss: self.server.peak_rss_mb(),
                        how: format!("NOT archived {} s after done", ARCHIVE_BOUND.as_secs()),
                    };
                }
                Err(e) => {
                    progress(&format!(
                        "cannot read the archived state ({e:#}); waiting {} s",
                        ARCHIVE_SETTLE.as_secs()
                    ));
                    tokio::time::sleep(ARCHIVE_SETTLE).await;
                    return ArchiveWait {
                        after_done: None,
                        peak_rss: self.server.peak_rss_mb(),
                        how: format!(
                            "archived state unreadable, waited a fixed {} s",
                            ARCHIVE_SETTLE.as_secs()
                        ),
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Alternate asyncssh and testum rounds of `command` (asyncssh first), `rounds` each;
    /// every testum round is checked for `bytes` output bytes when given, and (with
    /// `archive`) followed by the wait for its output to be archived.
    async fn alternate(
        &mut self,
        report: &mut Report,
        command: &str,
        rounds: usize,
        bound: Duration,
        bytes: Option<u64>,
        archive: bool,
    ) -> (Vec<PeerRun>, Vec<(TaskRun, Option<ArchiveWait>)>) {
        let body = self.run_body(command);
        let mut peer_runs = Vec::new();
        let mut ours = Vec::new();
        for round in 1..=rounds {
            progress(&format!(
                "{}: `{command}` round {round}: asyncssh",
                self.server.backend.name()
            ));
            match peers::asyncssh(self.fleet, &self.opts.python, command).await {
                Ok(run) => {
                    if run.ok != run.hosts || bytes.is_some_and(|b| run.bytes != Some(b)) {
                        report.problem(format!(
                            "asyncssh `{command}`: {} of {} hosts ok, {:?} bytes; {}",
                            run.ok,
                            run.hosts,
                            run.bytes,
                            run.errors.join("; ")
                        ));
                    }
                    peer_runs.push(run);
                }
                Err(e) => report.problem(format!("asyncssh `{command}`: {e:#}")),
            }
            progress(&format!(
                "{}: `{command}` round {round}: testum",
                self.server.backend.name()
            ));
            match self.run_task(&body, bound).await {
                Ok(run) => {
                    let done_at = Instant::now();
                    self.check(report, &format!("`{command}`"), &run, bytes);
                    let waited = if archive {
                        Some(self.wait_archived(&run.id, done_at).await)
                    } else {
                        None
                    };
                    ours.push((run, waited));
                }
                Err(e) => report.problem(format!("testum `{command}`: {e:#}")),
            }
        }
        (peer_runs, ours)
    }

    /// Warm-up: one `true` over every host, which pins every host key (trust on first use).
    async fn warm_up(&mut self, report: &mut Report) -> anyhow::Result<()> {
        progress(&format!(
            "{}: warm-up (pins the host keys)",
            self.server.backend.name()
        ));
        let run = self.run_task(&self.run_body("true"), TASK_BOUND).await?;
        self.check(report, "warm-up `true`", &run, None);
        Ok(())
    }

    /// Scenario `true`; testum's median wall time.
    async fn fanout_true(&mut self, report: &mut Report) -> Option<f64> {
        let (peer_runs, ours) = self
            .alternate(report, "true", self.opts.rounds, TASK_BOUND, None, false)
            .await;
        let peer = walls(&peer_runs);
        let testum: Vec<f64> = ours
            .iter()
            .filter(|(r, _)| !r.timed_out)
            .map(|(r, _)| r.wall)
            .collect();
        let a = report.median_of(
            &self.name("true", "asyncssh wall"),
            &peer,
            "s",
            "connect + run + close",
        );
        let t = report.median_of(
            &self.name("true", "testum wall"),
            &testum,
            "s",
            &format!("POST /api/tasks to WS done{}", failed_note(&ours)),
        );
        report.ratio(
            &self.name("true", "testum/asyncssh wall"),
            ("testum", t),
            ("asyncssh", a),
            "s",
            "<= 0.7",
        );
        let cpu: Vec<f64> = ours
            .iter()
            .filter(|(r, _)| !r.timed_out)
            .filter_map(|(r, _)| r.cpu)
            .collect();
        self.cpu_figures(report, "true", &cpu, &peer_runs);
        t
    }

    /// `S testum cpu`, `S asyncssh cpu` and their ratio: CPU seconds of testum's process (POST
    /// to done) and of the asyncssh peer (its own rusage), medians over the rounds.
    fn cpu_figures(&self, report: &mut Report, scenario: &str, ours: &[f64], peer: &[PeerRun]) {
        let tc = report.median_of(
            &self.name(scenario, "testum cpu"),
            ours,
            "s",
            "utime+stime, POST to done",
        );
        let ac = report.median_of(
            &self.name(scenario, "asyncssh cpu"),
            &peer.iter().filter_map(|r| r.cpu).collect::<Vec<_>>(),
            "s",
            "its own rusage",
        );
        report.ratio(
            &self.name(scenario, "testum/asyncssh cpu"),
            ("testum", tc),
            ("asyncssh", ac),
            "s",
            "none set",
        );
    }

    /// Scenario `deploy`: deploy then revoke of one key, `opts.rounds` times.
    async fn deploy(
        &mut self,
        report: &mut Report,
        true_median: Option<f64>,
    ) -> anyhow::Result<()> {
        self.fleet.reset_keys()?;
        let (mut deploys, mut revokes) = (Vec::new(), Vec::new());
        for round in 1..=self.opts.rounds {
            for (kind, runs) in [("deploy_keys", &mut deploys), ("revoke_keys", &mut revokes)] {
                progress(&format!(
                    "{}: {kind} round {round}",
                    self.server.backend.name()
                ));
                match self.run_task(&self.keys_body(kind), TASK_BOUND).await {
                    Ok(run) => {
                        self.check(report, kind, &run, None);
                        runs.push((run, None));
                    }
                    Err(e) => report.problem(format!("{kind}: {e:#}")),
                }
            }
        }
        let ok_walls = |runs: &[(TaskRun, Option<ArchiveWait>)]| -> Vec<f64> {
            runs.iter()
                .filter(|(r, _)| !r.timed_out)
                .map(|(r, _)| r.wall)
                .collect()
        };
        let d = report.median_of(
            &self.name("deploy", "testum deploy_keys wall"),
            &ok_walls(&deploys),
            "s",
            &format!("1 key{}", failed_note(&deploys)),
        );
        report.median_of(
            &self.name("deploy", "testum revoke_keys wall"),
            &ok_walls(&revokes),
            "s",
            &format!("1 key{}", failed_note(&revokes)),
        );
        report.ratio(
            &self.name("deploy", "deploy/true wall"),
            ("deploy_keys", d),
            ("testum true", true_median),
            "s",
            "<= 1.5",
        );
        Ok(())
    }

    /// Scenario `output`; the last testum task (id, `done` seq, archive state) for `read`.
    async fn output(&mut self, report: &mut Report) -> Option<(String, i64, String)> {
        let expected = OUTPUT_BYTES_PER_HOST * self.platforms.len() as u64;
        let (peer_runs, ours) = self
            .alternate(
                report,
                OUTPUT_COMMAND,
                self.opts.output_rounds,
                OUTPUT_BOUND,
                Some(expected),
                true,
            )
            .await;
        let done: Vec<&(TaskRun, Option<ArchiveWait>)> =
            ours.iter().filter(|(r, _)| !r.timed_out).collect();
        let field = |f: fn(&TaskRun) -> Option<f64>| -> Vec<f64> {
            done.iter().filter_map(|(r, _)| f(r)).collect()
        };
        let a = report.median_of(
            &self.name("output", "asyncssh wall"),
            &walls(&peer_runs),
            "s",
            "reads and discards 10 MB per host",
        );
        let t = report.median_of(
            &self.name("output", "testum wall"),
            &field(|r| Some(r.wall)),
            "s",
            &format!(
                "POST to WS done, one WS client read every frame{}",
                failed_note(&ours)
            ),
        );
        report.ratio(
            &self.name("output", "testum/asyncssh wall"),
            ("testum", t),
            ("asyncssh", a),
            "s",
            "<= 1.0",
        );
        let peak = |v: Vec<f64>| max(&v);
        match peak(field(|r| r.peak_rss)) {
            Some(p) => report.figure(
                &self.name("output", "testum peak RSS to done"),
                p,
                "MB",
                &format!(
                    "VmHWM, max over rounds: {}; RSS at each POST: {}; goal < 200 MB",
                    mb_list(&field(|r| r.peak_rss)),
                    mb_list(&field(|r| r.start_rss))
                ),
            ),
            None => report.missing(
                &self.name("output", "testum peak RSS to done"),
                "MB",
                "not measured",
            ),
        }
        let archived: Vec<&ArchiveWait> = done.iter().filter_map(|(_, w)| w.as_ref()).collect();
        match peak(archived.iter().filter_map(|w| w.peak_rss).collect()) {
            Some(p) => report.figure(
                &self.name("output", "testum peak RSS to archived"),
                p,
                "MB",
                "VmHWM from POST until the output was archived, max over rounds",
            ),
            None => report.missing(
                &self.name("output", "testum peak RSS to archived"),
                "MB",
                "not measured",
            ),
        }
        self.cpu_figures(report, "output", &field(|r| r.cpu), &peer_runs);
        report.median_of(
            &self.name("output", "bench WS client cpu"),
            &field(|r| r.client_cpu),
            "s",
            "this process while following (shares the cores)",
        );
        if let Some((last, _)) = ours.last() {
            report.figure(
                &self.name("output", "WS bytes received"),
                last.followed.bytes as f64 / 1e6,
                "MB",
                &format!(
                    "last round: {} bytes in {} frames, expected {expected}",
                    last.followed.bytes, last.followed.frames
                ),
            );
        }
        let after: Vec<f64> = archived.iter().filter_map(|w| w.after_done).collect();
        let how = archived
            .last()
            .map_or("no round".to_string(), |w| w.how.clone());
        report.median_of(
            &self.name("output", "archived after done"),
            &after,
            "s",
            &how,
        );
        let (last, wait) = ours
            .into_iter()
            .rev()
            .find(|(r, _)| r.followed.done.is_some())?;
        let (seq, _) = last.followed.done?;
        Some((
            last.id,
            seq,
            wait.map_or("archive not waited for".into(), |w| w.how),
        ))
    }

    /// One 10 MB-per-host task, untimed, for `read` when `output` is not selected.
    async fn output_for_read(
        &mut self,
        report: &mut Report,
    ) -> anyhow::Result<(String, i64, String)> {
        let expected = OUTPUT_BYTES_PER_HOST * self.platforms.len() as u64;
        progress(&format!(
            "{}: one `{OUTPUT_COMMAND}` task for `read`",
            self.server.backend.name()
        ));
        let run = self
            .run_task(&self.run_body(OUTPUT_COMMAND), OUTPUT_BOUND)
            .await?;
        self.check(report, "output for read", &run, Some(expected));
        let wait = self.wait_archived(&run.id, Instant::now()).await;
        let (seq, _) = run
            .followed
            .done
            .context("the output task has no done seq")?;
        Ok((run.id, seq, wait.how))
    }

    /// Scenario `read`: the first and the last page of task `id`'s output (its `done` at `seq`).
    async fn read(&mut self, report: &mut Report, id: &str, seq: i64, archived: &str) {
        let rss_before = self.server.rss_mb();
        self.server.reset_peak();
        let (mut first, mut last) = (Vec::new(), Vec::new());
        let mut items = (0, 0);
        for _ in 0..self.opts.rounds {
            for (after, times, count) in [
                (0, &mut first, &mut items.0),
                ((seq - 12).max(0), &mut last, &mut items.1),
            ] {
                let path = format!("/api/tasks/{id}/output?after_seq={after}&limit=10");
                match self.api.get_timed(&path).await {
                    Ok((took, StatusCode::OK, body)) => {
                        times.push(took.as_secs_f64() * 1000.0);
                        *count = body["items"].as_array().map_or(0, Vec::len);
                    }
                    Ok((_, status, body)) => report.problem(format!("GET {path}: {status} {body}")),
                    Err(e) => report.problem(format!("GET {path}: {e:#}")),
                }
            }
        }
        let note =
            |which: &str, n: usize| format!("{which}, {n} output items; {archived}; goal < 100 ms");
        report.median_of(
            &self.name("read", "first page"),
            &first,
            "ms",
            &note("after_seq=0&limit=10", items.0),
        );
        report.median_of(
            &self.name("read", "last page"),
            &last,
            "ms",
            &note(
                &format!("after_seq={}&limit=10", (seq - 12).max(0)),
                items.1,
            ),
        );
        match (self.server.peak_rss_mb(), rss_before) {
            (Some(peak), Some(before)) => report.figure(
                &self.name("read", "testum RSS added"),
                (peak - before).max(0.0),
                "MB",
                &format!(
                    "VmHWM {peak:.1} MB while reading - VmRSS {before:.1} MB before; goal < 50 MB"
                ),
            ),
            _ => report.missing(&self.name("read", "testum RSS added"), "MB", "not measured"),
        }
    }
}

/// `a b c` of MB figures, for notes.
fn mb_list(values: &[f64]) -> String {
    let shown: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    shown.join(" ")
}

/// Wall times of the peer rounds.
fn walls(runs: &[PeerRun]) -> Vec<f64> {
    runs.iter().map(|r| r.wall).collect()
}

/// `; failed targets: N` over `runs` (empty when none failed), timed-out rounds named.
fn failed_note(runs: &[(TaskRun, Option<ArchiveWait>)]) -> String {
    let failed: usize = runs
        .iter()
        .map(|(r, _)| r.outcome.targets - r.outcome.succeeded)
        .sum();
    let timed_out = runs.iter().filter(|(r, _)| r.timed_out).count();
    let mut note = String::new();
    if failed > 0 {
        note += &format!("; FAILED targets: {failed} over {} rounds", runs.len());
    }
    if timed_out > 0 {
        note += &format!("; {timed_out} round(s) TIMED OUT (left out)");
    }
    note
}

/// OpenSSH's `xargs -P N ssh true`, for reference (a warm-up round, then `opts.rounds`).
async fn openssh_reference(opts: &Options, fleet: &Fleet, report: &mut Report) {
    progress("OpenSSH reference: xargs -P N ssh true");
    let mut runs = Vec::new();
    for round in 0..=opts.rounds {
        match peers::openssh(fleet).await {
            Ok(run) if run.ok == run.hosts => {
                if round > 0 {
                    runs.push(run.wall);
                }
            }
            Ok(run) => report.problem(format!("OpenSSH xargs ssh true: {}", run.errors.join("; "))),
            Err(e) => report.problem(format!("OpenSSH xargs ssh true: {e:#}")),
        }
    }
    let n = fleet.hosts.len();
    report.median_of(
        &format!("true openssh xargs -P {n} ssh wall"),
        &runs,
        "s",
        "reference",
    );
}

/// Every selected scenario on one backend.
async fn pass(
    opts: &Options,
    fleet: &Fleet,
    backend: Backend,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut pass = Pass::start(opts, fleet, backend).await?;
    pass.warm_up(report).await?;
    let fanout = opts.backends.contains(&backend);
    let outputs = opts.output_backends.contains(&backend);
    let mut true_median = None;
    if fanout && opts.has(Scenario::True) {
        true_median = pass.fanout_true(report).await;
    }
    if fanout
        && opts.has(Scenario::Deploy)
        && let Err(e) = pass.deploy(report, true_median).await
    {
        report.problem(format!("deploy on {}: {e:#}", backend.name()));
    }
    let mut task = None;
    if outputs && opts.has(Scenario::Output) {
        task = pass.output(report).await;
    }
    if outputs && opts.has(Scenario::Read) {
        if task.is_none() {
            match pass.output_for_read(report).await {
                Ok(t) => task = Some(t),
                Err(e) => {
                    report.problem(format!("read on {}: no output task: {e:#}", backend.name()))
                }
            }
        }
        if let Some((id, seq, archived)) = task {
            pass.read(report, &id, seq, &archived).await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let opts = match Options::from_env() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("fanout bench: {e:#}");
            std::process::exit(2);
        }
    };
    let mut report = Report::default();
    let fleet = match Fleet::open_or_start() {
        Ok(fleet) => fleet,
        Err(e) => {
            eprintln!("fanout bench: no fleet: {e:#}");
            std::process::exit(1);
        }
    };
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "fleet benchmark {}: {} sshd on 127.0.0.1, testum release binary as its own process, \
         {} rounds ({} of output), {} cores, load average at start {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        fleet.hosts.len(),
        opts.rounds,
        opts.output_rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if opts.has(Scenario::True) {
        openssh_reference(&opts, &fleet, &mut report).await;
    }
    for backend in opts.all_backends() {
        if let Err(e) = pass(&opts, &fleet, backend, &mut report).await {
            report.problem(format!("{}: {e:#}", backend.name()));
        }
    }
    drop(fleet);
    std::process::exit(report.finish());
}
