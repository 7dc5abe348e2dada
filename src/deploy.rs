//! Remote side of deploy and revoke: read a platform's authorized_keys over SSH, apply the desired
//! managed lines with the pure engine, and write the result atomically with compare-and-swap.
//!
//! One sync ([`sync_authorized_keys`]) = read the file ([`read_remote`]), compute the new content
//! with [`crate::authorized_keys::apply`], and, only if it changed, write it ([`write_remote`]).
//! A conflicting concurrent edit makes the write refuse; the whole read/apply/write is then
//! retried (up to [`MAX_ATTEMPTS`] times).
//!
//! Both steps are small POSIX `sh` scripts (dash, busybox ash, bash; the login shell must accept
//! `sh -c '...'`, which every Bourne-style shell does) that use only POSIX utilities, plus `flock`,
//! `readlink`, `chcon`/`restorecon` when they exist. The path is passed as a quoted argument; file
//! content travels only over stdin, never on a command line. The write:
//!
//! - resolves a relative `path` under the login user's `$HOME`, and follows a symlinked file to
//!   its target (relative link targets resolved against the link's directory), so the link
//!   survives and the target is updated (case AF-01);
//! - creates the parent directory (normally `~/.ssh`) with mode 0700 when missing (AF-02);
//! - takes an advisory `flock` on `.testum.lock` in that directory when `flock` exists, so two
//!   testum writers never interleave their compare and rename (AF-06), and under it removes the
//!   temporary files of that file a writer cut off mid-way left behind;
//! - creates a temporary file in the same directory with `O_CREAT|O_EXCL` (`set -C`) under
//!   umask 077, writes exactly the new bytes (`dd`), checks the size, gives it the original's
//!   mode minus any group/other write bit (never looser; 0600 for a new file), the original's
//!   owner when it differs and is permitted, and the original's SELinux label (`chcon
//!   --reference`; `restorecon` for new files) (AF-02, AF-03), and fsyncs it (`sync FILE`);
//! - compares the current file with the content read at the start (`cmp`, fed from stdin after
//!   the new content) right before the rename; any difference aborts with exit 75 and the sync is
//!   retried from the read, so a concurrent edit (even a manual `>>` append) is never lost (AF-06);
//! - renames the temporary file over the target (`mv` in one directory is `rename(2)`: there is
//!   never a moment without the file or with a partial file) and fsyncs the directory; when the
//!   file as checked grew meanwhile (a `>>` that had opened it before the rename), it is put back
//!   with what was appended to it and to the new file, and the sync is retried from the read;
//! - on any failure (read-only or full filesystem, permissions) removes the temporary file and
//!   reports the reason from stderr, e.g. "Read-only file system" or "No space left on device";
//!   the original is untouched (AF-07, AF-10).
//!
//! Warnings that do not stop the write (a group-writable home that sshd `StrictModes` will reject,
//! a tightened mode, an owner that could not be kept) come back in [`SyncOutcome::warnings`].
//!
//! Another user's file (finding 1 of issue 13: root managing `/home/alice/.ssh/authorized_keys`
//! that alice turned into a symlink to `/root/.ssh/authorized_keys`): both scripts first apply
//! the ownership rule of [`GUARD`]; a path that belongs to a user other than root and the login
//! user is read and written only by root acting as that user, only through components that
//! sshd's `StrictModes` would accept, and only when the file really lives in a directory of
//! that user. Not done: relabelling outside the target directory.

use std::time::Duration;

use crate::authorized_keys::{Applied, EngineError};
use crate::shell::shell_quote;
use crate::ssh::{Session, SshError};

