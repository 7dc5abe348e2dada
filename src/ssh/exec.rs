//! Running one command in a session channel (RFC 4254 section 6.5).
//!
//! One loop drives everything, so nothing can deadlock on flow control: it reads channel messages
//! (stdout = data, stderr = extended data type 1) and hands each chunk to the caller's bounded
//! channel as it arrives; it writes the given stdin (respecting the window) and then sends
//! `SSH_MSG_CHANNEL_EOF`, or EOF at once without stdin; it records `exit-status` / `exit-signal`
//! (RFC 4254 section 6.10) and returns when the server closes the channel. Back-pressure: while a
//! chunk waits for room in the caller's channel no further message is read, which stalls the
//! remote side (through the SSH window) instead of buffering; the timeout still fires meanwhile.
//!
//! Timeout (case EX-07): closing the channel alone leaves a command without a PTY running on
//! OpenSSH, so the loop sends `signal TERM` (RFC 4254 section 6.9), after [`TERM_GRACE`]
//! `signal KILL`, and after [`KILL_GRACE`] gives up and closes the channel. OpenSSH (7.9+)
//! delivers a `signal` request with `killpg()` to the session's process group (the command runs
//! in its own session via `setsid()`), so children such as `sleep` in `sh -c 'sleep 5; touch x'`
//! die too. OpenSSH refuses `signal` for forced commands and subsystems, and for root logins
//! ("session signalling requires privilege separation"). So user commands run under a small
//! wrapper that first reports its process id on stderr (`testum-pgid:<pid>`, a line the reader
//! removes) and then `exec`s the user's login shell on the command: that pid is the session's
//! process group, and besides each `signal` request the loop runs `kill -SIG -- -<pgid>` on a
//! second channel. When neither works the result says `terminated: false`.

use std::time::Duration;

use bytes::Bytes;
use russh::client;
use russh::{ChannelMsg, Sig};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handler::Client;
use super::{ExitStatus, SshError, Stream};
use crate::shell::shell_quote;

/// Time between `signal TERM` and `signal KILL` after a timeout.
pub const TERM_GRACE: Duration = Duration::from_secs(2);
/// Time after `signal KILL` before the channel is abandoned unconfirmed.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

/// Collected result of [`super::Session::exec_collect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// How the command ended.
    pub status: ExitStatus,
    /// All stdout bytes, exactly as received.
    pub stdout: Vec<u8>,
    /// All stderr bytes, exactly as received.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stderr as text (invalid UTF-8 replaced by U+FFFD), trimmed; for error messages.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// An actionable explanation for a known `sudo` failure in `stderr` (case EX-08), or `None`.
///
/// Recognises "sorry, you must have a tty to run sudo" (`Defaults requiretty`), "a password is
/// required" (what `sudo -n` prints when it would prompt) and "is not in the sudoers file" /
/// "is not allowed to run sudo" / "not allowed to execute". Run privileged commands as
/// `sudo -n ...` so they fail fast with one of these instead of waiting for a prompt.
pub fn sudo_hint(stderr: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(stderr).to_lowercase();
    if text.contains("must have a tty") {
        Some(
            "host requires a TTY for sudo: enable a PTY for this host or add \
             `Defaults:<user> !requiretty` to sudoers",
        )
    } else if text.contains("password is required") {
        Some("sudo needs a password: store one for this platform or configure NOPASSWD")
    } else if text.contains("not in the sudoers file")
        || text.contains("not allowed to run sudo")
        || text.contains("not allowed to execute")
    {
        Some("the login user may not run this command with sudo")
    } else {
        None
    }
}

/// Name of a signal as RFC 4254 sends it (without `SIG`).
fn signal_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(name) => name.trim_start_matches("SIG").to_owned(),
    }
}

/// First stderr line of a wrapped command: this marker and the process group id.
const PGID_MARKER: &[u8] = b"testum-pgid:";

/// `command` wrapped so that its process group can be killed by id (see the module docs). The
/// wrapper is POSIX sh; `$$` is the session leader sshd started (it calls `setsid()`), and `exec`
/// keeps that pid for the user's login shell running `command`.
fn wrap_command(command: &str) -> String {
    format!(
        "printf 'testum-pgid:%s\\n' \"$$\" >&2; exec \"${{SHELL:-/bin/sh}}\" -c {}",
        shell_quote(command)
    )
}

/// Reads the wrapper's first stderr line.
enum PgidHeader {
    /// Still reading the first line (bytes so far).
    Reading(Vec<u8>),
    /// Done: the process group id, if the line was there.
    Done(Option<u32>),
}

impl PgidHeader {
    /// Most stderr bytes looked at for the marker line; lines before it (a login shell's or a
    /// verbose server's chatter) are passed on unchanged.
    const LOOK_AT: usize = 4096;

