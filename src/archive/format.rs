//! The archived task log format, version 1: JSON lines, one object per line, UTF-8, `\n` after
//! every line.
//!
//! ```text
//! {"format":"testum-task-log","version":1,"task_id":"<uuid>","events":2}
//! {"seq":3,"platform_id":"<uuid>","stream":"stdout","data":"<base64>"}
//! {"seq":5,"platform_id":"<uuid>","stream":"stderr","data":"<base64>"}
//! ```
//!
//! The header names the format and its version (a reader refuses versions it does not know), the
//! task, and how many event lines follow, so a truncated object is detected instead of read as a
//! shorter log. Each event line is one `output` event exactly as the database held it: its
//! per-task `seq`, its platform, its stream and its exact bytes in standard base64 (with padding),
//! so non-UTF-8 output survives. Lines are in ascending `seq` order; the seqs of the task's
//! `target` and `done` events, which stay in the database, are simply absent.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{EventKind, TaskEvent};

/// The `format` value of the header line.
pub const FORMAT_NAME: &str = "testum-task-log";
/// The version this code writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why an archived log could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The object is not a version-1 testum task log of this task, or a line is malformed; the
    /// message says which line and why.
    #[error("archived task log is malformed: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    task_id: Uuid,
    events: u64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    seq: i64,
    platform_id: Option<Uuid>,
    stream: Option<String>,
    data: String,
}

/// Encode the `output` events of task `task_id` (other kinds are skipped) as one log object.
/// `events` must be in ascending `seq` order, as the store returns them.
pub fn encode(task_id: Uuid, events: &[TaskEvent]) -> Vec<u8> {
    let outputs: Vec<&TaskEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .collect();
    let header = Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        task_id,
        events: outputs.len() as u64,
    };
    let mut out = Vec::new();
    push_line(&mut out, &header);
    for event in outputs {
        let line = Line {
            seq: event.seq,
            platform_id: event.platform_id,
            stream: event.stream.clone(),
            data: base64::engine::general_purpose::STANDARD.encode(&event.data),
        };
        push_line(&mut out, &line);
    }
    out
}

fn push_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Serialising these plain structs (strings, numbers, UUIDs) cannot fail.
    if let Ok(text) = serde_json::to_vec(value) {
        out.extend_from_slice(&text);
    }
    out.push(b'\n');
}

/// Decode a log object written by [`encode`] for task `task_id` into its `output` events, in
/// ascending `seq` order. Fails on another format or version, another task's log, a malformed
/// line, seqs out of order, or an event count that does not match the header (truncation).
pub fn decode(task_id: Uuid, bytes: &[u8]) -> Result<Vec<TaskEvent>, FormatError> {
    let bad = |what: String| FormatError::Malformed(what);
    let mut lines = bytes.split(|b| *b == b'\n');
    let header: Header = serde_json::from_slice(lines.next().unwrap_or_default())
        .map_err(|e| bad(format!("header: {e}")))?;
    if header.format != FORMAT_NAME || header.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format {:?} version {} (this testum reads {FORMAT_NAME:?} version {FORMAT_VERSION})",
            header.format, header.version
        )));
    }
    if header.task_id != task_id {
        return Err(bad(format!(
            "it is the log of task {}, not {task_id}",
            header.task_id
        )));
    }
    let mut events = Vec::new();
    for (index, line) in lines.enumerate() {
        if line.is_empty() {
            continue; // the final newline
        }
        let number = index + 2;
        let line: Line =
            serde_json::from_slice(line).map_err(|e| bad(format!("line {number}: {e}")))?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(&line.data)
            .map_err(|e| bad(format!("line {number}: data: {e}")))?;
        if events.last().is_some_and(|e: &TaskEvent| e.seq >= line.seq) {
            return Err(bad(format!("line {number}: seq {} out of order", line.seq)));
        }
        events.push(TaskEvent {
            seq: line.seq,
            kind: EventKind::Output,
            platform_id: line.platform_id,
            stream: line.stream,
            data,
        });
    }
    if events.len() as u64 != header.events {
        return Err(bad(format!(
            "{} events where the header announces {} (truncated?)",
            events.len(),
            header.events
        )));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(seq: i64, platform: Uuid, stream: &str, data: &[u8]) -> TaskEvent {
        TaskEvent {
            seq,
            kind: EventKind::Output,
            platform_id: Some(platform),
            stream: Some(stream.into()),
            data: data.to_vec(),
        }
    }

    fn assert_same(a: &[TaskEvent], b: &[TaskEvent]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                (x.seq, x.kind, x.platform_id, &x.stream, &x.data),
                (y.seq, y.kind, y.platform_id, &y.stream, &y.data)
            );
        }
    }

    #[test]
    fn exact_bytes_round_trip() {
        let task = Uuid::new_v4();
        let platform = Uuid::new_v4();
        let events = vec![
            output(1, platform, "stdout", b"hello\n"),
            output(2, platform, "stderr", b"\xff\xfe\x00bin\r\n\x1b[0m"),
            output(4, platform, "stdout", "caf\u{e9} \u{2603}\n".as_bytes()),
            output(5, platform, "stdout", b""),
        ];
        let bytes = encode(task, &events);
        assert!(bytes.ends_with(b"\n"));
        assert_same(&decode(task, &bytes).unwrap(), &events);
    }

    #[test]
    fn only_output_events_are_written() {
        let task = Uuid::new_v4();
        let platform = Uuid::new_v4();
        let mut target = output(2, platform, "stdout", b"{}");
        target.kind = EventKind::Target;
        let events = vec![output(1, platform, "stdout", b"a"), target];
        let decoded = decode(task, &encode(task, &events)).unwrap();
        assert_same(&decoded, &events[..1]);
    }

    #[test]
    fn empty_output() {
        let task = Uuid::new_v4();
        let bytes = encode(task, &[]);
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(decode(task, &bytes).unwrap().is_empty());
    }

    #[test]
    fn many_chunks() {
        let task = Uuid::new_v4();
        let platforms = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let events: Vec<TaskEvent> = (1..=20_000i64)
            .map(|seq| {
                let data: Vec<u8> = (0..(seq % 97) as usize)
                    .map(|i| (seq as usize * 31 + i) as u8)
                    .collect();
                let stream = if seq % 3 == 0 { "stderr" } else { "stdout" };
                output(seq * 2, platforms[seq as usize % 3], stream, &data)
            })
            .collect();
        assert_same(&decode(task, &encode(task, &events)).unwrap(), &events);
    }

    #[test]
    fn truncation_other_tasks_and_versions_are_refused() {
        let task = Uuid::new_v4();
        let platform = Uuid::new_v4();
        let events = vec![
            output(1, platform, "stdout", b"one"),
            output(2, platform, "stdout", b"two"),
        ];
        let bytes = encode(task, &events);
        let cut = bytes[..bytes.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap();
        assert!(decode(task, &bytes[..=cut]).is_err(), "a lost last line");
        assert!(
            decode(task, &bytes[..bytes.len() - 5]).is_err(),
            "a cut line"
        );
        assert!(decode(Uuid::new_v4(), &bytes).is_err(), "another task");
        let text = String::from_utf8(bytes).unwrap();
        let v2 = text.replacen("\"version\":1", "\"version\":2", 1);
        assert!(decode(task, v2.as_bytes()).is_err(), "an unknown version");
        assert!(decode(task, b"").is_err(), "an empty object");
    }
}