/// How often a sync is retried after a concurrent edit was detected.
pub const MAX_ATTEMPTS: u32 = 5;
/// Time limit of the read step.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit of the write step (includes up to 30 s waiting for the lock).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest authorized_keys file testum reads (16 MiB).
const MAX_FILE_SIZE: usize = 16 << 20;
/// Exit code of the write script when the file changed since it was read.
const EXIT_CONFLICT: u32 = 75;
/// Exit code of the read script when the file does not exist.
const EXIT_MISSING: u32 = 10;
/// Prefix of warning lines on the scripts' stderr.
const WARNING_PREFIX: &str = "testum-warning: ";

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    /// The file was rewritten.
    pub changed: bool,
    /// Managed lines added.
    pub added: Vec<String>,
    /// Managed lines removed.
    pub removed: Vec<String>,
    /// Problems found on the host that did not stop the sync (e.g. "home directory ... is group-
    /// or world-writable; sshd StrictModes will ignore authorized_keys").
    pub warnings: Vec<String>,
    /// The file as it is after the sync: the bytes written, or those read when nothing had to
    /// change; `None` when it does not exist (nothing to write to a missing file).
    pub content: Option<Vec<u8>>,
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Connecting or running the remote script failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// The remote script failed; the message is its stderr (e.g. "testum: cannot create a
    /// temporary file in /home/u/.ssh: Read-only file system"). The file is unchanged.
    #[error("{0}")]
    Remote(String),
    /// The engine refused to compute new content (damaged markers, invalid line).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The file kept changing under us; nothing was written by the last attempt.
    #[error("authorized_keys changed concurrently {attempts} times; gave up")]
    Conflict {
        /// Attempts made.
        attempts: u32,
    },
    /// The path is empty or contains control characters.
    #[error("invalid authorized_keys path: {0}")]
    InvalidPath(String),
}

/// The file as read from the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteFile {
    /// The exact bytes, or `None` when the file does not exist.
    pub content: Option<Vec<u8>>,
    /// Warnings about modes that sshd `StrictModes` rejects.
    pub warnings: Vec<String>,
}

/// Result of [`write_remote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// The new content is in place.
    Written {
        /// Warnings (tightened mode, owner not kept, ...).
        warnings: Vec<String>,
    },
    /// The file differed from `expected` just before the rename; nothing was changed.
    Conflict,
}

/// Make the managed block of the authorized_keys file at `path` (relative to the login user's home,
/// or absolute) hold exactly `desired` lines.
///
/// Errors: see [`SyncError`]; on every error the remote file is unchanged.
pub async fn sync_authorized_keys(
    session: &Session,
    path: &str,
    desired: &[String],
) -> Result<SyncOutcome, SyncError> {
    sync_with(session, path, |current| {
        crate::authorized_keys::apply(current, desired)
    })
    .await
}

/// [`sync_authorized_keys`] with the content computation supplied by the caller (`compute` gets
/// the current bytes, empty for a missing file, and may be called up to [`MAX_ATTEMPTS`] times).
pub async fn sync_with<F>(
    session: &Session,
    path: &str,
    compute: F,
) -> Result<SyncOutcome, SyncError>
where
    F: Fn(&[u8]) -> Result<Applied, EngineError>,
{
    sync_observed(session, path, compute, |_| {}).await
}

/// [`sync_with`], and `observe` sees each file as read (the last call is the last read, also
/// when the sync then fails: a caller can still report what is on the host).
pub async fn sync_observed<F, O>(
    session: &Session,
    path: &str,
    compute: F,
    mut observe: O,
) -> Result<SyncOutcome, SyncError>
where
    F: Fn(&[u8]) -> Result<Applied, EngineError>,
    O: FnMut(&RemoteFile),
{
    for attempt in 1..=MAX_ATTEMPTS {
        let file = read_remote(session, path).await?;
        observe(&file);
        let applied = compute(file.content.as_deref().unwrap_or_default())?;
        let mut outcome = SyncOutcome {
            changed: false,
            added: applied.added,
            removed: applied.removed,
            warnings: file.warnings,
            content: file.content,
        };
        if !applied.changed {
            return Ok(outcome);
        }
        match write_remote(session, path, outcome.content.as_deref(), &applied.content).await? {
            WriteResult::Written { warnings } => {
                outcome.changed = true;
                outcome.content = Some(applied.content);
                for w in warnings {
                    if !outcome.warnings.contains(&w) {
                        outcome.warnings.push(w);
                    }
                }
                return Ok(outcome);
            }
            WriteResult::Conflict => {
                tracing::info!(
                    path,
                    attempt,
                    "authorized_keys changed concurrently; retrying"
                );
                let jitter = u64::from(rand::random::<u8>()) % 100;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt) + jitter)).await;
            }
        }
    }
    Err(SyncError::Conflict {
        attempts: MAX_ATTEMPTS,
    })
}

