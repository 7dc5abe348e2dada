//! Selectors: a small expression language that picks platforms by tags, names, hosts and scan
//! states, used wherever a set of platforms is chosen (platform lists, tasks, schedules, the CLI
//! and the UI).
//!
//! ```text
//! selector := or
//! or       := and ("or" and)*
//! and      := not ("and" not)*
//! not      := "not" not | atom | "(" or ")"
//! atom     := "all"                      every platform
//!           | "tag:" VALUE               has a tag matching VALUE (plain `web` or `env=prod`)
//!           | KEY "=" VALUE              same as tag:KEY=VALUE
//!           | "name:" VALUE              the platform's name matches VALUE
//!           | "host:" VALUE              the platform's host matches VALUE (ASCII case ignored)
//!           | "state:" STATE             state of the latest scan: in_sync, drift, unreachable,
//!                                        host_key_mismatch, error or never_scanned
//!           | "text:" VALUE              the name, the host or any tag matches VALUE (ASCII case
//!                                        ignored): the UI's search box, `text:*web*`
//!           | "host_key:" STATUS         pinned (a key pinned, no mismatch), unpinned (nothing
//!                                        pinned yet) or mismatch (a connection of any task, or
//!                                        the latest scan, deploy or revoke, was refused: the
//!                                        host presented another key, not trusted since)
//! ```
//!
//! Keywords are lowercase. A VALUE is a glob (`*` any run of characters, `?` one character) and
//! may be double-quoted (`name:"web 1"`, with `\"` and `\\` inside quotes). `tag:web` matches the
//! plain tag `web` only, not `web=1`; `tag:env=*` matches any `env=` tag.
//!
//! Parsing is pure: [`Selector`]'s `FromStr` gives a [`SelectorError`] with the 1-based
//! character column and the reason; `Display` prints a canonical text that parses back to the
//! same selector. Resolving a selector against the database is
//! [`crate::store::Store::select_platforms`].

use std::fmt;
use std::str::FromStr;

use crate::store::{Platform, PlatformState};

/// Longest selector accepted, in characters.
pub const MAX_LEN: usize = 4096;

/// Deepest nesting of parentheses and `not` accepted (keeps the parser's recursion bounded).
pub const MAX_DEPTH: usize = 64;

crate::words! {
    /// Where a platform's host key stands, for `host_key:` (every platform is in exactly one).
    pub enum HostKeyStatus {
        /// A key is pinned and the latest contact that records a state did not refuse it.
        Pinned => "pinned",
        /// No key pinned yet (under `tofu` the first connection pins one).
        Unpinned => "unpinned",
        /// A connection found another key than the pinned one and it was not trusted since
        /// (the platform keeps the key it presented, or its latest scan, deploy or revoke
        /// recorded state `host_key_mismatch`); testum refuses to connect until it is.
        Mismatch => "mismatch",
    }
}

/// A parsed selector. Build one with [`str::parse`]; test a platform with [`Selector::matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    expr: Expr,
}

/// The expression tree: `and`/`or` are n-ary and flattened, so `a or (b or c)` and
/// `(a or b) or c` are the same selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    All,
    Tag(String),
    Name(String),
    Host(String),
    State(PlatformState),
    Text(String),
    HostKey(HostKeyStatus),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A selector that does not parse: where (`position`, the 1-based character column; one past the
/// end for "the selector ended too early") and why. Displays as `at position N: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// 1-based character (not byte) column.
    pub position: usize,
    /// What was wrong, e.g. `expected ')'`, `unknown field 'foo'`.
    pub reason: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.reason)
    }
}

impl std::error::Error for SelectorError {}

/// What a selector looks at in one platform.
#[derive(Debug, Clone, Copy)]
pub struct PlatformFacts<'a> {
    pub name: &'a str,
    pub host: &'a str,
    /// The platform's tags, plain (`web`) or `key=value`.
    pub tags: &'a [String],
    /// State of the latest scan (`never_scanned` without one).
    pub state: PlatformState,
    /// Whether a host key is pinned.
    pub pinned: bool,
    /// Whether a connection was refused for another host key since the pin was last set
    /// ([`Platform::host_key_presented`]).
    pub presented: bool,
}

impl PlatformFacts<'_> {
    /// The platform's host-key status: a mismatch (a presented key not trusted yet, or the
    /// latest scan's state) wins over the pin it contradicts.
    pub fn host_key(&self) -> HostKeyStatus {
        if self.presented || self.state == PlatformState::HostKeyMismatch {
            HostKeyStatus::Mismatch
        } else if self.pinned {
            HostKeyStatus::Pinned
        } else {
            HostKeyStatus::Unpinned
        }
    }
}

