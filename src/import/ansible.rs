//! An Ansible inventory as both its forms ([`super::ansible_ini`], [`super::ansible_yaml`])
//! read it, and how it becomes platform rows.
//!
//! - A host's name is its inventory hostname; its address is `ansible_host` (else the name), its
//!   port `ansible_port`, its login `ansible_user` (the older `ansible_ssh_host`,
//!   `ansible_ssh_port`, `ansible_ssh_user` too). Other variables are not testum's business.
//! - Tags are the host's groups and their parent groups (via `children`), never `all` or
//!   `ungrouped`.
//! - Variables resolve as Ansible does: the host's own win; else the group variable of the
//!   deepest group that sets it (a child over its parent, `all` last); between groups at the same
//!   depth the one later by name wins (Ansible's default order).
//! - A host listed in several groups is one platform; when its own variables disagree between
//!   two places, the row is refused rather than one of them guessed.
//! - Host ranges `web[01:20].example.org` and `db-[a:c]` (with an optional `:step`) expand as
//!   in Ansible.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{FileError, Note, Parsed, RawRow};

/// The group every host is in.
pub const ALL: &str = "all";
/// The group of hosts listed outside any group.
pub const UNGROUPED: &str = "ungrouped";

/// The platform field an Ansible connection variable sets, if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Host,
    Port,
    User,
}

impl Field {
    /// The field set by variable `name`, if any.
    pub fn of(name: &str) -> Option<Field> {
        match name {
            "ansible_host" | "ansible_ssh_host" => Some(Field::Host),
            "ansible_port" | "ansible_ssh_port" => Some(Field::Port),
            "ansible_user" | "ansible_ssh_user" => Some(Field::User),
            _ => None,
        }
    }

    fn row_field(self) -> &'static str {
        match self {
            Field::Host => "host",
            Field::Port => "port",
            Field::User => "username",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            Field::Host => "ansible_host",
            Field::Port => "ansible_port",
            Field::User => "ansible_user",
        }
    }
}

/// A group: its connection variables (value, line) and its children.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub vars: BTreeMap<Field, (String, usize)>,
    pub children: BTreeSet<String>,
}

/// One place a host is listed: in `group`, at `line`, with its own connection variables.
#[derive(Debug, Clone)]
pub struct HostEntry {
    pub line: usize,
    pub name: String,
    pub group: String,
    pub vars: BTreeMap<Field, String>,
    /// Problems found while reading this entry: (row field, message).
    pub problems: Vec<(String, String)>,
}

/// An inventory as read, before resolution.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub groups: BTreeMap<String, Group>,
    pub hosts: Vec<HostEntry>,
    pub notes: Vec<Note>,
}

impl Inventory {
    /// The group `name`, created empty when new.
    pub fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    /// Rows, one per host in order of first listing, with tags and resolved variables.
    pub fn rows(self) -> Parsed {
        let parents = self.parents();
        let mut depths = HashMap::new();
        for name in self.groups.keys() {
            depth(name, &parents, &mut depths, &mut BTreeSet::new());
        }
        let mut order: Vec<&str> = Vec::new();
        let mut entries: HashMap<&str, Vec<&HostEntry>> = HashMap::new();
        for entry in &self.hosts {
            let list = entries.entry(entry.name.as_str()).or_default();
            if list.is_empty() {
                order.push(&entry.name);
            }
            list.push(entry);
        }
        let mut parsed = Parsed {
            rows: Vec::with_capacity(order.len()),
            notes: self.notes.clone(),
        };
        for name in order {
            let listed = &entries[name];
            parsed
                .rows
                .push(self.row(name, listed, &parents, &depths).check());
        }
        parsed
    }

