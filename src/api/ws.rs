//! `WS /ws/tasks/{id}`: a task's events as JSON frames, from seq 1 then live.
//!
//! The handler subscribes to the event bus first, then replays the stored events in order, then
//! follows: each wake-up (or a 1 s poll, in case one was missed) reads the events after the last
//! seq sent, in pages of at most 500 events and about `crate::archive::PAGE_BYTES` of output, so
//! a replay of a huge task never holds more than one page. A late or reconnecting client therefore misses nothing and sees nothing twice, and
//! a slow client only slows its own reads, never the SSH readers that store the output.
//!
//! Frames: `{"type":"output","seq","platform_id","stream","data"}`, `{"type":"target","seq",...}`
//! with the target's fields, and a final `{"type":"done","seq","status"}` after which the server
//! closes the socket. For a task whose output retention deleted, the replay has the `target` and
//! `done` frames only (the task's `output_expired_at` says why).
//!
//! `?output=none` leaves output out (the `target` and `done` frames only: what a page of counts
//! and statuses needs, however much the hosts print); `?platform_id=` keeps only that platform's
//! output and `target` frames (one host's output, live).
//!
//! With `?output=binary`, output events come as binary messages instead (see [`binary_frame`]):
//! the exact bytes after a 26-byte header, with no JSON escaping. A client that follows large or
//! non-text output (a NUL is six bytes of JSON, `\u0000`) reads it for a fraction of the cost,
//! and byte for byte. `target` and `done` stay JSON text frames.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, SignedInWith};
use super::error::{ApiError, Problem};
use super::extract::{ApiPath, ApiQuery};
use super::scope::Visible;
use super::tasks::Seen;
use crate::store::{EventKind, EventScope, TaskEvent};

const BATCH: u32 = 500;

/// Largest WebSocket message (and frame) accepted from a client, in bytes. Clients send nothing
/// the server reads but close and ping frames; anything larger ends the connection.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// Upgrade to a WebSocket that streams task `id` (404 before the upgrade when there is none; 400
/// problem+json when the request is not a WebSocket handshake).
#[utoipa::path(
    get,
    path = "/ws/tasks/{id}",
    tag = "tasks",
    description = "WebSocket (RFC 6455) of a task's events as JSON text frames, replayed from \
                   seq 1 then live: `{\"type\":\"output\",\"seq\",\"platform_id\",\"stream\",\"data\"}`, \
                   `{\"type\":\"target\",\"seq\",...}` on a target's status change, and a final \
                   `{\"type\":\"done\",\"seq\",\"status\"}` before the server closes. Browsers, which \
                   cannot set headers here, pass the token as `?access_token=`.",
    params(
        ("id" = Uuid, Path, description = "The task's id"),
        ("access_token" = Option<String>, Query, description = "Access token, instead of the Authorization header"),
        ("output" = Option<String>, Query, description = "`text` (default): output frames are JSON with `data` as text, invalid UTF-8 replaced. `binary`: each output event is a binary message: byte 0 = 1 (output), bytes 1-8 = seq (unsigned, big-endian), 9-24 = platform_id (UUID bytes), 25 = stream (1 stdout, 2 stderr), then the exact bytes. `none`: no output frames (target and done frames only)"),
        ("platform_id" = Option<Uuid>, Query, description = "Only this platform's output and target frames (and the final done frame)")
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake (`Connection: upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Version: 13` and `Sec-WebSocket-Key` are required); `detail` says which header", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "The connection cannot be upgraded (e.g. HTTP/2)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No task with this id, or `platform_id` is not one of its targets", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`output` is not `text`, `binary` or `none`, or `platform_id` is not a UUID; `errors` names the field", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn task_stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Extension(user): Extension<AuthUser>,
    Extension(signed_in): Extension<SignedInWith>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // axum answers a request that is not a handshake in text/plain; this API answers problem+json.
    let upgrade = upgrade.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let mut errors = super::error::Errors::default();
    let output = match query.output.as_deref() {
        None | Some("text") => Some(Output::Text),
        Some("binary") => Some(Output::Binary),
        Some("none") => Some(Output::None),
        Some(_) => {
            errors.add("output", "must be text, binary or none");
            None
        }
    };
    let platform = match query.platform_id.as_deref() {
        None | Some("") => None,
        Some(text) => errors.check("platform_id", Uuid::parse_str(text)),
    };
    errors.finish()?;
    let Seen { task, visible } = super::tasks::find_head(&state, &user, &id).await?;
    // A platform the task has no target on would stream nothing but `done`: say so instead.
    if let Some(platform) = platform
        && (!visible.contains(platform)
            || state.store.task_target(task.id, platform).await?.is_none())
    {
        return Err(ApiError::not_found(format!(
            "task {} has no target on platform {platform}",
            task.id
        )));
    }
    let choice = Frames {
        output: output.unwrap_or(Output::Text),
        platform,
        visible,
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| follow(state, task.id, signed_in, choice, socket)))
}