fn check_path(path: &str) -> Result<(), SyncError> {
    if path.is_empty() {
        return Err(SyncError::InvalidPath("empty".into()));
    }
    if path.chars().any(char::is_control) {
        return Err(SyncError::InvalidPath("contains control characters".into()));
    }
    if path.ends_with('/') {
        return Err(SyncError::InvalidPath(format!("{path} names a directory")));
    }
    // The ownership rule lists the path's components as written; `..` would make them lie.
    if path.split('/').any(|part| part == "..") {
        return Err(SyncError::InvalidPath(format!("{path} contains '..'")));
    }
    Ok(())
}

/// Split a script's stderr into warnings and the remaining error text.
fn split_stderr(stderr: &[u8]) -> (Vec<String>, String) {
    let text = String::from_utf8_lossy(stderr);
    let mut warnings = Vec::new();
    let mut rest = Vec::new();
    for line in text.lines() {
        match line.strip_prefix(WARNING_PREFIX) {
            Some(w) => warnings.push(w.to_owned()),
            None if !line.trim().is_empty() => {
                let line = line.trim();
                rest.push(line.strip_prefix("testum: ").unwrap_or(line));
            }
            None => {}
        }
    }
    (warnings, rest.join("; "))
}

/// Read the file at `path` (relative to `$HOME` or absolute; a symlink is followed).
///
/// Errors: [`SyncError::Remote`] when it exists but cannot be read or is not a regular file.
pub async fn read_remote(session: &Session, path: &str) -> Result<RemoteFile, SyncError> {
    check_path(path)?;
    let command = script_command("testum-read", READ_SCRIPT, &shell_quote(path));
    let out = session
        .exec_collect(&command, None, Some(READ_TIMEOUT))
        .await?;
    let (warnings, error) = split_stderr(&out.stderr);
    match out.status.code {
        Some(0) if out.stdout.len() <= MAX_FILE_SIZE => Ok(RemoteFile {
            content: Some(out.stdout),
            warnings,
        }),
        Some(0) => Err(SyncError::Remote(format!(
            "{path} is larger than {MAX_FILE_SIZE} bytes"
        ))),
        Some(EXIT_MISSING) => Ok(RemoteFile {
            content: None,
            warnings,
        }),
        _ => Err(SyncError::Remote(remote_failure(
            "reading",
            path,
            &out.status,
            &error,
        ))),
    }
}

fn remote_failure(step: &str, path: &str, status: &crate::ssh::ExitStatus, error: &str) -> String {
    let how = if status.timed_out {
        "timed out".to_owned()
    } else if let Some(sig) = &status.signal {
        format!("killed by {sig}")
    } else if let Some(code) = status.code {
        format!("exit {code}")
    } else {
        "no exit status".to_owned()
    };
    if error.is_empty() {
        format!("{step} {path} failed ({how})")
    } else {
        format!("{step} {path} failed: {error}")
    }
}