    /// Feed stderr `data`; returns the bytes that are the command's own stderr.
    fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let PgidHeader::Reading(buf) = self else {
            return data.to_vec();
        };
        buf.extend_from_slice(data);
        let mut own = Vec::new();
        while let Some(newline) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=newline).collect();
            if let Some(id) = line.strip_prefix(PGID_MARKER) {
                let pgid = std::str::from_utf8(id)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
                own.append(buf);
                *self = PgidHeader::Done(pgid);
                return own;
            }
            own.extend_from_slice(&line);
        }
        if own.len() + buf.len() > Self::LOOK_AT {
            // No marker where it should be (e.g. a forced command ran instead): stop looking.
            own.append(buf);
            *self = PgidHeader::Done(None);
        }
        own
    }

    fn pgid(&self) -> Option<u32> {
        match self {
            PgidHeader::Done(pgid) => *pgid,
            PgidHeader::Reading(_) => None,
        }
    }
}

/// Send `signal` to process group `pgid` with `kill` run on a new channel of the same connection
/// (bounded: 5 s). For servers that refuse `signal` requests (OpenSSH for root logins).
async fn kill_group(handle: &client::Handle<Client>, pgid: u32, signal: &str) {
    let run = async {
        let mut channel = handle.channel_open_session().await.ok()?;
        let command = format!(
            "kill -{signal} -- -{pgid} 2>/dev/null || kill -{signal} {pgid} 2>/dev/null; true"
        );
        channel.exec(true, command).await.ok()?;
        while let Some(msg) = channel.wait().await {
            if matches!(msg, ChannelMsg::Close) {
                break;
            }
        }
        Some(())
    };
    if tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_err()
    {
        tracing::debug!(pgid, signal, "kill on a second channel did not finish");
    }
}

/// Where the timeout handling stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    TermSent,
    KillSent,
}

/// See [`super::Session::exec`].
pub(crate) async fn run(
    handle: &client::Handle<Client>,
    command: &str,
    stdin: Option<&[u8]>,
    timeout: Option<Duration>,
    output: mpsc::Sender<(Stream, Bytes)>,
    cancel: impl std::future::Future<Output = ()>,
    wrap: bool,
) -> Result<ExitStatus, SshError> {
    tokio::pin!(cancel);
    let wrapped;
    let (command, mut header) = if wrap {
        wrapped = wrap_command(command);
        (wrapped.as_str(), PgidHeader::Reading(Vec::new()))
    } else {
        (command, PgidHeader::Done(None))
    };
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| SshError::Protocol(format!("opening a session channel: {e}")))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| SshError::Protocol(format!("sending the exec request: {e}")))?;
    let (mut rx, tx) = channel.split();

    let write = async {
        if let Some(data) = stdin.filter(|d| !d.is_empty()) {
            tx.data_bytes(Bytes::copy_from_slice(data)).await?;
        }
        tx.eof().await
    };
    tokio::pin!(write);
    let mut writing = true;

    let mut status = ExitStatus::default();
    let mut exec_answered = false;
    let mut consumer_gone = false;
    let mut pending: Option<(Stream, Bytes)> = None;
    let mut phase = Phase::Running;
    let mut next_step = timeout.map(|t| Instant::now() + t);
    let mut closed = false;

    loop {
        let step_at = next_step;
        tokio::select! {
            // Hand a waiting chunk to the consumer; no new message is read meanwhile.
            permit = output.reserve(), if pending.is_some() => {
                match (permit, pending.take()) {
                    (Ok(permit), Some(chunk)) => permit.send(chunk),
                    (Err(_), _) => consumer_gone = true,
                    (Ok(_), None) => {}
                }
            }
            msg = rx.wait(), if pending.is_none() => {
                let Some(msg) = msg else { break };
                match msg {
                    ChannelMsg::Data { data } if !consumer_gone => {
                        pending = Some((Stream::Stdout, data));
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        let own = header.feed(&data);
                        if !consumer_gone && !own.is_empty() {
                            pending = Some((Stream::Stderr, Bytes::from(own)));
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status } => status.code = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name: sig, core_dumped, .. } => {
                        status.signal = Some(signal_name(&sig));
                        status.core_dumped = core_dumped;
                    }
                    ChannelMsg::Success => exec_answered = true,
                    ChannelMsg::Failure if !exec_answered => {
                        return Err(SshError::Protocol(
                            "the server refused to run the command".into(),
                        ));
                    }
                    ChannelMsg::Close => {
                        closed = true;
                        break;
                    }
                    _ => {}
                }
            }
            result = &mut write, if writing => {
                writing = false;
                if let Err(e) = result {
                    // The command may legitimately exit without reading its input.
                    tracing::debug!(error = %e, "writing stdin stopped");
                }
            }
            () = &mut cancel, if phase == Phase::Running && !status.cancelled => {
                status.cancelled = true;
                terminate(handle, &tx, header.pgid(), Sig::TERM).await;
                phase = Phase::TermSent;
                next_step = Some(Instant::now() + TERM_GRACE);
            }
            () = sleep_until(step_at), if step_at.is_some() => {
                let now = Instant::now();
                match phase {
                    Phase::Running => {
                        status.timed_out = true;
                        terminate(handle, &tx, header.pgid(), Sig::TERM).await;
                        phase = Phase::TermSent;
                        next_step = Some(now + TERM_GRACE);
                    }
                    Phase::TermSent => {
                        terminate(handle, &tx, header.pgid(), Sig::KILL).await;
                        phase = Phase::KillSent;
                        next_step = Some(now + KILL_GRACE);
                    }
                    Phase::KillSent => {
                        tracing::warn!("remote command ignored TERM and KILL; abandoning channel");
                        let _ = tx.close().await;
                        break;
                    }
                }
            }
        }
    }
    if status.timed_out || status.cancelled {
        status.terminated = closed || status.code.is_some() || status.signal.is_some();
        return Ok(status);
    }
    if !closed && status.code.is_none() && status.signal.is_none() {
        return Err(SshError::Protocol(
            "the connection ended before the command finished".into(),
        ));
    }
    Ok(status)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Signal the command: the RFC 4254 `signal` request, and `kill` on the process group when the