/// How output events are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Text,
    Binary,
    None,
}

/// Which frames a stream sends.
#[derive(Debug, Clone)]
struct Frames {
    output: Output,
    /// Only this platform's output and target frames.
    platform: Option<Uuid>,
    /// Only the output and target frames of the platforms the user may see (as of the
    /// handshake).
    visible: Visible,
}

impl Frames {
    /// The events to read: the narrowest scope holding every event sent, so a stream without
    /// output (or with one platform's) reads no other output at all.
    fn scope(&self) -> EventScope<'static> {
        match (self.output, self.platform) {
            (Output::None, _) => EventScope::NoOutput,
            (_, Some(platform)) => EventScope::OutputOf(platform),
            (_, None) => EventScope::All,
        }
    }

    /// Whether `event` is sent (`done` always is).
    fn wants(&self, event: &TaskEvent) -> bool {
        match event.kind {
            EventKind::Done => true,
            EventKind::Output if self.output == Output::None => false,
            EventKind::Output | EventKind::Target => {
                self.platform.is_none_or(|p| event.platform_id == Some(p))
                    && event.platform_id.is_none_or(|p| self.visible.contains(p))
            }
        }
    }
}

/// Query of `WS /ws/tasks/{id}` (`access_token` is read by the authentication layer).
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// `text` (default), `binary` or `none`.
    output: Option<String>,
    /// Only this platform's frames.
    platform_id: Option<String>,
}

/// Length of the header of a binary output message.
pub const BINARY_HEADER_BYTES: usize = 26;

/// The binary message of output event `event` (`?output=binary`): byte 0 is 1 (an output event),
/// bytes 1-8 its seq (big-endian), 9-24 the platform id's 16 bytes (all zero when none), byte 25
/// the stream (1 stdout, 2 stderr), then the exact bytes.
pub fn binary_frame(event: &TaskEvent) -> Vec<u8> {
    let mut frame = Vec::with_capacity(BINARY_HEADER_BYTES + event.data.len());
    frame.push(1);
    frame.extend_from_slice(&(event.seq as u64).to_be_bytes());
    frame.extend_from_slice(event.platform_id.unwrap_or_default().as_bytes());
    frame.push(match event.stream.as_deref() {
        Some("stderr") => 2,
        _ => 1,
    });
    frame.extend_from_slice(&event.data);
    frame
}

/// How often a stream re-checks that its credential still stands (logout, revocation, a
/// disabled user end the stream within this time).
const RECHECK: Duration = Duration::from_secs(5);

/// WebSocket close code 1008, "policy violation" (RFC 6455 section 7.4.1): the credential ended.
const CLOSE_SIGNED_OUT: u16 = 1008;

/// The JSON frame for one stored event.
pub fn frame(event: &TaskEvent) -> Value {
    match event.kind {
        EventKind::Output => json!({
            "type": "output",
            "seq": event.seq,
            "platform_id": event.platform_id,
            "stream": event.stream,
            "data": String::from_utf8_lossy(&event.data),
        }),
        EventKind::Target | EventKind::Done => {
            let mut value: Value = serde_json::from_slice(&event.data).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert(
                    "type".into(),
                    json!(if event.kind == EventKind::Done {
                        "done"
                    } else {
                        "target"
                    }),
                );
                map.insert("seq".into(), json!(event.seq));
            }
            value
        }
    }
}

async fn follow(
    state: AppState,
    task: Uuid,
    signed_in: SignedInWith,
    frames: Frames,
    mut socket: WebSocket,
) {
    let mut wakeups = state.events.subscribe();
    let mut last = 0;
    let mut next_check = tokio::time::Instant::now() + RECHECK;
    loop {
        if tokio::time::Instant::now() >= next_check {
            if !signed_in.still_valid(&state).await {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_SIGNED_OUT,
                        reason: "signed out: the session or token has ended".into(),
                    })))
                    .await;
                return;
            }
            next_check = tokio::time::Instant::now() + RECHECK;
        }
        let scope = frames.scope();
        let page = match crate::archive::read_scope(
            &state.store,
            &state.archive,
            task,
            scope,
            last,
            BATCH,
        )
        .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "reading task events failed");
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        };
        for event in &page.events {
            if !frames.wants(event) {
                last = event.seq;
                continue;
            }
            let message = if frames.output == Output::Binary && event.kind == EventKind::Output {
                Message::Binary(binary_frame(event).into())
            } else {
                Message::Text(frame(event).to_string().into())
            };
            if socket.send(message).await.is_err() {
                return; // the client went away
            }
            last = event.seq;
            if event.kind == EventKind::Done {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
        if page.more {
            continue;
        }
        tokio::select! {
            woke = wakeups.recv() => match woke {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
