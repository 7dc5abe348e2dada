//! The peer test vectors in `tests/cases/external/` (schema in its README.md) for the parsers'
//! unit tests: loading the vectors of some kinds, and checking that the vectors a parser
//! disagrees with OpenSSH on are exactly the documented ones.
//!
//! Each parser's test keeps its own list of deliberate differences ([`Deliberate`]: a reason and
//! the vector ids). A disagreement missing from the list fails the test, and so does a listed
//! vector that now agrees or differs for another reason, so the list stays true.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

const EXTERNAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/external/");

/// Every vector of the seven suites whose `kind` is one of `kinds`, suite by suite in file order.
pub(crate) fn load(kinds: &[&str]) -> Vec<Value> {
    let root = PathBuf::from(EXTERNAL);
    assert!(
        root.is_dir(),
        "peer vectors folder {} is missing: tests/cases is part of the repository",
        root.display()
    );
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read external/")
        .map(|e| e.expect("entry").path().join("expected.json"))
        .filter(|p| p.is_file())
        .collect();
    suites.sort();
    assert_eq!(
        suites.len(),
        7,
        "expected the 7 peer suites, found {suites:?}"
    );
    suites
        .iter()
        .flat_map(|p| {
            let bytes = std::fs::read(p).expect("read expected.json");
            serde_json::from_slice::<Vec<Value>>(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .filter(|v| v["kind"].as_str().is_some_and(|k| kinds.contains(&k)))
        .collect()
}

/// `""` and `null` both mean "none" in the vectors.
pub(crate) fn none_if_empty(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// A difference between `got` and the vector's `expect[field]`, when the vector gives that field
/// (`""` and `null` meaning none).
pub(crate) fn differs(expect: &Value, field: &str, got: Option<&str>) -> Option<String> {
    let want = expect.get(field)?;
    (got != none_if_empty(want)).then(|| format!("{field} {got:?} != {want}"))
}

/// `Ok` when `diffs` is empty, else every difference in one message.
pub(crate) fn verdict(diffs: Vec<String>) -> Result<(), String> {
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Vectors a parser disagrees with OpenSSH on, on purpose, for one reason.
pub(crate) struct Deliberate<'a> {
    /// Why testum differs (policy, a feature OpenSSH lacks, ...).
    pub reason: &'a str,
    /// A piece of what the check says about each of these vectors, so a vector listed here
    /// differs for this reason and no other.
    pub says: &'a str,
    /// The vectors' ids.
    pub ids: &'a [&'a str],
}

/// Run `check` on every vector of `vectors` (there must be `total`) and assert that the ones it
/// disagrees on are exactly the ids of `deliberate`, each for its reason. Prints a summary by
/// kind and every disagreement with what differs.
pub(crate) fn assert_documented(
    vectors: &[Value],
    total: usize,
    deliberate: &[Deliberate<'_>],
    check: impl Fn(&Value) -> Result<(), String>,
) {
    assert_eq!(vectors.len(), total, "the README's count of these kinds");
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut disagree: BTreeMap<&str, String> = BTreeMap::new();
    for v in vectors {
        let slot = by_kind
            .entry(v["kind"].as_str().expect("kind"))
            .or_default();
        slot.0 += 1;
        match check(v) {
            Ok(()) => slot.1 += 1,
            Err(why) => {
                disagree.insert(v["id"].as_str().expect("id"), why);
            }
        }
    }
    for (kind, (n, a)) in &by_kind {
        println!("{kind}: {n} checked, {a} agree with OpenSSH");
    }
    for (id, why) in &disagree {
        println!("  disagrees: {id}: {why}");
    }
    let mut listed: BTreeMap<&str, &Deliberate<'_>> = BTreeMap::new();
    for group in deliberate {
        for id in group.ids {
            assert!(listed.insert(id, group).is_none(), "{id} is listed twice");
        }
    }
    let got: Vec<&str> = disagree.keys().copied().collect();
    let want: Vec<&str> = listed.keys().copied().collect();
    assert_eq!(
        got, want,
        "disagreements changed (a new one must be fixed or listed with its reason; a listed one \
         that agrees now must leave the list); details: {disagree:#?}"
    );
    for (id, group) in listed {
        assert!(
            disagree[id].contains(group.says),
            "{id} is listed for \"{}\" but differs otherwise: {}",
            group.reason,
            disagree[id]
        );
    }
}