impl<'a> From<&'a Platform> for PlatformFacts<'a> {
    fn from(p: &'a Platform) -> PlatformFacts<'a> {
        PlatformFacts {
            name: &p.name,
            host: &p.host,
            tags: &p.tags,
            state: p.state,
            pinned: p.host_key_fingerprint.is_some(),
            presented: p.host_key_presented.is_some(),
        }
    }
}

impl Selector {
    /// The selector `all`.
    pub fn all() -> Selector {
        Selector { expr: Expr::All }
    }

    /// Whether the platform described by `p` is selected.
    pub fn matches(&self, p: &PlatformFacts) -> bool {
        self.expr.matches(p)
    }

    /// Whether the selector is `all` (every platform).
    pub fn is_all(&self) -> bool {
        self.expr == Expr::All
    }

    /// The selector `not all`: no platform.
    pub fn none() -> Selector {
        Selector {
            expr: Expr::Not(Box::new(Expr::All)),
        }
    }

    /// Whether the selector is `not all` (no platform).
    pub fn is_none(&self) -> bool {
        matches!(&self.expr, Expr::Not(inner) if **inner == Expr::All)
    }

    /// `text:*TEXT*`: platforms whose name, host or a tag holds `text` (ASCII case ignored; a
    /// `*` or `?` in `text` stays a wildcard). `None` for blank text.
    pub fn search(text: &str) -> Option<Selector> {
        let text = text.trim();
        (!text.is_empty()).then(|| Selector {
            expr: Expr::Text(format!("*{text}*")),
        })
    }

    /// `state:STATE`.
    pub fn state(state: PlatformState) -> Selector {
        Selector {
            expr: Expr::State(state),
        }
    }

    /// `host_key:STATUS`.
    pub fn host_key(status: HostKeyStatus) -> Selector {
        Selector {
            expr: Expr::HostKey(status),
        }
    }

    /// Every one of `parts` at once (`a and b and ...`), flattened, `all` left out; `all` when
    /// nothing is left.
    pub fn all_of(parts: impl IntoIterator<Item = Selector>) -> Selector {
        let items: Vec<Expr> = parts
            .into_iter()
            .map(|s| s.expr)
            .filter(|e| *e != Expr::All)
            .collect();
        match items.len() {
            0 => Selector::all(),
            _ => Selector {
                expr: join(items, Expr::And),
            },
        }
    }

    /// Any one of `parts` (`a or b or ...`), flattened; `all` when one of them is `all`; `None`
    /// when `parts` is empty (no selector matches nothing).
    pub fn any_of(parts: impl IntoIterator<Item = Selector>) -> Option<Selector> {
        let items: Vec<Expr> = parts.into_iter().map(|s| s.expr).collect();
        if items.contains(&Expr::All) {
            return Some(Selector::all());
        }
        (!items.is_empty()).then(|| Selector {
            expr: join(items, Expr::Or),
        })
    }
}

impl Expr {
    fn matches(&self, p: &PlatformFacts) -> bool {
        match self {
            Expr::All => true,
            Expr::Tag(pattern) => p.tags.iter().any(|tag| glob(pattern, tag, false)),
            Expr::Name(pattern) => glob(pattern, p.name, false),
            Expr::Host(pattern) => glob(pattern, p.host, true),
            Expr::State(state) => p.state == *state,
            Expr::Text(pattern) => {
                glob(pattern, p.name, true)
                    || glob(pattern, p.host, true)
                    || p.tags.iter().any(|tag| glob(pattern, tag, true))
            }
            Expr::HostKey(status) => p.host_key() == *status,
            Expr::Not(inner) => !inner.matches(p),
            Expr::And(all) => all.iter().all(|e| e.matches(p)),
            Expr::Or(any) => any.iter().any(|e| e.matches(p)),
        }
    }

    /// Binding strength for printing: higher binds tighter.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::And(_) => 2,
            _ => 3,
        }
    }

    /// Print `self`, in parentheses when it binds looser than `min`.
    fn fmt_in(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            f.write_str("(")?;
            self.fmt_in(f, 0)?;
            return f.write_str(")");
        }
        match self {
            Expr::All => f.write_str("all"),
            Expr::Tag(v) => write_atom(f, "tag", v),
            Expr::Name(v) => write_atom(f, "name", v),
            Expr::Host(v) => write_atom(f, "host", v),
            Expr::State(s) => write!(f, "state:{s}"),
            Expr::Text(v) => write_atom(f, "text", v),
            Expr::HostKey(s) => write!(f, "host_key:{s}"),
            Expr::Not(inner) => {
                f.write_str("not ")?;
                inner.fmt_in(f, 3)
            }
            Expr::And(items) => fmt_joined(f, items, " and ", 3),
            Expr::Or(items) => fmt_joined(f, items, " or ", 2),
        }
    }
}