    fn row(
        &self,
        name: &str,
        listed: &[&HostEntry],
        parents: &HashMap<&str, BTreeSet<&str>>,
        depths: &HashMap<String, usize>,
    ) -> RawRow {
        let mut row = RawRow::new(listed[0].line, name);
        for entry in listed {
            for (field, message) in &entry.problems {
                row.problem(field, message.clone());
            }
        }
        // Groups: the host's own in listing order, then their ancestors nearest first.
        let mut groups: Vec<&str> = Vec::new();
        for entry in listed {
            if !groups.contains(&entry.group.as_str()) {
                groups.push(&entry.group);
            }
        }
        let mut next = 0;
        while next < groups.len() {
            for parent in parents.get(groups[next]).into_iter().flatten() {
                if !groups.contains(parent) {
                    groups.push(parent);
                }
            }
            next += 1;
        }
        if !groups.contains(&ALL) {
            groups.push(ALL);
        }
        row.tags = Some(
            groups
                .iter()
                .filter(|g| **g != ALL && **g != UNGROUPED)
                .map(|g| g.to_string())
                .collect(),
        );
        // Group variables: ascending (depth, name), so the last one setting a field wins.
        let mut by_priority = groups.clone();
        by_priority.sort_by_key(|g| (depths.get(*g).copied().unwrap_or(0), *g));
        let mut values: BTreeMap<Field, String> = BTreeMap::new();
        for group in by_priority {
            if let Some(g) = self.groups.get(group) {
                for (field, (value, _)) in &g.vars {
                    values.insert(*field, value.clone());
                }
            }
        }
        for field in [Field::Host, Field::Port, Field::User] {
            let mut own: Vec<(&str, usize)> = Vec::new();
            for entry in listed {
                if let Some(value) = entry.vars.get(&field)
                    && !own.iter().any(|(v, _)| v == value)
                {
                    own.push((value, entry.line));
                }
            }
            match own.as_slice() {
                [] => {}
                [(value, _)] => {
                    values.insert(field, value.to_string());
                }
                [(a, line_a), (b, line_b), ..] => row.problem(
                    field.row_field(),
                    format!(
                        "{} differs between the places the host is listed: {a:?} at line \
                         {line_a}, {b:?} at line {line_b}",
                        field.variable()
                    ),
                ),
            }
        }
        row.host = Some(
            values
                .remove(&Field::Host)
                .unwrap_or_else(|| name.to_string()),
        );
        row.port = values.remove(&Field::Port);
        row.username = values.remove(&Field::User);
        row
    }

    /// Each group's parents: the groups listing it as a child, else `all`.
    fn parents(&self) -> HashMap<&str, BTreeSet<&str>> {
        let mut parents: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for (name, group) in &self.groups {
            for child in &group.children {
                if child != name {
                    parents.entry(child).or_default().insert(name);
                }
            }
        }
        for name in self.groups.keys().map(String::as_str) {
            if name != ALL {
                parents.entry(name).or_default();
            }
        }
        for set in parents.values_mut() {
            if set.is_empty() {
                set.insert(ALL);
            }
        }
        parents
    }
}

/// Depth of `group` below `all` (0): one more than its deepest parent; a cycle is cut.
fn depth(
    group: &str,
    parents: &HashMap<&str, BTreeSet<&str>>,
    memo: &mut HashMap<String, usize>,
    visiting: &mut BTreeSet<String>,
) -> usize {
    if group == ALL {
        return 0;
    }
    if let Some(d) = memo.get(group) {
        return *d;
    }
    if !visiting.insert(group.to_string()) {
        return 1;
    }
    let d = 1 + parents
        .get(group)
        .into_iter()
        .flatten()
        .map(|p| depth(p, parents, memo, visiting))
        .max()
        .unwrap_or(0);
    visiting.remove(group);
    memo.insert(group.to_string(), d);
    d
}

/// The host names a pattern stands for: `web[01:03]` → `web01`, `web02`, `web03`; `[a:c]`
/// letters; `[0:10:5]` a step. A bracket that is no range (e.g. `[::1]`) stays as written.
///
/// # Errors
/// A message when a range is backwards, has a zero step, or expands past `limit` names.
pub fn expand(pattern: &str, limit: usize) -> Result<Vec<String>, String> {
    let Some((prefix, range, suffix)) = find_range(pattern) else {
        return Ok(vec![pattern.to_string()]);
    };
    let items = range_items(range)?;
    let mut out = Vec::new();
    for item in items {
        for rest in expand(suffix, limit)? {
            out.push(format!("{prefix}{item}{rest}"));
            if out.len() > limit {
                return Err(format!("expands to more than {limit} hosts"));
            }
        }
    }
    Ok(out)
}

