//! Schedules and their next instants: one-shot `at`, fixed-interval `every`, and 5-field cron
//! expressions evaluated on the wall clock of an IANA zone.
//!
//! Cron syntax is Vixie cron's crontab(5) (<https://man7.org/linux/man-pages/man5/crontab.5.html>):
//! minute (0-59), hour (0-23), day-of-month (1-31), month (1-12 or JAN-DEC), day-of-week (0-7
//! or SUN-SAT; 0 and 7 are Sunday); `*`, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n` and
//! `a/n` (= `a-max/n`, as croner reads it); `?` is `*` in the two day fields (OCPS 1.4 §4.2,
//! <https://github.com/open-source-cron/ocps>); macros `@yearly` `@annually` `@monthly`
//! `@weekly` `@daily` `@midnight` `@hourly`. When day-of-month and day-of-week are both
//! restricted a day matches if either does; when either field starts with `*` both must
//! (Vixie's `DOM_STAR|DOW_STAR` rule; OCPS 1.4 §4.1.1 and OpenClaw's croner agree). No seconds.
//!
//! Daylight saving time. Vixie cron's cron(8) ("Daylight Saving Time and other time changes")
//! runs jobs at a *fixed time* (neither minute nor hour field starting with `*`) that fall in
//! skipped wall time right after the jump and does not run again those in repeated wall time;
//! jobs with `*` in the minute or hour field simply follow the new wall clock. systemd's
//! calendar timers skip a wall time that `mktime()` normalises away (`tm_within_bounds` in
//! src/shared/calendarspec.c). croner 10 follows OCPS 1.4 §4.3.1: skip the gap, run an overlap
//! once at its first occurrence, but keep "high-frequency" patterns running through it.
//! Hearth follows Vixie, so a daily job is never silently lost:
//! - fixed-time expressions: a wall time inside a spring-forward gap fires once, at the first
//!   instant after the gap (02:30 on a 02:00→03:00 day fires at 03:00); a wall time repeated
//!   by a fall-back fires once, at its first occurrence;
//! - expressions whose minute or hour field starts with `*` fire at every instant whose wall
//!   time matches: nothing in the skipped hour, both runs of a repeated hour (an hourly job
//!   stays hourly in real time).
//!
//! Must not import anything outside this module but std, serde and jiff.

use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTimeRound;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{RoundMode, Timestamp, Unit};
use serde::{Deserialize, Serialize};

use super::{CronError, Zone, parse_absolute};

const FIELD: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const LOW: [u8; 5] = [0, 0, 1, 1, 0];
const HIGH: [u8; 5] = [59, 23, 31, 12, 7];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MACROS: &str =
    "unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)";
/// Search limits: a valid expression matches within 8 years (29 February across a skipped
/// leap year); DST zones have two transitions a year.
const SEARCH_YEARS: i16 = 9;
const MAX_SEGMENTS: usize = 64;

/// A parsed 5-field cron expression; `Display` and `as_str` give the text it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    text: String,
    /// Bit sets: minutes 0-59, hours 0-23, days 1-31, months 1-12, weekdays 0-6 (Sunday 0).
    bits: [u64; 5],
    /// Either day field starts with `*`: both must match (else either).
    days_and: bool,
    /// Minute or hour starts with `*`: follows the wall clock through DST changes.
    wildcard_time: bool,
}

impl CronExpr {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn has(&self, field: usize, value: impl Into<i64>) -> bool {
        self.bits[field] & (1 << value.into()) != 0
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.has(2, date.day());
        let dow = self.has(4, date.weekday().to_sunday_zero_offset());
        (dom && dow) || (!self.days_and && (dom || dow))
    }

    /// The first matching minute (0-1439) of `date` at or after minute `from`.
    fn time_on(&self, date: Date, from: i64) -> Option<i64> {
        if !self.day_matches(date) {
            return None;
        }
        (from / 60..24).filter(|&h| self.has(1, h)).find_map(|h| {
            let first = if h == from / 60 { from % 60 } else { 0 };
            let m = i64::from((self.bits[0] >> first).trailing_zeros()) + first;
            (m < 60).then_some(h * 60 + m)
        })
    }

