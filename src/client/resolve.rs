//! Naming a key or a platform on the command line (the API takes ids; people type names). One
//! resolver for every place a key or platform is named, in this order:
//!
//! 1. its id, or exactly its name, or (a key) exactly its `SHA256:` fingerprint;
//! 2. else, for a command that only reads ([`Naming::ExactOrPrefix`]), a prefix of its name (or
//!    fingerprint) that only one of them has: `--key ali` is `alice` when no other key's name
//!    starts with `ali`; stderr says which one was taken.
//!
//! A command that changes something (delete, edit, trust, deploy, revoke, run, replace) takes
//! exact names only ([`Naming::Exact`]): a fresh review found `platforms delete db1` run twice
//! deleting `db10` the second time, and `host-key trust clone` clearing `clone1`'s pin. There an
//! unmatched name is refused and the names it starts are offered instead.
//!
//! Nothing found, or several (two keys may share a name; a prefix may fit many), is a
//! [`UsageError`] (exit status 2) that names the flag and lists a few candidates: the CLI never
//! guesses whose key to write or which host to change.

use super::UsageError;

/// How many candidates an ambiguous name lists.
const CANDIDATES: usize = 5;

/// Something people name on the command line.
pub trait Named {
    /// The id the API takes.
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    /// The `SHA256:...` fingerprint of a key; `None` for what has none.
    fn fingerprint(&self) -> Option<&str> {
        None
    }
}

/// Whether a name may be a unique prefix (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The id, the exact name or the exact fingerprint: for commands that change something.
    Exact,
    /// Also a prefix of one name or fingerprint only: for commands that only read.
    ExactOrPrefix,
}

/// What [`resolve`] found, and whether only by a prefix.
#[derive(Debug)]
pub struct Resolved<'a, T> {
    pub item: &'a T,
    pub by_prefix: bool,
}

/// The one of `items` that `text` names (see the module doc); `field` (the flag or command)
/// and `noun` (`key`, `platform`) word the errors.
pub fn resolve<'a, T: Named>(
    field: &str,
    noun: &str,
    items: &'a [T],
    text: &str,
    naming: Naming,
) -> Result<Resolved<'a, T>, UsageError> {
    if text.is_empty() {
        return Err(UsageError(format!("{field}: give a {noun} name")));
    }
    let exact: Vec<&T> = items
        .iter()
        .filter(|i| i.id() == text || i.name() == text || i.fingerprint() == Some(text))
        .collect();
    match exact.as_slice() {
        [one] => {
            return Ok(Resolved {
                item: one,
                by_prefix: false,
            });
        }
        [] => {}
        several => {
            return Err(UsageError(format!(
                "{field}: {} {noun}s are named {text:?}; give the {} of the one you mean: {}",
                several.len(),
                if several.iter().all(|i| i.fingerprint().is_some()) {
                    "fingerprint"
                } else {
                    "id"
                },
                candidates(several, |i| i.fingerprint().unwrap_or(i.id()).to_string())
            )));
        }
    }
    let by_prefix: Vec<&T> = items
        .iter()
        .filter(|i| {
            i.name().starts_with(text) || i.fingerprint().is_some_and(|f| f.starts_with(text))
        })
        .collect();
    match by_prefix.as_slice() {
        [] => Err(UsageError(format!("{field}: no {noun} named {text:?}"))),
        starts if naming == Naming::Exact => Err(UsageError(format!(
            "{field}: no {noun} named {text:?} (this command takes whole names; {text:?} starts: {})",
            candidates(starts, label)
        ))),
        [one] => Ok(Resolved {
            item: one,
            by_prefix: true,
        }),
        several => Err(UsageError(format!(
            "{field}: {text:?} is the start of {} {noun} names; give more of it: {}",
            several.len(),
            candidates(several, label)
        ))),
    }
}

/// The one of `items` that `text` names, as [`resolve`]; when found only by a prefix, stderr
/// says which one was taken (`testum: --key ali: alice (SHA256:...)`).
pub fn pick<'a, T: Named>(
    field: &str,
    noun: &str,
    items: &'a [T],
    text: &str,
    naming: Naming,
) -> Result<&'a T, UsageError> {
    let found = resolve(field, noun, items, text, naming)?;
    if found.by_prefix {
        eprintln!("testum: {field} {text}: {}", label(found.item));
    }
    Ok(found.item)
}

/// `alice`, or for a key `alice (SHA256:...)`.
fn label<T: Named>(item: &T) -> String {
    match item.fingerprint() {
        Some(fingerprint) => format!("{} ({fingerprint})", item.name()),
        None => item.name().to_string(),
    }
}