/// `(before, inside, after)` of the first `[...]` that is a range.
fn find_range(pattern: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(open) = pattern[from..].find('[').map(|i| i + from) {
        let close = pattern[open..].find(']')? + open;
        let inside = &pattern[open + 1..close];
        if is_range(inside) {
            return Some((&pattern[..open], inside, &pattern[close + 1..]));
        }
        from = close + 1;
    }
    None
}

fn is_range(inside: &str) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let letter = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic());
    let parts: Vec<&str> = inside.split(':').collect();
    let (a, b) = match parts.as_slice() {
        [a, b] => (*a, *b),
        [a, b, step] if numeric(step) => (*a, *b),
        _ => return false,
    };
    (numeric(a) && numeric(b)) || (letter(a) && letter(b))
}

fn range_items(inside: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inside.split(':').collect();
    let step: usize = match parts.get(2) {
        Some(s) => s.parse().map_err(|_| format!("[{inside}]: bad step"))?,
        None => 1,
    };
    if step == 0 {
        return Err(format!("[{inside}]: the step must not be 0"));
    }
    let (a, b) = (parts[0], parts[1]);
    if let (Ok(start), Ok(end)) = (a.parse::<u64>(), b.parse::<u64>()) {
        if start > end {
            return Err(format!("[{inside}]: the range runs backwards"));
        }
        if (end - start) / step as u64 > 100_000 {
            return Err(format!("[{inside}]: the range is too large"));
        }
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        return Ok((start..=end)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect());
    }
    let (start, end) = (a.as_bytes()[0], b.as_bytes()[0]);
    if start > end {
        return Err(format!("[{inside}]: the range runs backwards"));
    }
    Ok((start..=end)
        .step_by(step)
        .map(|c| char::from(c).to_string())
        .collect())
}

/// Add the hosts `pattern` stands for, listed at `line` in `group`, to `inventory`; a pattern
/// that does not expand becomes one refused row.
pub fn add_hosts(
    inventory: &mut Inventory,
    line: usize,
    pattern: &str,
    group: &str,
    vars: BTreeMap<Field, String>,
    problems: Vec<(String, String)>,
) -> Result<(), FileError> {
    inventory.group(group);
    let names = match expand(pattern, super::MAX_ROWS) {
        Ok(names) => names,
        Err(message) => {
            inventory.hosts.push(HostEntry {
                line,
                name: pattern.to_string(),
                group: group.to_string(),
                vars,
                problems: vec![("name".into(), message)],
            });
            return Ok(());
        }
    };
    if inventory.hosts.len() + names.len() > super::MAX_ROWS * 4 {
        return Err(FileError::new(
            Some(line),
            format!("the inventory lists more than {} hosts", super::MAX_ROWS),
        ));
    }
    for name in names {
        inventory.hosts.push(HostEntry {
            line,
            name,
            group: group.to_string(),
            vars: vars.clone(),
            problems: problems.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand("web[01:03].x", 100).unwrap(),
            ["web01.x", "web02.x", "web03.x"]
        );
        assert_eq!(expand("db-[a:c]", 100).unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("n[0:10:5]", 100).unwrap(), ["n0", "n5", "n10"]);
        assert_eq!(
            expand("r[1:2]c[1:2]", 100).unwrap(),
            ["r1c1", "r1c2", "r2c1", "r2c2"]
        );
        assert_eq!(expand("[::1]", 100).unwrap(), ["[::1]"]);
        assert_eq!(expand("plain", 100).unwrap(), ["plain"]);
        assert!(expand("w[3:1]", 100).is_err());
        assert!(expand("w[1:2:0]", 100).is_err());
        assert!(expand("w[1:500]", 100).is_err());
    }
}
