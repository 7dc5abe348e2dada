//! The benchmark's client of testum's API: plain HTTP calls as the admin, and one WebSocket
//! client following a task's events until `done`. Errors are returned, never panicked on, so a
//! failing scenario is reported and the run goes on.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A logged-in admin client of one testum.
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// What the WebSocket client saw of a task.
#[derive(Debug, Default, Clone)]
pub struct Followed {
    /// Seq and status of the `done` frame; `None` when the socket ended without one.
    pub done: Option<(i64, String)>,
    /// Output bytes received (exact bytes of every binary output message).
    pub bytes: u64,
    /// Frames received.
    pub frames: u64,
}

/// How a task's targets ended.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// The task's status (`succeeded`, `failed`, ...).
    pub status: String,
    /// Targets that succeeded, and all targets.
    pub succeeded: usize,
    pub targets: usize,
    /// A few of the failures, `platform: status error`.
    pub failures: Vec<String>,
}

/// Just the fields of a WebSocket text frame (`target`, `done`) the benchmark reads.
#[derive(serde::Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    status: Option<String>,
}

/// Length of the header of a binary output message (`WS /ws/tasks/{id}?output=binary`).
const BINARY_HEADER_BYTES: usize = 26;

/// Task statuses after which nothing changes.
const FINAL: [&str; 3] = ["succeeded", "failed", "cancelled"];

impl Api {
    /// Log in to the testum at `base` as `admin`.
    pub async fn login(base: &str, password: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        let mut api = Api {
            base: base.to_string(),
            token: String::new(),
            http,
        };
        let (status, body) = api
            .send(
                reqwest::Method::POST,
                "/api/auth/login",
                Some(json!({"username": "admin", "password": password})),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("login: {status} {body}");
        }
        api.token = body["access_token"]
            .as_str()
            .context("login: no access_token")?
            .to_string();
        Ok(api)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("call {path}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("read {path}"))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// `GET path`, which must answer 200.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await?;
        if status != StatusCode::OK {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// `GET path`, timed from the request to the last byte of the answer; (time, status, body).
    pub async fn get_timed(&self, path: &str) -> anyhow::Result<(Duration, StatusCode, Value)> {
        let started = Instant::now();
        let (status, body) = self.send(reqwest::Method::GET, path, None).await?;
        Ok((started.elapsed(), status, body))
    }

    /// `POST /api/tasks` `body`, which must be accepted; the task id.
    pub async fn queue(&self, body: &Value) -> anyhow::Result<String> {
        let (status, answer) = self.post("/api/tasks", body.clone()).await?;
        if status != StatusCode::ACCEPTED {
            bail!("POST /api/tasks: {status} {answer}");
        }
        Ok(answer["task_id"]
            .as_str()
            .context("POST /api/tasks: no task_id")?
            .to_string())
    }

    /// Cancel task `task` (after a timeout), ignoring the answer.
    pub async fn cancel(&self, task: &str) {
        let _ = self
            .post(&format!("/api/tasks/{task}/cancel"), json!({}))
            .await;
    }

    /// Poll `GET /api/tasks/{task}` until it ended; its JSON.
    pub async fn wait_final(&self, task: &str) -> anyhow::Result<Value> {
        loop {
            let body = self.get(&format!("/api/tasks/{task}")).await?;
            if FINAL.contains(&body["status"].as_str().unwrap_or_default()) {
                return Ok(body);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How task `task`'s targets ended (it should have ended).
    pub async fn outcome(&self, task: &str) -> anyhow::Result<Outcome> {
        let body = self.get(&format!("/api/tasks/{task}")).await?;
        let targets = body["targets"].as_array().cloned().unwrap_or_default();
        let mut outcome = Outcome {
            status: body["status"].as_str().unwrap_or("?").to_string(),
            targets: targets.len(),
            ..Outcome::default()
        };
        for t in &targets {
            if t["status"] == "succeeded" {
                outcome.succeeded += 1;
            } else if outcome.failures.len() < 3 {
                outcome.failures.push(format!(
                    "{}: {} {}",
                    t["platform_name"].as_str().unwrap_or("?"),
                    t["status"].as_str().unwrap_or("?"),
                    t["error"].as_str().unwrap_or(""),
                ));
            }
        }
        Ok(outcome)
    }

    /// Follow task `task` on `WS /ws/tasks/{task}?access_token=&output=binary`, reading every
    /// frame until `done` (or the socket ends): output arrives as binary messages of exact bytes
    /// (the way a client that follows large output should read it), statuses as JSON text.
    pub async fn follow(&self, task: &str) -> anyhow::Result<Followed> {
        let url = format!(
            "{}/ws/tasks/{task}?access_token={}&output=binary",
            self.base.replacen("http://", "ws://", 1),
            self.token
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("open the task WebSocket")?;
        let mut seen = Followed::default();
        while let Some(message) = socket.next().await {
            let text = match message.context("read the task WebSocket")? {
                Message::Binary(frame) if frame.first() == Some(&1) => {
                    seen.frames += 1;
                    seen.bytes += frame.len().saturating_sub(BINARY_HEADER_BYTES) as u64;
                    continue;
                }
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            seen.frames += 1;
            let frame: Frame = serde_json::from_str(&text).context("a WebSocket frame")?;
            if frame.kind == "done" {
                seen.done = Some((
                    frame.seq.unwrap_or_default(),
                    frame.status.unwrap_or_default(),
                ));
                break;
            }
        }
        Ok(seen)
    }
}