/// Replace the file at `path` with `new`, but only if it still holds `expected` (`None`: only if
/// it still does not exist). See the module documentation for the write sequence.
///
/// Errors: [`SyncError::Remote`] with the reason from the host (read-only or full filesystem,
/// permission denied, lock timeout); the file is then unchanged and no temporary file is left.
pub async fn write_remote(
    session: &Session,
    path: &str,
    expected: Option<&[u8]>,
    new: &[u8],
) -> Result<WriteResult, SyncError> {
    check_path(path)?;
    let token = format!("{:016x}", rand::random::<u64>());
    let args = format!(
        "{} {} {} {token}",
        shell_quote(path),
        new.len(),
        if expected.is_some() {
            "present"
        } else {
            "absent"
        },
    );
    let command = script_command("testum-write", WRITE_SCRIPT, &args);
    // stdin: the new content, then (for the compare-and-swap) the content read before.
    let mut stdin = Vec::with_capacity(new.len() + expected.map_or(0, <[u8]>::len));
    stdin.extend_from_slice(new);
    stdin.extend_from_slice(expected.unwrap_or_default());
    let out = session
        .exec_collect(&command, Some(&stdin), Some(WRITE_TIMEOUT))
        .await?;
    let (warnings, error) = split_stderr(&out.stderr);
    match out.status.code {
        Some(0) => Ok(WriteResult::Written { warnings }),
        Some(EXIT_CONFLICT) => Ok(WriteResult::Conflict),
        _ => Err(SyncError::Remote(remote_failure(
            "writing",
            path,
            &out.status,
            &error,
        ))),
    }
}

/// The command line that runs [`RESOLVE`], [`GUARD`] and then `step` under `sh` with `args`
/// (already quoted). The script travels as `$1` and runs through `eval`, so [`GUARD`] can run it
/// again as another user.
fn script_command(name: &str, step: &str, args: &str) -> String {
    format!(
        "sh -c 'eval \"$1\"' {name} {} {args}",
        shell_quote(&format!("{RESOLVE}{GUARD}{step}"))
    )
}

