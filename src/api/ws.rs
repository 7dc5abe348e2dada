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

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::AppState;
use super::auth::SignedInWith;
use super::error::{ApiError, Problem};
use crate::store::{EventKind, TaskEvent};

const BATCH: u32 = 500;

/// Largest WebSocket message (and frame) accepted from a client, in bytes. Clients send nothing
/// the server reads but close and ping frames; anything larger ends the connection.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// Upgrade to a WebSocket that streams task `id` (404 before the upgrade when there is none).
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
        ("access_token" = Option<String>, Query, description = "Access token, instead of the Authorization header")
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 404, description = "No task with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn task_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(signed_in): Extension<SignedInWith>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let task = super::tasks::find(&state, &id).await?;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| follow(state, task.id, signed_in, socket)))
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

async fn follow(state: AppState, task: Uuid, signed_in: SignedInWith, mut socket: WebSocket) {
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
        let page =
            match crate::archive::events_after(&state.store, &state.archive, task, last, BATCH)
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
            let text = frame(event).to_string();
            if socket.send(Message::Text(text.into())).await.is_err() {
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