/// The first [`CANDIDATES`] of `items` shown by `show`, sorted, then `and N more`.
fn candidates<T>(items: &[&T], show: impl Fn(&T) -> String) -> String {
    let mut shown: Vec<String> = items.iter().map(|i| show(i)).collect();
    shown.sort();
    let more = shown.len().saturating_sub(CANDIDATES);
    shown.truncate(CANDIDATES);
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Key(&'static str, &'static str, &'static str);

    impl Named for Key {
        fn id(&self) -> &str {
            self.0
        }
        fn name(&self) -> &str {
            self.1
        }
        fn fingerprint(&self) -> Option<&str> {
            Some(self.2)
        }
    }

    #[derive(Debug)]
    struct Platform(&'static str, &'static str);

    impl Named for Platform {
        fn id(&self) -> &str {
            self.0
        }
        fn name(&self) -> &str {
            self.1
        }
    }

    fn keys() -> Vec<Key> {
        vec![
            Key("1", "alice-laptop", "SHA256:aaaa"),
            Key("2", "alice-desktop", "SHA256:abbb"),
            Key("3", "bob", "SHA256:cccc"),
            Key("4", "carol", "SHA256:dddd"),
            Key("5", "carol", "SHA256:eeee"),
        ]
    }

    fn found(text: &str) -> (&'static str, bool) {
        let keys = keys();
        let found = resolve("--key", "key", &keys, text, Naming::ExactOrPrefix).unwrap();
        (
            keys.iter().find(|k| k.0 == found.item.0).unwrap().0,
            found.by_prefix,
        )
    }

    fn refused(text: &str) -> String {
        resolve("--key", "key", &keys(), text, Naming::ExactOrPrefix)
            .unwrap_err()
            .0
    }

    #[test]
    fn a_name_an_id_or_a_fingerprint_names_exactly() {
        assert_eq!(found("bob"), ("3", false));
        assert_eq!(found("2"), ("2", false));
        assert_eq!(found("SHA256:eeee"), ("5", false));
    }

    #[test]
    fn a_unique_prefix_of_a_name_or_fingerprint_names_one() {
        assert_eq!(found("b"), ("3", true));
        assert_eq!(found("alice-l"), ("1", true));
        assert_eq!(found("SHA256:ab"), ("2", true));
    }

    #[test]
    fn an_ambiguous_name_or_prefix_lists_candidates() {
        assert_eq!(
            refused("alice"),
            "--key: \"alice\" is the start of 2 key names; give more of it: \
             alice-desktop (SHA256:abbb), alice-laptop (SHA256:aaaa)"
        );
        assert_eq!(
            refused("carol"),
            "--key: 2 keys are named \"carol\"; give the fingerprint of the one you mean: \
             SHA256:dddd, SHA256:eeee"
        );
        assert_eq!(refused("dave"), "--key: no key named \"dave\"");
        assert_eq!(refused(""), "--key: give a key name");
    }

    #[test]
    fn a_long_list_of_candidates_is_cut() {
        let platforms: Vec<Platform> = [
            "web1", "web2", "web3", "web4", "web5", "web6", "web7", "db1",
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| Platform(["a", "b", "c", "d", "e", "f", "g", "h"][i], name))
        .collect();
        assert_eq!(
            resolve(
                "--platform",
                "platform",
                &platforms,
                "web",
                Naming::ExactOrPrefix
            )
            .unwrap_err()
            .0,
            "--platform: \"web\" is the start of 7 platform names; give more of it: \
             web1, web2, web3, web4, web5 and 2 more"
        );
        let found = resolve(
            "--platform",
            "platform",
            &platforms,
            "db",
            Naming::ExactOrPrefix,
        )
        .unwrap();
        assert_eq!(found.item.0, "h");
    }

    #[test]
    fn a_command_that_changes_something_takes_whole_names_only() {
        // The fresh review's case: `platforms delete db1` run again after db1 is gone must not
        // take db10.
        let platforms = [Platform("a", "db10"), Platform("b", "web1")];
        let exact = |text| resolve("delete", "platform", &platforms, text, Naming::Exact);
        assert_eq!(
            exact("db1").unwrap_err().0,
            "delete: no platform named \"db1\" (this command takes whole names; \"db1\" starts: db10)"
        );
        assert_eq!(exact("db10").unwrap().item.0, "a");
        assert_eq!(exact("b").unwrap().item.1, "web1", "an id is exact");
        assert_eq!(
            exact("nope").unwrap_err().0,
            "delete: no platform named \"nope\""
        );
        let keys = keys();
        let key = resolve("--key", "key", &keys, "SHA256:ab", Naming::Exact);
        assert!(
            key.is_err(),
            "a fingerprint prefix is not a whole fingerprint"
        );
        let key = resolve("--key", "key", &keys, "SHA256:abbb", Naming::Exact).unwrap();
        assert_eq!(key.item.1, "alice-desktop");
    }
}
