//! Two rules about the lines outside testum's block, for a sync (issue 10):
//!
//! - [`shadowing_conflict`]: a managed entry that an earlier unmanaged line for the same key
//!   would always win over. sshd tries the lines in order and uses the first that matches the
//!   key (auth2-pubkeyfile.c `auth_check_authkeys_file`), so such an entry never takes effect;
//!   a deploy that would only add it must fail with "conflict" instead of reporting success.
//! - [`remove_unmanaged_keys`]: exclusive mode. Every key line outside the block goes, except the
//!   key testum logs in with (lockout guard); comments, blank lines, lines sshd skips and the
//!   block itself stay byte for byte.

use super::{
    EngineError, KeyLine, LineKind, find_block, parse, shadows, split_lines, validate_entry,
};

/// Key lines outside the block that [`remove_unmanaged_keys`] removed: `(line number, line)`,
/// numbers as in the file before the removal.
pub type RemovedLines = Vec<(usize, String)>;

/// The line number (1-based) and a description of the first unmanaged line that shadows one of
/// `added` (managed lines a sync is about to add), as an error message; `None` when none does.
///
/// A line shadows an added entry when it comes before the block (or anywhere, while there is no
/// block yet: a new block goes at the end), carries the same key, is of the same kind
/// (`cert-authority` or not: sshd matches those separately), has different options, and has none
/// of the options that let sshd fall through to a later line when they do not match (`from=`,
/// `principals=`, `expiry-time=`). The same key with the same options is a harmless duplicate.
///
/// # Errors
/// [`EngineError::DamagedMarkers`]; [`EngineError::InvalidLine`] for a bad `added` line.
pub fn shadowing_conflict(current: &[u8], added: &[String]) -> Result<Option<String>, EngineError> {
    let wanted: Vec<KeyLine> = added
        .iter()
        .enumerate()
        .map(|(i, line)| validate_entry(i, line))
        .collect::<Result<_, _>>()?;
    if wanted.is_empty() {
        return Ok(None);
    }
    let block = find_block(&split_lines(current))?;
    for (index, line) in parse(current).iter().enumerate() {
        if block.is_some_and(|b| index >= b.begin) {
            break;
        }
        let LineKind::Key(found) = &line.kind else {
            continue;
        };
        if wanted.iter().any(|want| shadows(found, want)) {
            // Option names only: a value (a forced command, an environment) may hold anything.
            let names: Vec<String> = found.options.iter().map(|o| o.normalized_name()).collect();
            let options = if names.is_empty() {
                "no options".to_owned()
            } else {
                format!("options {}", names.join(","))
            };
            return Ok(Some(format!(
                "line {} (not managed by testum) already grants this {} key with {options}; \
                 sshd uses the first matching line, so the managed entry would never take \
                 effect. Remove line {} by hand, or set the platform to exclusive mode",
                line.number, found.key_type, line.number
            )));
        }
    }
    Ok(None)
}

/// Exclusive mode: `current` without the key lines outside testum's block, except those for
/// which `keep` is true (the key testum logs in with). Everything else is kept byte for byte.
/// Returns the new content and the removed lines.
///
/// # Errors
/// [`EngineError::DamagedMarkers`]: with damaged markers nobody can tell which lines testum
/// owns, so nothing is removed.
pub fn remove_unmanaged_keys(
    current: &[u8],
    keep: impl Fn(&KeyLine) -> bool,
) -> Result<(Vec<u8>, RemovedLines), EngineError> {
    let block = find_block(&split_lines(current))?;
    let mut content = Vec::with_capacity(current.len());
    let mut removed = Vec::new();
    for (index, line) in parse(current).into_iter().enumerate() {
        let in_block = block.is_some_and(|b| (b.begin..=b.end).contains(&index));
        if let LineKind::Key(key) = &line.kind
            && !in_block
            && !keep(key)
        {
            removed.push((line.number, String::from_utf8_lossy(&line.raw).into_owned()));
            continue;
        }
        content.extend_from_slice(&line.raw);
        content.extend_from_slice(line.ending.as_bytes());
    }
    Ok((content, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1";

    #[test]
    fn an_earlier_restricted_copy_of_the_key_is_a_conflict_naming_its_line() {
        let file = format!("# hand\ncommand=\"/bin/false\" {KEY_A} old\n");
        let message = shadowing_conflict(file.as_bytes(), &[format!("{KEY_A} new")])
            .unwrap()
            .unwrap();
        assert!(message.starts_with("line 2 "), "{message}");
    }

    #[test]
    fn from_restricted_or_identical_earlier_lines_are_no_conflict() {
        let from = format!("from=\"10.0.0.1\" {KEY_A}\n");
        assert_eq!(
            shadowing_conflict(from.as_bytes(), &[KEY_A.into()]).unwrap(),
            None
        );
        let same = format!("{KEY_A} same key, same options\n");
        assert_eq!(
            shadowing_conflict(same.as_bytes(), &[KEY_A.into()]).unwrap(),
            None
        );
        let other = format!("restrict {KEY_B}\n");
        assert_eq!(
            shadowing_conflict(other.as_bytes(), &[KEY_A.into()]).unwrap(),
            None
        );
    }

    #[test]
    fn lines_after_the_block_do_not_shadow_it() {
        let file = format!(
            "{}\n{KEY_A}\n{}\nrestrict {KEY_A}\n",
            super::super::BEGIN_MARKER,
            super::super::END_MARKER
        );
        assert_eq!(
            shadowing_conflict(file.as_bytes(), &[KEY_A.into()]).unwrap(),
            None
        );
    }

    #[test]
    fn exclusive_removes_only_unmanaged_key_lines_and_keeps_the_login_key() {
        let file = format!(
            "# comment\r\n{KEY_A} login\r\n\r\n{KEY_B} stranger\r\ngarbage line\r\n{}\n{KEY_B}\n{}\nrestrict {KEY_B}",
            super::super::BEGIN_MARKER,
            super::super::END_MARKER
        );
        let (content, removed) =
            remove_unmanaged_keys(file.as_bytes(), |k| k.render().starts_with(KEY_A)).unwrap();
        let expected = format!(
            "# comment\r\n{KEY_A} login\r\n\r\ngarbage line\r\n{}\n{KEY_B}\n{}\n",
            super::super::BEGIN_MARKER,
            super::super::END_MARKER
        );
        assert_eq!(String::from_utf8(content).unwrap(), expected);
        assert_eq!(
            removed,
            vec![
                (4, format!("{KEY_B} stranger")),
                (9, format!("restrict {KEY_B}"))
            ]
        );
    }

    #[test]
    fn exclusive_refuses_damaged_markers() {
        let file = format!("{}\n{KEY_A}\n", super::super::BEGIN_MARKER);
        assert!(matches!(
            remove_unmanaged_keys(file.as_bytes(), |_| false),
            Err(EngineError::DamagedMarkers(_))
        ));
    }
}