/// Shared start of both scripts (run as `sh -c 'eval "$1"' NAME SCRIPT ARGS...`, so the script
/// can run itself again as another user): `$p` becomes the absolute path of the real file (a
/// relative path is taken under `$HOME`; symlinks are followed, at most 40 levels), `$d` its
/// directory; then [`GUARD`] applies the ownership rule.
const RESOLVE: &str = r#"set -u
umask 077
self=$1
shift
p=$1
case $p in /*) ;; *) p=$HOME/$p ;; esac
lexical=$p
n=0
while [ -h "$p" ]; do
  n=$((n + 1))
  if [ "$n" -gt 40 ]; then echo "testum: too many levels of symbolic links: $1" >&2; exit 20; fi
  if command -v readlink >/dev/null 2>&1; then t=$(readlink "$p") || exit 20
  else t=$(ls -ld "$p" | sed 's/^.* -> //'); fi
  case $t in /*) p=$t ;; *) p=${p%/*}/$t ;; esac
done
d=${p%/*}
[ -n "$d" ] || d=/
"#;

/// The ownership rule (sshd `StrictModes`, see `safe_path` in OpenSSH's auth.c), shared by both
/// scripts. Every component of the path as given and of the physical path it leads to (`pwd -P`
/// of the deepest existing directory) is listed with one `ls -ldn` (two when a symlink is on the
/// way). When all directories and symlinks among them belong to root or the login user, nothing
/// changes (a file owned by its user in a root-owned directory, `/etc/ssh/keys/alice`, is written
/// by root, owner kept: its user cannot touch the directory entry). When one other user owns any
/// of them (e.g. root manages `/home/alice/.ssh/authorized_keys`), then:
/// - testum must be logged in as root, every component (the file too) belongs to root or to
///   that owner and is not group- or world-writable, and the directory the file really lives in
///   belongs to the owner (so a symlink is followed only where the owner may write: a link to
///   `/root/.ssh/authorized_keys` is refused), else exit 28 with the reason;
/// - the script runs again as the owner (`setpriv`, util-linux; refused without it), so the file
///   is read and written with the owner's rights, uid and group (the group of that directory),
///   and a path swapped after the check cannot reach a file the owner may not write.
const GUARD: &str = r#"nl='
'
refuse() { echo "testum: $1" >&2; exit 28; }
# names/lines: each existing component of $1 from / down, and its `ls -ldn` line (operands that
# are prefixes of one another sort in path order).
inspect() {
  names=/
  q=
  rest=${1#/}
  set -- /
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
    case $c in '' | .) continue ;; esac
    q=$q/$c
    [ -e "$q" ] || [ -h "$q" ] || break
    set -- "$@" "$q"
    names=$names$nl$q
  done
  lines=$(LC_ALL=C ls -ldn -- "$@" 2>/dev/null)
}
# Walk all_names/all_lines; $1 = owner: find the one uid besides root and me (other) among the
# directories and symlinks (who owns a regular file does not decide who controls its name);
# $1 = modes: refuse loose modes and a file of a third user, and note the uid/gid of $phys
# (dir_uid, dir_gid);
# $1 = find, $2 = a name: set found to its mode string (status 1 when it was not listed).
walk() {
  want=${2-}
  rn=$all_names$nl
  rl=$all_lines$nl
  while [ -n "$rn" ]; do
    [ -n "$rl" ] || refuse "cannot inspect the components of $lexical"
    name=${rn%%"$nl"*}
    rn=${rn#*"$nl"}
    line=${rl%%"$nl"*}
    rl=${rl#*"$nl"}
    set -f
    set -- "$1" $line
    set +f
    [ $# -ge 5 ] || refuse "cannot inspect $name"
    case $1 in
      owner)
        case $2:$4 in
          -*) ;;
          *:0 | *:"$me") ;;
          *) if [ -z "$other" ]; then other=$4
             elif [ "$other" != "$4" ]; then refuse "$lexical crosses directories of two users (uid $other and uid $4)"; fi ;;
        esac ;;
      modes)
        case $2 in
          l*) ;;
          ?????w* | ????????w*) refuse "$name is group- or world-writable (sshd StrictModes); not writing for uid $other through it" ;;
        esac
        case $2:$4 in
          -*:0 | -*:"$other" | [!-]*) ;;
          *) refuse "$name belongs to uid $4, neither root nor uid $other who owns its directory" ;;
        esac
        if [ "$name" = "$phys" ]; then dir_uid=$4; dir_gid=$5; fi ;;
      find) if [ "$name" = "$want" ]; then found=$2; return 0; fi ;;
    esac
  done
  [ -z "$rl" ] || refuse "cannot inspect the components of $lexical"
  [ "$1" != find ]
}
me=$(id -u)
e=$d
while [ ! -d "$e" ]; do e=${e%/*}; [ -n "$e" ] || e=/; done
if cd -P "$e" 2>/dev/null; then phys=$PWD; else phys=$e; fi
if [ "$n" -eq 0 ] && [ "$phys" = "$e" ]; then
  inspect "$p"
  all_names=$names
  all_lines=$lines
else
  inspect "$lexical"
  all_names=$names
  all_lines=$lines
  if [ "$e" = "$d" ]; then inspect "$phys/${p##*/}"; else inspect "$phys"; fi
  all_names=$all_names$nl$names
  all_lines=$all_lines$nl$lines
fi
other=
walk owner
if [ -n "$other" ]; then
  [ "$me" = 0 ] || refuse "$lexical belongs to uid $other; testum writes another user's authorized_keys only when it logs in as root"
  dir_uid=
  dir_gid=
  walk modes
  [ "$dir_uid" = "$other" ] || refuse "$lexical leads to $phys, which belongs to uid $dir_uid, not to uid $other who owns the path; a symlink is followed only where its owner may write"
  command -v setpriv >/dev/null 2>&1 || refuse "setpriv (util-linux) is needed to act as uid $other for $lexical"
  shift
  exec setpriv --reuid="$other" --regid="$dir_gid" --clear-groups sh -c 'eval "$1"' "$0" "$self" "$lexical" "$@"
fi
"#;