    /// The first matching whole minute at or after `from` (itself whole) and before `until`.
    fn next_match(&self, from: DateTime, until: Option<DateTime>) -> Option<DateTime> {
        let mut min = i64::from(from.hour()) * 60 + i64::from(from.minute());
        let mut date = from.date();
        let last_year = date.year().saturating_add(SEARCH_YEARS);
        while date.year() <= last_year && until.is_none_or(|u| date.at(0, 0, 0, 0) < u) {
            if !self.has(3, date.month()) {
                date = date.last_of_month();
            } else if let Some(m) = self.time_on(date, min) {
                let found = date.at((m / 60) as i8, (m % 60) as i8, 0, 0);
                return until.is_none_or(|u| found < u).then_some(found);
            }
            (date, min) = (date.tomorrow().ok()?, 0);
        }
        None
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    /// Parses a 5-field expression or an `@` macro (see the module docs).
    ///
    /// # Errors
    /// `CronError::Expr` for a wrong field count, a malformed field (named and quoted), an
    /// unknown macro, or a day that no chosen month has (`0 0 31 4 *`).
    fn from_str(text: &str) -> Result<CronExpr, CronError> {
        let fail = |reason: String| {
            let expr = text.to_string();
            Err(CronError::Expr { expr, reason })
        };
        let trimmed = text.trim();
        let name = trimmed.strip_prefix('@').map(str::to_ascii_lowercase);
        let body = match name.as_deref() {
            None => trimmed,
            Some("yearly" | "annually") => "0 0 1 1 *",
            Some("monthly") => "0 0 1 * *",
            Some("weekly") => "0 0 * * 0",
            Some("daily" | "midnight") => "0 0 * * *",
            Some("hourly") => "0 * * * *",
            Some(_) => return fail(MACROS.to_string()),
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 5 {
            let n = fields.len();
            return fail(format!(
                "expected 5 fields ({}), found {n}",
                FIELD.join(" ")
            ));
        }
        let mut bits = [0u64; 5];
        for (i, text) in fields.iter().enumerate() {
            match parse_field(text, i) {
                Ok(set) => bits[i] = set,
                Err(reason) => return fail(format!("{} field {text:?}: {reason}", FIELD[i])),
            }
        }
        bits[4] = (bits[4] | bits[4] >> 7) & 0x7f; // 7 is Sunday too
        let star = |i: usize| fields[i].starts_with(['*', '?']);
        let (days_and, wildcard_time) = (star(2) || star(4), star(0) || star(1));
        // With the AND rule and every weekday allowed only day-of-month decides: some chosen
        // month must have one of the chosen days (29 February counts).
        const MAX_DAY: [u8; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let possible = |m: usize| bits[2] & ((2u64 << MAX_DAY[m]) - 1) != 0;
        if days_and && bits[4] == 0x7f && !(1..=12).any(|m| bits[3] & (1 << m) != 0 && possible(m))
        {
            return fail("never matches: no chosen month has any of the chosen days".into());
        }
        let text = trimmed.to_string();
        Ok(CronExpr {
            text,
            bits,
            days_and,
            wildcard_time,
        })
    }
}

/// The bit set of field `index`, or why it does not parse.
fn parse_field(field: &str, index: usize) -> Result<u64, String> {
    let (lo, hi) = (LOW[index], HIGH[index]);
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            None => (part, 1),
            Some((range, step)) => match step.parse::<u8>() {
                Ok(0) => return Err("a step must be at least 1".into()),
                Ok(n) => (range, n),
                Err(_) => return Err(format!("step {step:?} is not a number")),
            },
        };
        let (start, end) = if range == "*" || (range == "?" && matches!(index, 2 | 4)) {
            (lo, hi)
        } else if range.is_empty() {
            return Err("empty list item".into());
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, index)?, value(b, index)?);
            if a > b {
                return Err(format!("range {range} runs backwards"));
            }
            (a, b)
        } else {
            let v = value(range, index)?;
            (v, if part.contains('/') { hi } else { v })
        };
        for v in (start..=end).step_by(usize::from(step)) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

/// One value of field `index`: a number within bounds or, for month and weekday, a name.
fn value(text: &str, index: usize) -> Result<u8, String> {
    let (lo, hi) = (LOW[index], HIGH[index]);
    let names: &[&str] = [&[][..], &[], &[], &MONTHS, &DAYS][index];
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u8 + lo);
    }
    match text.parse::<u8>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{text} is out of range {lo}-{hi}"))
        }
        _ => match names.first() {
            Some(name) => Err(format!(
                "{text:?} is neither a number {lo}-{hi} nor a name like {name}"
            )),
            None => Err(format!("{text:?} is not a number {lo}-{hi}")),
        },
    }
}

