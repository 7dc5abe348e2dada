//! Fan-out benchmark: testum against the OpenSSH client run in parallel, on a fleet of real sshd
//! servers on 127.0.0.1 (`../shared/tools/fleet.sh`).
//!
//! `cargo bench --bench fanout` starts the fleet when `$FLEET_DIR` (default /tmp/testum-fleet) has
//! none (`TESTUM_BENCH_HOSTS` hosts, default 200) and stops what it started; it prints, for each
//! scenario, the wall time of every round and the median:
//! - `ssh true` through `xargs -P N` (the OpenSSH client itself, the bar to meet),
//! - testum `run_command true` over every host in one task (API call to `done`),
//! - testum `deploy_keys` then `revoke_keys` of one key on every host.
//!
//! Nothing here asserts a time: the figures are for people.

#[path = "../tests/app/mod.rs"]
mod app;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const ROUNDS: usize = 3;

fn fleet_dir() -> PathBuf {
    PathBuf::from(std::env::var("FLEET_DIR").unwrap_or_else(|_| "/tmp/testum-fleet".into()))
}

fn fleet_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/fleet.sh")
}

/// `(port, dir)` of every fleet host, starting the fleet when needed. Returns whether we started it.
fn fleet() -> (Vec<(u16, PathBuf)>, bool) {
    let hosts_file = fleet_dir().join("hosts.txt");
    let mut started = false;
    if !hosts_file.exists() {
        let n = std::env::var("TESTUM_BENCH_HOSTS").unwrap_or_else(|_| "200".into());
        let status = Command::new("bash")
            .arg(fleet_script())
            .args(["start", &n])
            .status()
            .expect("run fleet.sh");
        assert!(status.success(), "fleet.sh start failed");
        started = true;
    }
    let hosts = std::fs::read_to_string(&hosts_file)
        .expect("read hosts.txt")
        .lines()
        .map(|line| {
            let (port, dir) = line.split_once(' ').expect("PORT DIR");
            (port.parse().expect("port"), PathBuf::from(dir))
        })
        .collect();
    (hosts, started)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn report(name: &str, rounds: &[Duration], hosts: usize) {
    let shown: Vec<String> = rounds
        .iter()
        .map(|d| format!("{:.2}s", d.as_secs_f64()))
        .collect();
    let m = median(rounds.to_vec());
    println!(
        "{name:<40} median {:>7.2}s  ({:>6.1} hosts/s)  rounds: {}",
        m.as_secs_f64(),
        hosts as f64 / m.as_secs_f64(),
        shown.join(" ")
    );
}

/// OpenSSH's own client, `hosts` at once through xargs.
fn openssh_round(hosts: &[(u16, PathBuf)]) -> Duration {
    let dir = fleet_dir();
    let ports: String = hosts.iter().map(|(p, _)| format!("{p}\n")).collect();
    let started = Instant::now();
    let mut child = Command::new("xargs")
        .args([
            "-P",
            &hosts.len().to_string(),
            "-I{}",
            "ssh",
            "-F",
            "/dev/null",
            "-i",
        ])
        .arg(dir.join("client_ed25519"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.join("known_hosts").display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            "{}",
            "root@127.0.0.1",
            "true",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run xargs ssh");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ports.as_bytes())
        .expect("write ports");
    assert!(
        child.wait().expect("wait xargs").success(),
        "an ssh of the OpenSSH round failed"
    );
    started.elapsed()
}

async fn task_round(app: &TestApp, body: serde_json::Value) -> Duration {
    let started = Instant::now();
    let (status, accepted) = app.post("/api/tasks", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = app.wait_task(accepted["task_id"].as_str().unwrap()).await;
    let elapsed = started.elapsed();
    assert_eq!(task["status"], "succeeded", "{task}");
    elapsed
}

#[tokio::main]
async fn main() {
    let (hosts, started) = fleet();
    let n = hosts.len();
    println!("fan-out over {n} sshd on 127.0.0.1 (release build, {ROUNDS} rounds each)");
    let app = TestApp::start_with(|config| config.settings.worker_concurrency = n as u32).await;
    let dir = fleet_dir();
    let private_key = std::fs::read_to_string(dir.join("client_ed25519")).expect("client key");
    let mut platform_ids = Vec::new();
    for (port, host_dir) in &hosts {
        let (status, platform) = app
            .post(
                "/api/platforms",
                json!({"name": format!("fleet-{port}"), "host": "127.0.0.1", "port": port,
                       "username": "root", "auth_method": "private_key", "private_key": private_key,
                       "authorized_keys_path": host_dir.join("authorized_keys")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{platform}");
        platform_ids.push(platform["id"].clone());
    }
    let new_key = std::fs::read_to_string(dir.join("newkey_ed25519.pub")).expect("new key");
    let (status, key) = app
        .post("/api/keys", json!({"name": "bench", "public_key": new_key}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let run = json!({"kind": "run_command", "platform_ids": platform_ids, "command": "true",
                     "concurrency": n});
    // Warm up: pins every host key and fills caches on both sides.
    task_round(&app, run.clone()).await;
    openssh_round(&hosts);

    let mut openssh = Vec::new();
    let mut testum = Vec::new();
    for _ in 0..ROUNDS {
        openssh.push(openssh_round(&hosts));
        testum.push(task_round(&app, run.clone()).await);
    }
    report("OpenSSH client: xargs -P N ssh true", &openssh, n);
    report("testum run_command true", &testum, n);

    let mut deploys = Vec::new();
    let mut revokes = Vec::new();
    for _ in 0..ROUNDS {
        let keys = json!({"platform_ids": platform_ids, "key_ids": [key["id"]], "concurrency": n});
        let mut deploy = keys.clone();
        deploy["kind"] = json!("deploy_keys");
        deploys.push(task_round(&app, deploy).await);
        let mut revoke = keys;
        revoke["kind"] = json!("revoke_keys");
        revokes.push(task_round(&app, revoke).await);
    }
    report("testum deploy_keys (1 key)", &deploys, n);
    report("testum revoke_keys (1 key)", &revokes, n);

    if started {
        let _ = Command::new("bash")
            .arg(fleet_script())
            .arg("stop")
            .status();
    }
}
