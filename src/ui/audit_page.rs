//! `GET /ui/audit`: the audit log with substring filters (actor, action, target name or id), a
//! date range, the name of each event's target (read for the page in one query per kind) with a
//! link to its page, and a CSV download of everything the filters match.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::pages::{PageResult, page, require_fleet, session_or_redirect, signed_in};
use crate::api::AppState;
use crate::api::audit::AuditQuery;
use crate::api::extract::ApiQuery;
use crate::store::AuditEvent;

/// Query of `GET /ui/audit`: substrings, dates (`YYYY-MM-DD`, UTC, both days included) and the
/// page's cursor.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditPageQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

/// The `GET /api/audit` parameters of the page's filters: `(name, value)` pairs, and the error
/// of each page field that does not parse, by field.
fn api_params(
    query: &AuditPageQuery,
) -> (Vec<(&'static str, String)>, HashMap<&'static str, String>) {
    let mut params = Vec::new();
    let mut errors = HashMap::new();
    for (name, value) in [
        ("actor_contains", &query.actor),
        ("action_contains", &query.action),
        ("target_contains", &query.target),
    ] {
        if !value.trim().is_empty() {
            params.push((name, value.trim().to_owned()));
        }
    }
    let day =
        |field: &'static str, text: &str, errors: &mut HashMap<&str, String>| match text.trim() {
            "" => None,
            text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(day) => Some(day),
                Err(_) => {
                    errors.insert(field, format!("{text:?} is not a date like 2026-11-29"));
                    None
                }
            },
        };
    let from = day("from", &query.from, &mut errors);
    let to = day("to", &query.to, &mut errors);
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.insert("to", "must not be before from".into());
    }
    let midnight = |d: NaiveDate| format!("{}T00:00:00Z", d.format("%Y-%m-%d"));
    if let Some(from) = from {
        params.push(("since", midnight(from)));
    }
    // `to` is included: the API's `until` is exclusive, so the next midnight.
    if let Some(next) = to.and_then(|d| d.checked_add_days(Days::new(1))) {
        params.push(("until", midnight(next)));
    }
    (params, errors)
}

/// The page field that shows an API field's error.
fn page_field(api_field: &str) -> &'static str {
    match api_field {
        "actor_contains" => "actor",
        "action_contains" => "action",
        "target_contains" => "target",
        "since" => "from",
        "until" => "to",
        _ => "cursor",
    }
}

/// What the page shows of an event's target: its kind and id, its name (`None` when it has none
/// or, with `deleted`, no longer exists) and the page it links to.
#[derive(Debug, Serialize)]
struct TargetView {
    text: String,
    name: Option<String>,
    deleted: bool,
    href: Option<String>,
}

fn target_view(target: &str, names: &HashMap<String, String>) -> TargetView {
    let name = names.get(target).cloned();
    let (kind, id) = target.split_once(':').unwrap_or((target, ""));
    let named = matches!(kind, "platform" | "key" | "user" | "schedule");
    let deleted = named && name.is_none();
    let href = match kind {
        _ if deleted || uuid::Uuid::parse_str(id).is_err() => None,
        "platform" => Some(format!("/ui/platforms/{id}")),
        "key" => Some(format!("/ui/keys/{id}")),
        "task" => Some(format!("/ui/tasks/{id}")),
        "schedule" => Some("/ui/schedules".to_owned()),
        _ => None,
    };
    TargetView {
        text: target.to_owned(),
        name,
        deleted,
        href,
    }
}

/// `GET /ui/audit?actor=&action=&target=&from=&to=&cursor=`: a page of matching events, newest
/// first. A filter that does not parse shows its message under its field and no events.
pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AuditPageQuery>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    require_fleet(&session, crate::role::Role::Viewer)?;
    let (params, mut errors) = api_params(&query);
    let csv_query = serde_urlencoded::to_string(&params).unwrap_or_default();
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut next_cursor = None;
    if errors.is_empty() {
        let mut api = AuditQuery::default();
        for (name, value) in params {
            let slot = match name {
                "actor_contains" => &mut api.actor_contains,
                "action_contains" => &mut api.action_contains,
                "target_contains" => &mut api.target_contains,
                "since" => &mut api.since,
                _ => &mut api.until,
            };
            *slot = Some(value);
        }
        api.cursor = Some(query.cursor.clone()).filter(|c| !c.is_empty());
        match api.parse() {
            Ok(request) => {
                let list = state
                    .store
                    .list_audit(&request.filter, &request.page)
                    .await?;
                events = list.items;
                next_cursor = list.next_cursor;
            }
            Err(e) if !e.errors.is_empty() => {
                for field in e.errors {
                    errors.insert(page_field(&field.field), field.message);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let names = state
        .store
        .audit_target_names(events.iter().filter_map(|e| e.target.as_deref()))
        .await?;
    let targets: Vec<Option<TargetView>> = events
        .iter()
        .map(|e| e.target.as_deref().map(|t| target_view(t, &names)))
        .collect();
    let data = json!({
        "events": events, "targets": targets, "next_cursor": next_cursor, "filter": query,
        "errors": errors, "csv_query": csv_query,
    });
    page("audit.html", &session, "audit", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> AuditPageQuery {
        AuditPageQuery {
            actor: " ali ".into(),
            from: from.into(),
            to: to.into(),
            ..Default::default()
        }
    }

    #[test]
    fn dates_become_an_inclusive_utc_range() {
        let (params, errors) = api_params(&query("2026-11-01", "2026-11-30"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            params,
            [
                ("actor_contains", "ali".to_owned()),
                ("since", "2026-11-01T00:00:00Z".to_owned()),
                ("until", "2026-12-01T00:00:00Z".to_owned()),
            ]
        );
    }

    #[test]
    fn a_bad_date_is_named_by_its_field() {
        let (_, errors) = api_params(&query("yesterday", "2026-11-30"));
        assert_eq!(
            errors["from"],
            "\"yesterday\" is not a date like 2026-11-29"
        );
        let (_, errors) = api_params(&query("2026-11-30", "2026-11-01"));
        assert_eq!(errors["to"], "must not be before from");
    }

    #[test]
    fn targets_link_to_their_page_and_say_when_deleted() {
        let id = uuid::Uuid::new_v4();
        let names = HashMap::from([(format!("platform:{id}"), "web-1".to_owned())]);
        let live = target_view(&format!("platform:{id}"), &names);
        assert_eq!(live.name.as_deref(), Some("web-1"));
        assert_eq!(live.href, Some(format!("/ui/platforms/{id}")));
        let gone = target_view(&format!("key:{id}"), &names);
        assert!(gone.deleted && gone.href.is_none());
        let task = target_view(&format!("task:{id}"), &names);
        assert_eq!(task.href, Some(format!("/ui/tasks/{id}")));
        assert!(!task.deleted);
        assert!(target_view("session:x", &names).href.is_none());
    }
}