/// The first whole minute at or after `dt`.
fn ceil_minute(dt: DateTime) -> DateTime {
    dt.round(
        DateTimeRound::new()
            .smallest(Unit::Minute)
            .mode(RoundMode::Ceil),
    )
    .unwrap_or(dt)
}

fn timestamp(ms: u64) -> Option<Timestamp> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()
}

fn millis(ts: Timestamp) -> Option<u64> {
    u64::try_from(ts.as_millisecond()).ok()
}

/// The first instant after `after_ms` at which `expr` fires in `tz`, under the DST rule of the
/// module docs. Walks the zone's offset segments (the spans between transitions) from the one
/// holding `after_ms`, matching wall-clock minutes inside each.
fn cron_next_after(expr: &CronExpr, tz: &TimeZone, after_ms: u64) -> Option<u64> {
    let start = timestamp(after_ms.checked_add(1)?)?;
    let transition = |t: jiff::tz::TimeZoneTransition| t.timestamp();
    // Transitions fall on whole seconds: one before start + 1 ms is at or before start.
    let mut seg_start = tz
        .preceding(timestamp(after_ms + 2)?)
        .next()
        .map(transition);
    let just_before = |s: Timestamp| Timestamp::from_millisecond(s.as_millisecond() - 1).ok();
    let mut before = seg_start.and_then(just_before).map(|t| tz.to_offset(t));
    let mut offset = tz.to_offset(start);
    let mut seg_end = tz.following(start).next().map(transition);
    for _ in 0..MAX_SEGMENTS {
        let mut repeated = None;
        if let (false, Some(s), Some(before)) = (expr.wildcard_time, seg_start, before) {
            let old_wall = ceil_minute(before.to_datetime(s));
            let new_wall = ceil_minute(offset.to_datetime(s));
            // Spring forward: a match in the skipped wall time fires at the jump itself.
            if old_wall < new_wall
                && s >= start
                && expr.next_match(old_wall, Some(new_wall)).is_some()
            {
                return millis(s);
            }
            // Fall back: wall times before `old_wall` have already happened once.
            repeated = (new_wall < old_wall).then_some((new_wall, old_wall));
        }
        let from_ts = seg_start.filter(|s| *s > start).unwrap_or(start);
        let mut from = ceil_minute(offset.to_datetime(from_ts));
        let until = seg_end.map(|e| ceil_minute(offset.to_datetime(e)));
        while let Some(m) = expr.next_match(from, until) {
            match repeated {
                Some((a, b)) if a <= m && m < b => from = b,
                _ => return offset.to_timestamp(m).ok().and_then(millis),
            }
        }
        let end = seg_end?;
        (seg_start, before, offset) = (Some(end), Some(offset), tz.to_offset(end));
        seg_end = tz.following(end).next().map(transition);
    }
    None
}

/// When a job runs. JSON (OpenClaw's `CronSchedule`,
/// <https://github.com/openclaw/openclaw/blob/001978f7002940af65e02388381f5feaec92d2f7/src/gateway/protocol/schema/cron.ts>):
/// - `{"kind":"at","at":"2026-12-05T06:00:00Z"}`: `at` is RFC 3339 (without an offset it is
///   UTC, as in OpenClaw) or a number of ms; the legacy `atMs` number is read too. Written
///   back as RFC 3339 UTC.
/// - `{"kind":"every","everyMs":1800000,"anchorMs":1780000000000}`: `anchorMs` optional.
/// - `{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"}`: `tz` optional, the host zone
///   when absent. Unknown fields (OpenClaw's `staggerMs`) are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub enum Schedule {
    /// Once, at `at_ms` (ms since the epoch).
    At {
        /// The instant, ms since the epoch.
        at_ms: u64,
    },
    /// Every `every_ms` (≥ 1) on the grid `anchor_ms + k * every_ms`; without an anchor,
    /// `every_ms` after the instant asked about (OpenClaw anchors at `createdAtMs`: set it when
    /// creating a job).
    Every {
        /// The interval, ms.
        every_ms: u64,
        /// The grid's origin, ms since the epoch.
        anchor_ms: Option<u64>,
    },
    /// A cron expression on the wall clock of `tz`.
    Cron {
        /// The expression.
        expr: CronExpr,
        /// Its zone.
        tz: Zone,
    },
}

