//! The benchmark's client of testum's API: plain HTTP calls as the admin, and one WebSocket
//! client following a task's events until `done`. Errors are returned, never panicked on, so a
//! failing scenario is reported and the run goes on.

use std::borrow::Cow;
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
    /// Output bytes received (the `data` of every `output` frame, as UTF-8).
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

/// Just the fields of a WebSocket frame the benchmark reads (`data` only to check
/// [`parse_frame`]'s count).
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
}

/// The key of an output frame's data, as serde_json writes it. Unescaped, these bytes can only
/// be that key: a quote inside a JSON string is escaped.
const DATA_KEY: &str = "\"data\":\"";

/// One output frame in this many is counted twice, the fast way and by serde_json.
const CROSS_CHECK: u64 = 1000;

/// Parse one frame, and count the bytes of its `data` string (UTF-8, once unescaped) without
/// building it: output frames are large (a zero byte is 6 bytes of JSON, `\u0000`), and this
/// process shares the machine with testum. Only the frame around the data is parsed. One frame
/// with data in [`CROSS_CHECK`] (counted in `data_frames`), the first among them, is also parsed
/// whole and the two counts compared.
fn parse_frame<'t>(text: &'t str, data_frames: &mut u64) -> anyhow::Result<(Frame<'t>, u64)> {
    let full = |text: &'t str| -> anyhow::Result<(Frame<'t>, u64)> {
        let frame: Frame = serde_json::from_str(text).context("a WebSocket frame")?;
        let n = frame.data.as_ref().map_or(0, |d| d.len() as u64);
        Ok((frame, n))
    };
    let Some(key) = text.find(DATA_KEY) else {
        return full(text);
    };
    let start = key + DATA_KEY.len();
    let Some((n, len)) = json_string_bytes(&text.as_bytes()[start..]) else {
        return full(text);
    };
    if data_frames.is_multiple_of(CROSS_CHECK) {
        let (_, whole) = full(text)?;
        if whole != n {
            bail!("the fast count of a frame's data says {n} bytes, serde_json {whole}");
        }
    }
    *data_frames += 1;
    let skeleton = format!("{}{}", &text[..start], &text[start + len..]);
    let frame: Frame = serde_json::from_str(&skeleton).context("a WebSocket frame")?;
    let frame = Frame {
        kind: Cow::Owned(frame.kind.into_owned()),
        seq: frame.seq,
        data: None,
        status: frame.status.map(|s| Cow::Owned(s.into_owned())),
    };
    Ok((frame, n))
}

/// The UTF-8 length of the JSON string whose body starts `s` (just after its opening quote),
/// unescaped, and the length of that body (up to the closing quote); `None` when malformed.
/// One plain pass over the bytes: `\u00XX` (what serde_json writes for control bytes, such as
/// the zeros of the `output` scenario) is its hot path.
fn json_string_bytes(s: &[u8]) -> Option<(u64, usize)> {
    let (mut i, mut n) = (0, 0u64);
    while i < s.len() {
        match s[i] {
            b'"' => return Some((n, i)),
            b'\\' => match s.get(i + 1..i + 6) {
                // \u00XX: U+0000..U+00FF, one byte below U+0080, else two.
                Some([b'u', b'0', b'0', x, _]) => {
                    n += if *x < b'8' { 1 } else { 2 };
                    i += 6;
                }
                Some([b'u', ..]) => {
                    let (bytes, len) = unicode_escape(&s[i..])?;
                    n += bytes;
                    i += len;
                }
                // \n \t \" \\ ...: one byte.
                _ => {
                    n += 1;
                    i += 2;
                }
            },
            _ => {
                n += 1;
                i += 1;
            }
        }
    }
    None
}

/// A `\uXXXX` escape at the start of `s` (with its low surrogate when it is a high one): the
/// UTF-8 length of the character and the escape's length.
fn unicode_escape(s: &[u8]) -> Option<(u64, usize)> {
    let hex4 = |h: &[u8]| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok();
    let cp = hex4(s.get(2..6)?)?;
    Some(match cp {
        0..=0x7F => (1, 6),
        0x80..=0x7FF => (2, 6),
        0xD800..=0xDBFF if s.get(6..8) == Some(&b"\\u"[..]) => (4, 12),
        _ => (3, 6),
    })
}

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

    /// Follow task `task` on `WS /ws/tasks/{task}?access_token=`, reading every frame until
    /// `done` (or the socket ends).
    pub async fn follow(&self, task: &str) -> anyhow::Result<Followed> {
        let url = format!(
            "{}/ws/tasks/{task}?access_token={}",
            self.base.replacen("http://", "ws://", 1),
            self.token
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("open the task WebSocket")?;
        let mut seen = Followed::default();
        let mut data_frames = 0;
        while let Some(message) = socket.next().await {
            let text = match message.context("read the task WebSocket")? {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            seen.frames += 1;
            let (frame, data_bytes) = parse_frame(&text, &mut data_frames)?;
            match frame.kind.as_ref() {
                "output" => seen.bytes += data_bytes,
                "done" => {
                    let status = frame.status.unwrap_or_default().into_owned();
                    seen.done = Some((frame.seq.unwrap_or_default(), status));
                    break;
                }
                _ => {}
            }
        }
        Ok(seen)
    }
}
