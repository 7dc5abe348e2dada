//! Next firings of cron expressions in time zones, and the errors of bad ones.

use chrono::{DateTime, TimeZone as _, Utc};

use super::{CronSchedule, parse_cron, parse_time_zone};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn next(cron: &str, tz: &str, now: &str) -> String {
    CronSchedule::new(cron, tz)
        .unwrap()
        .next_after(at(now))
        .unwrap()
        .to_rfc3339()
}

#[test]
fn the_next_firing_is_strictly_after_now_in_utc() {
    assert_eq!(
        next("0 3 * * *", "UTC", "2026-12-01T02:59:59Z"),
        "2026-12-01T03:00:00+00:00"
    );
    // Exactly at a firing: the next one, not the same one again.
    assert_eq!(
        next("0 3 * * *", "UTC", "2026-12-01T03:00:00Z"),
        "2026-12-02T03:00:00+00:00"
    );
    // A fraction of a second past a firing does not fire it again either.
    assert_eq!(
        next("*/15 * * * *", "UTC", "2026-12-01T10:15:00.400Z"),
        "2026-12-01T10:30:00+00:00"
    );
    assert_eq!(
        next("30 9 * * mon-fri", "UTC", "2026-12-04T10:00:00Z"),
        "2026-12-07T09:30:00+00:00",
        "Friday after 09:30 → Monday"
    );
}

#[test]
fn a_time_zone_moves_the_firing_and_follows_daylight_saving() {
    // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
    assert_eq!(
        next("0 3 * * *", "Europe/Berlin", "2026-12-01T00:00:00Z"),
        "2026-12-01T02:00:00+00:00"
    );
    assert_eq!(
        next("0 3 * * *", "Europe/Berlin", "2026-07-01T00:00:00Z"),
        "2026-07-01T01:00:00+00:00"
    );
    // 02:30 does not exist in Berlin on 2026-03-29 (clocks jump from 02:00 to 03:00): the
    // firing happens at the first valid instant after the gap, once.
    let gap = CronSchedule::new("30 2 * * *", "Europe/Berlin").unwrap();
    let first = gap.next_after(at("2026-03-28T23:00:00Z")).unwrap();
    assert!(
        first >= Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()
            && first <= Utc.with_ymd_and_hms(2026, 3, 29, 2, 0, 0).unwrap(),
        "{first}"
    );
    let second = gap.next_after(first).unwrap();
    assert_eq!(second.to_rfc3339(), "2026-03-30T00:30:00+00:00");
}

#[test]
fn bad_expressions_and_zones_say_what_is_wrong() {
    assert!(parse_cron("0 3 * *").unwrap_err().contains("5 fields"));
    assert!(parse_cron("0 0 3 * * *").unwrap_err().contains("5 fields"));
    assert!(parse_cron("61 3 * * *").is_err());
    assert!(parse_cron("0 3 * * funday").is_err());
    assert!(parse_cron("*/5 * * * *").is_ok());
    assert!(parse_time_zone("Mars/Olympus").is_err());
    assert!(parse_time_zone("America/New_York").is_ok());
    assert_eq!(
        CronSchedule::new("0 3 * * *", "Nowhere").unwrap_err().0,
        "time_zone"
    );
    assert_eq!(CronSchedule::new("x", "UTC").unwrap_err().0, "cron");
}