impl Schedule {
    /// The first instant strictly after `after_ms` (ms since the epoch) at which this schedule
    /// fires; `None` when it never fires again (a past `at`). Cron expressions follow the DST
    /// rule of the module docs.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Schedule::At { at_ms } => (*at_ms > after_ms).then_some(*at_ms),
            Schedule::Every {
                every_ms,
                anchor_ms,
            } => {
                let every = (*every_ms).max(1);
                match *anchor_ms {
                    Some(a) if after_ms < a => Some(a),
                    Some(a) => a.checked_add(((after_ms - a) / every + 1).checked_mul(every)?),
                    None => after_ms.checked_add(every),
                }
            }
            Schedule::Cron { expr, tz } => cron_next_after(expr, tz.time_zone(), after_ms),
        }
    }

    /// Whether this is a one-shot (`at`).
    pub fn is_one_shot(&self) -> bool {
        matches!(self, Schedule::At { .. })
    }
}

/// The JSON form of `Schedule`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum Repr {
    At {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<AtValue>,
        #[serde(default, skip_serializing)]
        at_ms: Option<u64>,
    },
    Every {
        every_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor_ms: Option<u64>,
    },
    Cron {
        expr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tz: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum AtValue {
    Ms(u64),
    Text(String),
}

impl TryFrom<Repr> for Schedule {
    type Error = CronError;

    fn try_from(repr: Repr) -> Result<Schedule, CronError> {
        let bad = |reason: &str| Err(CronError::Schedule(reason.into()));
        let at_ms = match repr {
            Repr::At {
                at: Some(AtValue::Ms(ms)),
                ..
            }
            | Repr::At {
                at: None,
                at_ms: Some(ms),
            } => ms,
            Repr::At {
                at: Some(AtValue::Text(text)),
                ..
            } => parse_absolute(text.trim(), &Zone::utc())?,
            Repr::At { .. } => return bad("kind at needs `at`"),
            Repr::Every { every_ms: 0, .. } => return bad("everyMs must be at least 1"),
            Repr::Every {
                every_ms,
                anchor_ms,
            } => {
                return Ok(Schedule::Every {
                    every_ms,
                    anchor_ms,
                });
            }
            Repr::Cron { expr, tz } => {
                let tz = tz.map_or_else(|| Ok(Zone::host()), |name| Zone::named(&name))?;
                return Ok(Schedule::Cron {
                    expr: expr.parse()?,
                    tz,
                });
            }
        };
        Ok(Schedule::At { at_ms })
    }
}

impl From<Schedule> for Repr {
    fn from(schedule: Schedule) -> Repr {
        match schedule {
            Schedule::At { at_ms } => {
                let text = timestamp(at_ms).map_or_else(|| at_ms.to_string(), |t| t.to_string());
                let at = Some(AtValue::Text(text));
                Repr::At { at, at_ms: None }
            }
            Schedule::Every {
                every_ms,
                anchor_ms,
            } => Repr::Every {
                every_ms,
                anchor_ms,
            },
            Schedule::Cron { expr, tz } => {
                let tz = tz.name().map(str::to_string);
                Repr::Cron {
                    expr: expr.text,
                    tz,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    fn json(text: &str) -> Result<Schedule, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Cases `zone | expression | after | the next firings`, each as `YYYY-MM-DDTHH:MM±HH`.
    const FIRES: &[&str] = &[
        // Month and year ends; strictly after; 29 February; the 31st skips short months.
        "UTC | 0 0 1 * * | 2026-12-15T10:00Z | 2027-01-01T00:00+00 2027-02-01T00:00+00",
        "UTC | 59 23 31 12 * | 2026-12-31T23:59Z | 2027-12-31T23:59+00",
        "UTC | 0 12 29 2 * | 2026-03-01T00:00Z | 2028-02-29T12:00+00 2032-02-29T12:00+00",
        "Europe/Berlin | 0 9 31 * * | 2026-04-01T00:00Z | 2026-05-31T09:00+02",
        "UTC | 0 0 * * 7 | 2026-03-02T00:00Z | 2026-03-08T00:00+00",
        "UTC | 5/20 8 * * * | 2026-03-02T00:00Z | 2026-03-02T08:05+00 2026-03-02T08:25+00 2026-03-02T08:45+00",
        // February 2026: Fridays are the 6th, 13th, 20th, 27th. Both restricted: OR.
        "UTC | 0 9 10 * FRI | 2026-02-01T00:00Z | 2026-02-06T09:00+00 2026-02-10T09:00+00 2026-02-13T09:00+00",
        "UTC | 0 9 10 * * | 2026-02-01T00:00Z | 2026-02-10T09:00+00 2026-03-10T09:00+00",
        // A day field starting with `*` makes it AND: odd days that are Fridays.
        "UTC | 0 9 */2 * FRI | 2026-02-01T00:00Z | 2026-02-13T09:00+00 2026-02-27T09:00+00",
        // Berlin 2026-03-29 02:00 CET → 03:00 CEST: 02:30 fires at the jump, 01:30 as usual.
        "Europe/Berlin | 30 2 * * * | 2026-03-28T00:00+01:00 | 2026-03-28T02:30+01 2026-03-29T03:00+02 2026-03-30T02:30+02",
        "Europe/Berlin | 30 1 * * * | 2026-03-28T00:00+01:00 | 2026-03-28T01:30+01 2026-03-29T01:30+01 2026-03-30T01:30+02",
        // Berlin 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice and fires once.
        "Europe/Berlin | 30 2 * * * | 2026-10-24T00:00+02:00 | 2026-10-24T02:30+02 2026-10-25T02:30+02 2026-10-26T02:30+01",
        "Europe/Berlin | 30 1 * * * | 2026-10-24T00:00+02:00 | 2026-10-24T01:30+02 2026-10-25T01:30+02 2026-10-26T01:30+01",
        // New York 2026-03-08 02:00 EST → 03:00 EDT.
        "America/New_York | 30 2 * * * | 2026-03-07T00:00-05:00 | 2026-03-07T02:30-05 2026-03-08T03:00-04 2026-03-09T02:30-04",
        "America/New_York | 30 1 * * * | 2026-03-07T00:00-05:00 | 2026-03-07T01:30-05 2026-03-08T01:30-05 2026-03-09T01:30-04",
        // New York 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens twice and fires once,
        // also when asked during the second 01:10.
        "America/New_York | 30 1 * * * | 2026-10-31T00:00-04:00 | 2026-10-31T01:30-04 2026-11-01T01:30-04 2026-11-02T01:30-05",
        "America/New_York | 30 2 * * * | 2026-10-31T00:00-04:00 | 2026-10-31T02:30-04 2026-11-01T02:30-05 2026-11-02T02:30-05",
        "America/New_York | 30 1 * * * | 2026-11-01T01:10-05:00 | 2026-11-02T01:30-05",
        // Wildcard hours follow real time: both 01:30s, no 02:30 on the spring day.
        "America/New_York | 30 * * * * | 2026-11-01T00:00-04:00 | 2026-11-01T00:30-04 2026-11-01T01:30-04 2026-11-01T01:30-05 2026-11-01T02:30-05",
        "America/New_York | 30 * * * * | 2026-03-08T00:00-05:00 | 2026-03-08T00:30-05 2026-03-08T01:30-05 2026-03-08T03:30-04",
        // A fixed-time list inside the gap fires once, at the jump.
        "Europe/Berlin | 0,30 2 * * * | 2026-03-29T00:00+01:00 | 2026-03-29T03:00+02 2026-03-30T02:00+02",
    ];

    #[test]
    fn next_after_month_ends_day_rules_and_dst() {
        for case in FIRES {
            let [zone, expr, after, want] = case.split(" | ").collect::<Vec<_>>()[..] else {
                panic!("{case}")
            };
            let cron = json(&format!(
                r#"{{"kind":"cron","expr":"{expr}","tz":"{zone}"}}"#
            ));
            let (cron, tz, mut at) = (cron.unwrap(), TimeZone::get(zone).unwrap(), ms(after));
            let mut next = || {
                at = cron.next_after(at).unwrap();
                let ts = Timestamp::from_millisecond(at as i64).unwrap();
                let full = ts.display_with_offset(tz.to_offset(ts)).to_string();
                format!("{}{}", &full[..16], &full[19..22])
            };
            let got: Vec<String> = want.split(' ').map(|_| next()).collect();
            assert_eq!(got.join(" "), want, "{case}");
        }
    }

    /// Cases `expression => error after "cron expression {expression:?}: "`.
    const BAD: &[&str] = &[
        r#"61 * * * * => minute field "61": 61 is out of range 0-59"#,
        r#"0 24 * * * => hour field "24": 24 is out of range 0-23"#,
        "* * * * => expected 5 fields (minute hour day-of-month month day-of-week), found 4",
        "0 0 0 * * * => expected 5 fields (minute hour day-of-month month day-of-week), found 6",
        r#"0 0 * FOO * => month field "FOO": "FOO" is neither a number 1-12 nor a name like JAN"#,
        r#"0 0 * * FRI-MON => day-of-week field "FRI-MON": range FRI-MON runs backwards"#,
        r#"*/0 * * * * => minute field "*/0": a step must be at least 1"#,
        r#"0 0 1,,2 * * => day-of-month field "1,,2": empty list item"#,
        r#"0 ? * * * => hour field "?": "?" is not a number 0-23"#,
        "@reboot => unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
        "0 0 31 4,6 * => never matches: no chosen month has any of the chosen days",
    ];

    #[test]
    fn parses_good_and_rejects_bad_expressions() {
        for good in [
            "*/15 9-17 * * MON-FRI",
            "0 12 * JAN,jul sun",
            "0 0 ? * 1-7/2",
            "@Hourly",
        ] {
            assert!(good.parse::<CronExpr>().is_ok(), "{good}");
        }
        let weekly = " @weekly ".parse::<CronExpr>().unwrap();
        assert_eq!(weekly.to_string(), "@weekly");
        for case in BAD {
            let (expr, want) = case.split_once(" => ").unwrap();
            let got = expr.parse::<CronExpr>().unwrap_err().to_string();
            assert_eq!(got, format!("cron expression {expr:?}: {want}"));
        }
    }

    #[test]
    fn every_with_and_without_anchor_and_at() {
        let anchored = json(r#"{"kind":"every","everyMs":600000,"anchorMs":1000}"#).unwrap();
        let got = [500, 1_000, 601_500].map(|t| anchored.next_after(t));
        assert_eq!(got, [Some(1_000), Some(601_000), Some(1_201_000)]);
        let drifting = json(r#"{"kind":"every","everyMs":600000}"#).unwrap();
        assert_eq!(drifting.next_after(5), Some(600_005));
        let at = Schedule::At { at_ms: 100 };
        assert_eq!((at.next_after(50), at.next_after(100)), (Some(100), None));
    }

    #[test]
    fn json_shapes_round_trip() {
        let write = |text: &str| serde_json::to_string(&json(text).unwrap()).unwrap();
        let berlin = r#"{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"}"#;
        assert_eq!(write(&berlin.replace('}', r#","staggerMs":0}"#)), berlin);
        let host = json(r#"{"kind":"cron","expr":"@hourly"}"#).unwrap();
        assert!(matches!(&host, Schedule::Cron { tz, .. } if tz.name().is_none()));
        let every = r#"{"kind":"every","everyMs":1800000,"anchorMs":1000}"#;
        assert_eq!(write(every), every);
        let at = ms("2026-12-05T06:00:00Z");
        for text in [
            r#"{"kind":"at","at":"2026-12-05T07:00:00+01:00"}"#,
            r#"{"kind":"at","at":"2026-12-05T06:00:00"}"#,
            &format!(r#"{{"kind":"at","at":{at}}}"#),
            &format!(r#"{{"kind":"at","atMs":{at}}}"#),
        ] {
            assert_eq!(json(text), Ok(Schedule::At { at_ms: at }), "{text}");
            assert_eq!(write(text), r#"{"kind":"at","at":"2026-12-05T06:00:00Z"}"#);
        }
        let zero = json(r#"{"kind":"every","everyMs":0}"#).unwrap_err();
        assert!(zero.contains("everyMs must be at least 1"), "{zero}");
        let four = json(r#"{"kind":"cron","expr":"0 7 * *"}"#).unwrap_err();
        assert!(four.contains("expected 5 fields"), "{four}");
        let mars = json(r#"{"kind":"cron","expr":"@daily","tz":"Mars/Olympus"}"#).unwrap_err();
        assert!(mars.contains(r#"time zone "Mars/Olympus""#), "{mars}");
    }
}