fn fmt_joined(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, min: u8) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item.fmt_in(f, min)?;
    }
    Ok(())
}

/// `field:value`, the value quoted when it holds a character that would end it unquoted.
fn write_atom(f: &mut fmt::Formatter<'_>, field: &str, value: &str) -> fmt::Result {
    if value.chars().any(ends_bare_value) || value.is_empty() {
        write!(f, "{field}:\"")?;
        for c in value.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    } else {
        write!(f, "{field}:{value}")
    }
}

impl fmt::Display for Selector {
    /// The canonical text: single spaces, `tag:` for every tag, parentheses only where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt_in(f, 0)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Selector, SelectorError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_LEN {
            return Err(err(
                MAX_LEN + 1,
                format!("a selector is at most {MAX_LEN} characters"),
            ));
        }
        let tokens = lex(&chars)?;
        if tokens.is_empty() {
            return Err(err(1, "empty selector"));
        }
        let mut parser = Parser {
            tokens,
            next: 0,
            end: chars.len() + 1,
        };
        let expr = parser.or(0)?;
        match parser.peek() {
            None => Ok(Selector { expr }),
            Some((pos, Token::Close)) => Err(err(*pos, "unmatched ')'")),
            Some((pos, token)) => Err(err(
                *pos,
                format!("expected 'and' or 'or' before {}", token.describe()),
            )),
        }
    }
}

impl serde::Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn err(position: usize, reason: impl Into<String>) -> SelectorError {
    SelectorError {
        position,
        reason: reason.into(),
    }
}

/// Whether `text` matches the glob `pattern` (`*`: any run, `?`: one character), optionally
/// ignoring ASCII case. Linear backtracking over the last `*`, no recursion.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The fields an atom may name.
const FIELDS: &[&str] = &["tag", "name", "host", "state", "text", "host_key"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Atom(Expr),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::And => "'and'".into(),
            Token::Or => "'or'".into(),
            Token::Not => "'not'".into(),
            Token::Atom(e) => format!("'{}'", Selector { expr: e.clone() }),
        }
    }
}

/// Whether `c` ends an unquoted word or value.
fn ends_bare_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// Split `chars` into tokens, each with its 1-based column.
fn lex(chars: &[char]) -> Result<Vec<(usize, Token)>, SelectorError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push((pos, Token::Open));
            i += 1;
        } else if c == ')' {
            tokens.push((pos, Token::Close));
            i += 1;
        } else if c == '"' {
            return Err(err(
                pos,
                "a quoted value needs a field in front, like tag:\"...\"",
            ));
        } else {
            let (token, next) = lex_word(chars, i)?;
            tokens.push((pos, token));
            i = next;
        }
    }
    Ok(tokens)
}

/// One word starting at index `start`: a keyword, `field:value` or a bare `key=value` tag.
/// Returns the token and the index after it.
fn lex_word(chars: &[char], start: usize) -> Result<(Token, usize), SelectorError> {
    let mut i = start;
    while i < chars.len() && !ends_bare_value(chars[i]) && chars[i] != ':' {
        i += 1;
    }
    let mut head: String = chars[start..i].iter().collect();
    if head.contains('=') {
        // A bare `key=value` tag: its value may hold colons (`role=db:primary`).
        while i < chars.len() && !ends_bare_value(chars[i]) {
            i += 1;
        }
        head = chars[start..i].iter().collect();
    }
    if i < chars.len() && chars[i] == ':' {
        if !FIELDS.contains(&head.as_str()) {
            return Err(err(
                start + 1,
                format!("unknown field '{head}' (fields: {})", FIELDS.join(", ")),
            ));
        }
        let (value, next) = lex_value(chars, i + 1, &head)?;
        let expr = match head.as_str() {
            "tag" => Expr::Tag(value),
            "name" => Expr::Name(value),
            "host" => Expr::Host(value),
            "text" => Expr::Text(value),
            "host_key" => Expr::HostKey(
                value
                    .parse()
                    .map_err(|e| err(i + 2, format!("unknown host_key status '{value}': {e}")))?,
            ),
            _ => Expr::State(
                value
                    .parse()
                    .map_err(|e| err(i + 2, format!("unknown state '{value}': {e}")))?,
            ),
        };
        return Ok((Token::Atom(expr), next));
    }
    if i < chars.len() && chars[i] == '"' {
        return Err(err(
            i + 1,
            "a quoted value needs a field in front, like tag:\"...\"",
        ));
    }
    let token = match head.as_str() {
        "and" => Token::And,
        "or" => Token::Or,
        "not" => Token::Not,
        "all" => Token::Atom(Expr::All),
        _ => match head.split_once('=') {
            Some(("", _)) => return Err(err(start + 1, "expected a tag key before '='")),
            Some((key, "")) => {
                return Err(err(i + 1, format!("expected a value after '{key}='")));
            }
            Some(_) => Token::Atom(Expr::Tag(head)),
            None if matches!(
                head.to_ascii_lowercase().as_str(),
                "and" | "or" | "not" | "all"
            ) =>
            {
                return Err(err(
                    start + 1,
                    format!("unknown word '{head}' (keywords are lowercase)"),
                ));
            }
            None => {
                return Err(err(
                    start + 1,
                    format!(
                        "unknown word '{head}': expected tag:, name:, host:, state:, text:, \
                         host_key:, a key=value tag, 'all', 'not' or '('"
                    ),
                ));
            }
        },
    };
    Ok((token, i))
}