/// Read step: print the file to stdout (exit 0) or exit 10 when it does not exist; warn about
/// modes sshd `StrictModes` rejects.
const READ_SCRIPT: &str = r#"
# Group- or world-writable: the 6th or 9th character of the mode is a w. The mode comes from
# the guard's listing when it has the path (no process), else from one `ls`.
writable() {
  if walk find "$1"; then m=$found; else m=$(ls -ld "$1" 2>/dev/null) || return 1; fi
  case $m in ?????w*|????????w*) return 0 ;; esac
  return 1
}
case $1 in
  /*) ;;
  *) if writable "$HOME"; then echo "testum-warning: home directory $HOME is group- or world-writable; sshd StrictModes will ignore authorized_keys" >&2; fi ;;
esac
if [ -d "$d" ] && writable "$d"; then echo "testum-warning: directory $d is group- or world-writable; sshd StrictModes will ignore authorized_keys" >&2; fi
if [ -e "$p" ] || [ -h "$p" ]; then
  if [ ! -f "$p" ]; then echo "testum: $p is not a regular file" >&2; exit 21; fi
  if writable "$p"; then echo "testum-warning: $p is group- or world-writable; sshd StrictModes will ignore it (the next write fixes the mode)" >&2; fi
  exec cat "$p"
fi
exit 10
"#;

/// Write step: args `path new_len present|absent token`; stdin = new content, then the content
/// read before (compare-and-swap). Exit 0 written, 75 conflict, other = failure (stderr).
const WRITE_SCRIPT: &str = r#"
len=$2
expect=$3
tmp=$d/.${p##*/}.testum-$4
old=
new=
lock=$d/.testum.lock
reason() { printf '%s\n' "$1" | grep -v -e 'records in' -e 'records out' -e 'bytes' | sed 's/^.*: //' | tail -n 1; }
# One `ls -ldn` gives a file's mode, owner and size: fewer processes per host (the fleet's sshd
# hosts run this script hundreds at a time).
stat_of() { set -f; set -- $(ls -ldn "$1"); set +f; mode=$1; owner=$3:$4; size=$5; }
# $1: three mode characters; b: the chmod letters they grant (set-id and sticky bits dropped).
bits() {
  b=
  case $1 in r??) b=r ;; esac
  case $1 in ?w?) b=${b}w ;; esac
  case $1 in ??[xst]) b=${b}x ;; esac
}
if [ ! -d "$d" ]; then
  if ! err=$(mkdir -p "$d" 2>&1); then echo "testum: cannot create directory $d: $(reason "$err")" >&2; exit 22; fi
  chmod 700 "$d"
  if command -v restorecon >/dev/null 2>&1; then restorecon "$d" 2>/dev/null; fi
fi
trap 'rm -f "$tmp" ${old:+"$old"} ${new:+"$new"}' EXIT
trap 'exit 129' HUP
# When testum's connection ends (its worker killed, the network cut), stderr is a closed pipe:
# the next message would end the shell by SIGPIPE, which skips the EXIT trap and leaves the
# temporary file (issue 13's fault campaign: 4 in 353 faults). Exit through the trap instead.
trap 'exit 141' PIPE
trap 'exit 130' INT
trap 'exit 143' TERM
if command -v flock >/dev/null 2>&1 && (: >>"$lock") 2>/dev/null; then
  exec 9>>"$lock"
  if ! flock -w 30 9; then echo "testum: timed out waiting for the lock $lock" >&2; exit 23; fi
  # Under the lock no other testum writer is between its temporary file and its rename, so
  # temporary files of this file that are still here were left by a writer whose connection
  # was cut (kill -9 or a lost link skip its trap): remove them.
  h='[0-9a-f]'
  h4=$h$h$h$h
  for stale in "$d/.${p##*/}.testum-"*; do
    case ${stale##*.testum-} in
      $h4$h4$h4$h4 | $h4$h4$h4$h4.old | $h4$h4$h4$h4.new) ;;
      *) continue ;;
    esac
    if [ -f "$stale" ] && [ ! -h "$stale" ]; then rm -f "$stale"; fi
  done
fi
if ! err=$( (set -C; : >"$tmp") 2>&1 ); then
  trap - EXIT
  echo "testum: cannot create a temporary file in $d: $(reason "$err")" >&2
  exit 24
fi
if ! err=$(dd ibs=1 obs=65536 count="$len" 2>&1 >>"$tmp"); then
  echo "testum: cannot write the new file in $d: $(reason "$err")" >&2
  exit 25