/// wrapper reported one (OpenSSH ignores the request for root logins).
async fn terminate(
    handle: &client::Handle<Client>,
    tx: &russh::ChannelWriteHalf<client::Msg>,
    pgid: Option<u32>,
    sig: Sig,
) {
    let name = signal_name(&sig);
    send_signal(tx, sig).await;
    if let Some(pgid) = pgid {
        kill_group(handle, pgid, &name).await;
    }
}

async fn send_signal(tx: &russh::ChannelWriteHalf<client::Msg>, sig: Sig) {
    let name = signal_name(&sig);
    if let Err(e) = tx.signal(sig).await {
        tracing::debug!(error = %e, signal = %name, "sending signal request failed");
    }
}

/// See [`super::Session::exec_collect`].
pub(crate) async fn collect(
    handle: &client::Handle<Client>,
    command: &str,
    stdin: Option<&[u8]>,
    timeout: Option<Duration>,
) -> Result<Output, SshError> {
    let (sender, mut receiver) = mpsc::channel::<(Stream, Bytes)>(64);
    let gather = async {
        let mut out = Output::default();
        while let Some((stream, chunk)) = receiver.recv().await {
            match stream {
                Stream::Stdout => out.stdout.extend_from_slice(&chunk),
                Stream::Stderr => out.stderr.extend_from_slice(&chunk),
            }
        }
        out
    };
    let (status, mut out) = tokio::join!(
        run(
            handle,
            command,
            stdin,
            timeout,
            sender,
            std::future::pending(),
            false
        ),
        gather
    );
    out.status = status?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_line_is_removed_from_stderr() {
        let mut header = PgidHeader::Reading(Vec::new());
        assert_eq!(header.feed(b"testum-pg"), b"");
        assert_eq!(header.feed(b"id:4242\nreal "), b"real ");
        assert_eq!(header.pgid(), Some(4242));
        assert_eq!(header.feed(b"stderr"), b"stderr");

        let mut other = PgidHeader::Reading(Vec::new());
        assert_eq!(
            other.feed(b"forced command says hi\n"),
            b"forced command says hi\n"
        );
        assert_eq!(other.pgid(), None);
    }

    #[test]
    fn sudo_messages_are_recognised() {
        assert!(
            sudo_hint(b"sudo: sorry, you must have a tty to run sudo\n")
                .is_some_and(|h| h.contains("TTY"))
        );
        assert!(
            sudo_hint(b"sudo: a password is required\n").is_some_and(|h| h.contains("password"))
        );
        assert_eq!(sudo_hint(b"ls: cannot access"), None);
    }

    #[test]
    fn compat_codes() {
        let killed = ExitStatus {
            signal: Some("KILL".into()),
            ..Default::default()
        };
        assert_eq!(killed.compat_code(), Some(137));
        assert!(!killed.success());
        let term = ExitStatus {
            signal: Some("TERM".into()),
            ..Default::default()
        };
        assert_eq!(term.compat_code(), Some(143));
        let ok = ExitStatus {
            code: Some(0),
            ..Default::default()
        };
        assert!(ok.success());
    }
}