/// The value of `field:` starting at index `start`, quoted or not; the index after it.
fn lex_value(chars: &[char], start: usize, field: &str) -> Result<(String, usize), SelectorError> {
    let missing = || err(start + 1, format!("expected a value after '{field}:'"));
    if start < chars.len() && chars[start] == '"' {
        let mut value = String::new();
        let mut i = start + 1;
        loop {
            match chars.get(i) {
                None => return Err(err(start + 1, "unterminated quoted value")),
                Some('"') => break,
                Some('\\') => match chars.get(i + 1) {
                    Some(c) => {
                        value.push(*c);
                        i += 2;
                    }
                    None => return Err(err(start + 1, "unterminated quoted value")),
                },
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        let next = i + 1;
        if let Some(c) = chars.get(next)
            && !c.is_whitespace()
            && !matches!(c, '(' | ')')
        {
            return Err(err(
                next + 1,
                "expected a space or ')' after the quoted value",
            ));
        }
        if value.is_empty() {
            return Err(missing());
        }
        return Ok((value, next));
    }
    let mut i = start;
    while i < chars.len() && !ends_bare_value(chars[i]) {
        i += 1;
    }
    if i == start {
        return Err(missing());
    }
    Ok((chars[start..i].iter().collect(), i))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    /// The column one past the last character (where "ended too early" errors point).
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&(usize, Token)> {
        self.tokens.get(self.next)
    }

    /// Consume the next token if it is `token`.
    fn eat(&mut self, token: &Token) -> bool {
        if self.peek().is_some_and(|(_, t)| t == token) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, SelectorError> {
        let mut items = vec![self.and(depth, None)?];
        while self.eat(&Token::Or) {
            items.push(self.and(depth, Some("'or'"))?);
        }
        Ok(join(items, Expr::Or))
    }

    fn and(&mut self, depth: usize, after: Option<&str>) -> Result<Expr, SelectorError> {
        let mut items = vec![self.not(depth, after)?];
        while self.eat(&Token::And) {
            items.push(self.not(depth, Some("'and'"))?);
        }
        Ok(join(items, Expr::And))
    }

    /// `not`, an atom or a parenthesised selector; `after` names what came before (for errors).
    fn not(&mut self, depth: usize, after: Option<&str>) -> Result<Expr, SelectorError> {
        let Some((pos, token)) = self.peek().cloned() else {
            return Err(err(
                self.end,
                match after {
                    Some(what) => format!("expected a selector after {what}"),
                    None => "expected a selector".into(),
                },
            ));
        };
        if depth > MAX_DEPTH {
            return Err(err(pos, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.next += 1;
        match token {
            Token::Not => Ok(Expr::Not(Box::new(self.not(depth + 1, Some("'not'"))?))),
            Token::Open => {
                let inner = self.or(depth + 1)?;
                if self.eat(&Token::Close) {
                    Ok(inner)
                } else {
                    let at = self.peek().map_or(self.end, |(p, _)| *p);
                    Err(err(
                        at,
                        format!("expected ')' to close the '(' at position {pos}"),
                    ))
                }
            }
            Token::Atom(expr) => Ok(expr),
            other => Err(err(
                pos,
                format!("expected a selector, found {}", other.describe()),
            )),
        }
    }
}

/// One item as itself; several as `and`/`or`, flattening nested ones of the same kind.
fn join(items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().unwrap_or(Expr::All);
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match (item, make(Vec::new())) {
            (Expr::And(inner), Expr::And(_)) | (Expr::Or(inner), Expr::Or(_)) => flat.extend(inner),
            (item, _) => flat.push(item),
        }
    }
    make(flat)
}

#[cfg(test)]
mod tests;