fi
stat_of "$tmp"
mine=$owner
if [ "$size" != "$len" ]; then echo "testum: short write in $d ($size of $len bytes)" >&2; exit 25; fi
if [ -e "$p" ]; then
  stat_of "$p"
  m=${mode#?}
  rest=${m#???}
  u=${m%"$rest"}
  m=${rest#???}
  g=${rest%"$m"}
  o=${m%"${m#???}"}
  bits "$u"; u=$b
  bits "$g"; g=$b
  bits "$o"; o=$b
  case $g$o in *w*) echo "testum-warning: $p was group- or world-writable; the new file is not (sshd StrictModes)" >&2 ;; esac
  case $g in *w*) g=${g%%w*}${g#*w} ;; esac
  case $o in *w*) o=${o%%w*}${o#*w} ;; esac
  if ! err=$(chmod "u=$u,g=$g,o=$o" "$tmp" 2>&1); then echo "testum: cannot set the mode of the new file: $(reason "$err")" >&2; exit 26; fi
  if [ "$owner" != "$mine" ]; then
    chown "$owner" "$tmp" 2>/dev/null || echo "testum-warning: cannot keep the owner $owner of $p; the new file belongs to $mine" >&2
  fi
  if command -v chcon >/dev/null 2>&1 && [ -e /sys/fs/selinux/enforce ]; then
    chcon --reference="$p" "$tmp" 2>/dev/null || echo "testum-warning: cannot copy the SELinux label of $p" >&2
  fi
fi
sync "$tmp" 2>/dev/null || sync
if [ "$expect" = present ]; then
  # A second name for the file as checked: a writer that does not take the lock and appends
  # between the check and the rename is caught below instead of lost (no hard links: old= ).
  # Its size is taken before the compare: an append between the two then fails the compare
  # (taken after it, an append in between was counted as checked and lost; issue 13's fault
  # campaign lost five lines so on a loaded machine).
  old=$tmp.old
  ln "$p" "$old" 2>/dev/null || old=
  if [ -n "$old" ]; then stat_of "$old"; checked=$size; fi
  if [ ! -f "$p" ] || ! cmp -s - "$p"; then echo "testum: $p changed since it was read" >&2; exit 75; fi
elif [ -e "$p" ]; then
  echo "testum: $p appeared since it was read" >&2; exit 75
fi
if ! err=$(mv -f "$tmp" "$p" 2>&1); then echo "testum: cannot replace $p: $(reason "$err")" >&2; exit 27; fi
if [ -n "$old" ]; then
  stat_of "$old"
  if [ "$size" != "$checked" ]; then
    # It grew after the check: put it back, append included, and let the deploy read it again.
    # A writer that opened the name after the rename appended to the new file: carry what it
    # added (the bytes past our $len) over to the file put back (issue 13's fault campaign lost
    # such lines once in 412 faults).
    new=$tmp.new
    ln "$p" "$new" 2>/dev/null || new=
    mv -f "$old" "$p" 2>/dev/null
    if [ -n "$new" ]; then
      stat_of "$new"
      if [ "$size" -gt "$len" ]; then tail -c +$((len + 1)) "$new" >>"$p"; fi
    fi
    echo "testum: $p changed while it was replaced" >&2; exit 75
  fi
fi
sync "$d" 2>/dev/null
if [ "$expect" = absent ] && command -v restorecon >/dev/null 2>&1; then restorecon "$p" 2>/dev/null; fi
exit 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_splits_warnings() {
        let (w, e) = split_stderr(b"testum-warning: a\nsh: boom\n\ntestum-warning: b\ntestum: x\n");
        assert_eq!(w, vec!["a", "b"]);
        assert_eq!(e, "sh: boom; x");
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(check_path("").is_err());
        assert!(check_path("a\nb").is_err());
        assert!(check_path(".ssh/").is_err());
        assert!(check_path("/home/a/../root/.ssh/authorized_keys").is_err());
        assert!(check_path(".ssh/authorized_keys").is_ok());
    }
}
