//! The shipping files, checked as far as this machine can without a Docker engine or a running
//! systemd: `contrib/*.service` pass `systemd-analyze verify` with no warning and carry the
//! hardening (files they read come as credentials); `compose.yaml` is accepted by
//! `docker-compose config` (the README's commands make the secret files, readable by the
//! containers' users even under `umask 077`, and run it), its testum services build the image and
//! wait for a healthy PostgreSQL and the bucket; and every command the units, the image and the
//! compose services run is a real `testum` subcommand, every `TESTUM_*` variable they set is one that subcommand's `--help`
//! lists, and the image's health check path answers on a running service.

use crate::app;
use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run the command")
}

/// `testum <subcommand> --help`, which must succeed.
fn help(subcommand: &str) -> String {
    let out = run(Command::new(env!("CARGO_BIN_EXE_testum")).args([subcommand, "--help"]));
    assert!(
        out.status.success(),
        "`testum {subcommand}` is not a subcommand: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Every `TESTUM_*` name in `text`.
fn testum_variables(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("TESTUM_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

/// Panic unless every `TESTUM_*` variable in `names` is listed by `testum <subcommand> --help`.
fn all_known(names: impl IntoIterator<Item = String>, subcommand: &str, source: &str) {
    let help = help(subcommand);
    let listed = testum_variables(&help);
    for name in names {
        assert!(
            listed.contains(&name),
            "{source} sets {name}, which `testum {subcommand} --help` does not list"
        );
    }
}

/// `systemd-analyze verify` on `unit_text` saved as `name` in a temporary directory: exit
/// status and stderr.
fn verify_unit(name: &str, unit_text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, unit_text).unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    (out.status.success(), text(&out.stderr))
}

#[test]
fn systemd_units_verify_clean_carry_the_hardening_and_name_real_settings() {
    common::sshd::ensure_tool("/usr/bin/systemd-analyze", "systemd");
    for (unit, subcommand) in [
        ("testum.service", "serve"),
        ("testum-worker.service", "worker"),
    ] {
        let unit_text = read(&format!("contrib/{unit}"));
        let exec = format!("ExecStart=/usr/local/bin/testum {subcommand}");
        assert!(unit_text.lines().any(|l| l == exec), "{unit}: no {exec}");
        for directive in [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectHome=yes",
            "LoadCredential=master-key:/etc/testum/master.key",
            "Environment=TESTUM_MASTER_KEY_FILE=%d/master-key",
        ] {
            assert!(
                unit_text.lines().any(|l| l == directive),
                "{unit}: no {directive}"
            );
        }
        assert!(unit_text.contains("\nStateDirectory="), "{unit}");
        // A file the service reads itself must come as a credential (`%d/...`): the dynamic
        // user cannot open /etc/testum (0700 root), so a path there fails at start.
        for line in unit_text
            .lines()
            .filter(|l| l.starts_with("Environment=TESTUM_"))
        {
            if let Some((name, path)) = line["Environment=".len()..].split_once('=')
                && name.ends_with("_FILE")
            {
                assert!(
                    path.starts_with("%d/"),
                    "{unit}: {line} is not a credential"
                );
            }
        }
        if subcommand == "worker" {
            for directive in [
                "LoadCredential=database-url:/etc/testum/database-url",
                "Environment=TESTUM_DATABASE_URL_FILE=%d/database-url",
            ] {
                assert!(
                    unit_text.lines().any(|l| l == directive),
                    "{unit}: no {directive} (a worker needs PostgreSQL)"
                );
            }
        }
        let settings: String = unit_text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        all_known(testum_variables(&settings), subcommand, unit);

        // `verify` checks that ExecStart's binary exists: the copy runs the binary under test
        // from where cargo built it; nothing else in the unit changes.
        let here = unit_text.replace("/usr/local/bin/testum", env!("CARGO_BIN_EXE_testum"));
        let (ok, stderr) = verify_unit(unit, &here);
        assert!(ok && stderr.is_empty(), "{unit}: {stderr}");
        // The check is not vacuous: a misspelt value is reported.
        let (_, stderr) = verify_unit(
            unit,
            &here.replace("ProtectSystem=strict", "ProtectSystem=strikt"),
        );
        assert!(
            stderr.contains("ProtectSystem") || stderr.contains("protect system"),
            "{stderr}"
        );
    }
}

/// Run the README's compose commands in `dir` (which holds a copy of compose.yaml): they make
/// the secret files and validate the file; `docker-compose up` is left out (no Docker engine).
fn readme_compose_commands(dir: &Path) {
    let readme = read("README.md");
    let start = readme
        .find("```sh\nmkdir -m 0700 secrets")
        .expect("the README's compose commands");
    let block = &readme[start + "```sh\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let script: Vec<&str> = block
        .lines()
        .filter(|l| !l.starts_with("docker-compose up"))
        .collect();
    assert!(
        script
            .iter()
            .any(|l| l.starts_with("docker-compose config"))
    );
    // Under the strictest umask an operator may have: the secrets must still come out readable
    // by the containers' users (compose mounts the host files as they are).
    let out = run(Command::new("bash")
        .args([
            "-euo",
            "pipefail",
            "-c",
            &format!("umask 077\n{}", script.join("\n")),
        ])
        .current_dir(dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt as _;
    for entry in std::fs::read_dir(dir.join("secrets")).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(
            mode & 0o044,
            0o044,
            "{:?} is {mode:o}: uid 10001 in the container cannot read it",
            entry.file_name()
        );
    }
}

/// YAML text as JSON, through Python's yaml module (which docker-compose itself uses).
fn yaml_to_json(yaml: &str) -> Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compose_file_is_accepted_and_runs_real_subcommands_with_real_settings() {
    common::sshd::ensure_tool("/usr/bin/docker-compose", "docker-compose");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo("compose.yaml"), dir.path().join("compose.yaml")).unwrap();
    readme_compose_commands(dir.path());
    let out = run(Command::new("docker-compose")
        .arg("config")
        .current_dir(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = yaml_to_json(&text(&out.stdout));
    let services = config["services"].as_object().unwrap();
    let mut testum_services = BTreeSet::new();
    for (name, service) in services {
        if service["image"] != "testum:latest" {
            continue;
        }
        let subcommand = service["command"][0].as_str().unwrap();
        testum_services.insert(subcommand.to_string());
        let variables = service["environment"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("TESTUM_"))
            .cloned();
        all_known(variables, subcommand, &format!("compose service {name}"));
        let secrets: Vec<&str> = service["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].as_str().unwrap())
            .collect();
        assert!(secrets.contains(&"master_key"), "{name}: {secrets:?}");
        // Built here, never pulled; started once the database is healthy and the bucket made.
        assert!(service["build"].is_object(), "{name}: no build");
        assert_eq!(
            service["depends_on"]["postgres"]["condition"], "service_healthy",
            "{name}"
        );
        assert_eq!(
            service["depends_on"]["minio-bucket"]["condition"], "service_completed_successfully",
            "{name}"
        );
        // The image's health check asks serve's /readyz: any other subcommand (a worker has no
        // HTTP port) must turn it off, or compose shows it unhealthy forever.
        if subcommand != "serve" {
            assert_eq!(
                service["healthcheck"]["test"],
                serde_json::json!(["NONE"]),
                "{name}: inherits the image's /readyz health check"
            );
        }
    }
    assert_eq!(
        testum_services,
        BTreeSet::from(["serve".to_string(), "worker".to_string()])
    );
    assert!(services.contains_key("postgres") && services.contains_key("minio"));
    assert_eq!(
        services["serve"]["environment"]["TESTUM_BIND"],
        "0.0.0.0:8080"
    );
}

/// The instruction lines of the Dockerfile (continuations joined), as (instruction, rest).
fn dockerfile() -> Vec<(String, String)> {
    let joined = read("Dockerfile").replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
            (word.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[tokio::test]
async fn the_image_runs_real_subcommands_with_real_settings_as_a_non_root_user() {
    let lines = dockerfile();
    let one = |word: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|(w, _)| w == word)
            .map(|(_, rest)| rest.clone())
            .collect()
    };
    let from = one("FROM");
    assert_eq!(from.len(), 2, "multi-stage: {from:?}");
    assert!(
        from[0].starts_with("rust:") && from[1].starts_with("debian:") && from[1].contains("-slim")
    );
    assert_eq!(
        one("ENTRYPOINT"),
        vec![r#"["/usr/local/bin/testum"]"#.to_string()]
    );
    let cmd: Vec<String> = serde_json::from_str(&one("CMD")[0]).unwrap();
    help(&cmd[0]);
    assert_eq!(one("USER"), vec!["testum".to_string()]);
    assert_eq!(one("VOLUME"), vec!["/data".to_string()]);
    assert_eq!(one("EXPOSE"), vec!["8080".to_string()]);
    let env = one("ENV").join(" ");
    assert!(env.contains("TESTUM_BIND=0.0.0.0:8080") && env.contains("TESTUM_DATA_DIR=/data"));
    all_known(testum_variables(&env), &cmd[0], "the Dockerfile");
    // Everything the build stage copies exists in the repository.
    for copy in one("COPY").iter().filter(|c| !c.starts_with("--from")) {
        let mut parts: Vec<&str> = copy.split_whitespace().collect();
        parts.pop();
        for source in parts {
            assert!(repo(source).exists(), "COPY {source}: no such path");
        }
    }
    // The health check asks a path the service answers.
    let health = one("HEALTHCHECK").join(" ");
    let url = health
        .split('"')
        .find(|s| s.starts_with("http://127.0.0.1:8080/"))
        .expect("the health check asks the service on 127.0.0.1:8080");
    let path = &url["http://127.0.0.1:8080".len()..];
    assert_eq!(path, "/readyz");
    let app = app::TestApp::start().await;
    let (status, _) = app.call_anon(reqwest::Method::GET, path, None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}
