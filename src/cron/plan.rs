//! Plans: whether a job is due at `now_ms`, what a finished run changes (catch-up, retries,
//! error backoff), and the heartbeat rules (active hours, the `HEARTBEAT_OK` ack, an empty
//! `HEARTBEAT.md`). All times are ms since the Unix epoch.
//!
//! The rules are OpenClaw's (cron: <https://docs.openclaw.ai/automation/cron-jobs>,
//! <https://docs.openclaw.ai/cli/cron>; heartbeat: <https://docs.openclaw.ai/gateway/heartbeat>
//! and `src/auto-reply/heartbeat.ts`, `src/infra/heartbeat-active-hours.ts` in
//! <https://github.com/openclaw/openclaw>), restated in each item's docs.
//!
//! Must not import anything outside this module but std, serde and jiff.

use jiff::Timestamp;

use super::{CronError, JobState, RunStatus, Schedule, Zone, parse_duration_ms};

/// Delay before retrying a recurring job after its 1st, 2nd, 3rd, 4th and 5th-or-later
/// consecutive error, ms (OpenClaw: 30 s → 1 m → 5 m → 15 m → 60 m, reset by a success).
pub const ERROR_BACKOFF_MS: [u64; 5] = [30_000, 60_000, 300_000, 900_000, 3_600_000];
/// Delays before the up-to-3 retries of a one-shot after a transient error, ms (OpenClaw's
/// `cron.retry` defaults `{maxAttempts: 3, backoffMs: [60000, 120000, 300000]}`).
pub const ONE_SHOT_RETRY_BACKOFF_MS: [u64; 3] = [60_000, 120_000, 300_000];
/// The reply token that means "nothing needs attention".
pub const HEARTBEAT_TOKEN: &str = "HEARTBEAT_OK";
/// Text allowed beside `HEARTBEAT_OK` in a reply that is still an ack, UTF-16 code units.
pub const DEFAULT_ACK_MAX_CHARS: usize = 300;
/// The default heartbeat interval, 30 minutes in ms.
pub const DEFAULT_HEARTBEAT_EVERY_MS: u64 = 30 * 60_000;
/// OpenClaw's default heartbeat prompt, sent verbatim as the user message.
pub const DEFAULT_HEARTBEAT_PROMPT: &str = "Read HEARTBEAT.md if it exists (workspace context). \
    Follow it strictly. Do not infer or repeat old tasks from prior chats. If nothing needs \
    attention, reply HEARTBEAT_OK.";

/// The answer of `due`; the default is "not due, nothing planned".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Start a run now.
    pub run_now: bool,
    /// When not running now: the instant to wake for this job, to store as
    /// `state.next_run_at_ms` (`None`: never again, or a run is in progress). When running
    /// now: the slot after now, for display; `after_run` sets the real next run.
    pub next_ms: Option<u64>,
}

/// What a finished run did, for `after_run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Start, ms since the epoch.
    pub started_at_ms: u64,
    /// End, ms since the epoch.
    pub ended_at_ms: u64,
    /// The result.
    pub result: RunResult,
}

/// A run's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunResult {
    /// The payload ran.
    Ok,
    /// It was not run, and will not be retried before the next slot.
    Skipped,
    /// It failed.
    Error {
        /// Whether a retry may help.
        kind: ErrorKind,
        /// Stored as `lastError`.
        message: String,
    },
}

/// OpenClaw retries one-shots on rate limits, overload, network and server errors only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Rate limit, overload, network, 5xx, or a run cut short by a restart.
    Transient,
    /// Anything a retry will not fix.
    Permanent,
}

/// What to do with the job after `after_run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Keep it as it is.
    Keep,
    /// Keep it, disabled (a finished or failed one-shot).
    Disable,
    /// Remove it (a one-shot that succeeded, with `deleteAfterRun`).
    Delete,
}

/// Whether the job runs at `now_ms`, and when to wake for it otherwise.
///
/// Catch-up after downtime: a job whose stored `next_run_at_ms` has passed runs once, however
/// many slots were missed, and `after_run` then plans from the run's end (OpenClaw's
/// `runMissedJobs`). A one-shot whose time has passed without a run runs once; after its run
/// (and any retries) it is never due again. A job with no stored next run is planned from
/// `now_ms` (a recurring job's first slot after now; a one-shot's `at`).
pub fn due(state: &JobState, schedule: &Schedule, now_ms: u64) -> Due {
    let slot_after_now = schedule.next_after(now_ms);
    let planned = match (schedule, state.next_run_at_ms) {
        _ if state.running_at_ms.is_some() => None,
        (Schedule::At { at_ms }, next) if state.last_run_at_ms.is_none() => next.or(Some(*at_ms)),
        (Schedule::At { .. }, next) => next,
        (_, next) => next.or(slot_after_now),
    };
    let run_now = planned.is_some_and(|next| next <= now_ms);
    let next_ms = if run_now { slot_after_now } else { planned };
    Due { run_now, next_ms }
}

/// Records a finished run in `state` and plans the next one.
///
/// - Recurring jobs: the next run is the schedule's first slot after the run's end. After an
///   error it is `max(that slot, end + ERROR_BACKOFF_MS[n-1])` for the n-th consecutive error
///   (the last entry for n ≥ 5); a success resets n. Always `Keep`.
/// - One-shots: a transient error is retried after `ONE_SHOT_RETRY_BACKOFF_MS[n-1]` while
///   n ≤ 3 (`Keep`); success returns `one_shot_success` (`Delete` for `deleteAfterRun`, else
///   `Disable`); anything else is final: `Disable`, so the error stays visible.
pub fn after_run(
    state: &mut JobState,
    schedule: &Schedule,
    outcome: &RunOutcome,
    one_shot_success: Disposition,
) -> Disposition {
    let end = outcome.ended_at_ms.max(outcome.started_at_ms);
    state.running_at_ms = None;
    state.last_run_at_ms = Some(outcome.started_at_ms);
    state.last_duration_ms = Some(end - outcome.started_at_ms);
    let (status, error) = match &outcome.result {
        RunResult::Ok => (RunStatus::Ok, None),
        RunResult::Skipped => (RunStatus::Skipped, None),
        RunResult::Error { message, .. } => (RunStatus::Error, Some(message.clone())),
    };
    state.last_status = Some(status);
    state.last_error = error;
    match status {
        RunStatus::Ok => state.consecutive_errors = 0,
        RunStatus::Error => state.consecutive_errors = state.consecutive_errors.saturating_add(1),
        RunStatus::Skipped => {}
    }
    let n = state.consecutive_errors as usize;
    if schedule.is_one_shot() {
        state.next_run_at_ms = None;
        return match outcome.result {
            RunResult::Ok => one_shot_success,
            RunResult::Error { kind, .. } if kind == ErrorKind::Transient && n <= 3 => {
                state.next_run_at_ms = Some(end.saturating_add(ONE_SHOT_RETRY_BACKOFF_MS[n - 1]));
                Disposition::Keep
            }
            _ => Disposition::Disable,
        };
    }
    let natural = schedule.next_after(end);
    state.next_run_at_ms = match status {
        RunStatus::Error => {
            let backoff = ERROR_BACKOFF_MS[n.clamp(1, ERROR_BACKOFF_MS.len()) - 1];
            let earliest = end.saturating_add(backoff);
            Some(natural.map_or(earliest, |slot| slot.max(earliest)))
        }
        _ => natural,
    };
    Disposition::Keep
}

/// The daily window in which heartbeats run, on the wall clock of `tz`: `start_min` inclusive
/// to `end_min` exclusive, in minutes of the day (0-1439; `end_min` may be 1440 for `24:00`).
/// An `end_min` at or before `start_min` wraps past midnight (22:00–06:00); equal ends make
/// an empty window, as in OpenClaw's `isWithinActiveHours`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveHours {
    /// First minute inside, 0-1439.
    pub start_min: u16,
    /// First minute outside, 0-1440.
    pub end_min: u16,
    /// The zone whose wall clock is meant.
    pub tz: Zone,
}

impl ActiveHours {
    /// Parses OpenClaw's `activeHours: {start: "HH:MM", end: "HH:MM"}`; `end` may be `24:00`.
    ///
    /// # Errors
    /// `CronError::Time` unless each is two-digit hours 00-23 and minutes 00-59.
    pub fn parse(start: &str, end: &str, tz: Zone) -> Result<ActiveHours, CronError> {
        let (start_min, end_min) = (hh_mm(start, false)?, hh_mm(end, true)?);
        Ok(ActiveHours {
            start_min,
            end_min,
            tz,
        })
    }

    /// Whether `now_ms` falls inside the window.
    pub fn contains(&self, now_ms: u64) -> bool {
        let (start, end) = (self.start_min, self.end_min);
        minute_of_day(&self.tz, now_ms).is_some_and(|m| match end > start {
            true => start <= m && m < end,
            false => start != end && (m >= start || m < end),
        })
    }

    /// The first instant at or after `now_ms` (ms) inside the window: `now_ms` itself when
    /// inside, else the next whole minute at which the wall clock reaches `start` or jumps into
    /// the window at a DST change; `None` for an empty window. Offsets and transitions fall on
    /// whole minutes, so walking whole minutes (at most 4 days) finds the exact instant.
    pub fn next_open(&self, now_ms: u64) -> Option<u64> {
        let minutes = (0..4 * 1440).map(|i| now_ms.div_ceil(60_000) * 60_000 + i * 60_000);
        let mut instants = std::iter::once(now_ms).chain(minutes);
        (self.start_min != self.end_min).then(|| instants.find(|&t| self.contains(t)))?
    }
}

/// `HH:MM` (00:00-23:59, or 24:00 when `allow_24`) as minutes of the day.
fn hh_mm(text: &str, allow_24: bool) -> Result<u16, CronError> {
    let (text, reason) = (text.to_string(), "expected HH:MM".to_string());
    let err = || CronError::Time {
        text: text.clone(),
        reason: reason.clone(),
    };
    let (h, m) = text.split_once(':').ok_or_else(err)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(err());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    match (h, m) {
        (24, 0) if allow_24 => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(err()),
    }
}

/// The wall-clock minute of the day (0-1439) at `ms` in `zone`.
fn minute_of_day(zone: &Zone, ms: u64) -> Option<u16> {
    let ts = Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
    let dt = zone.time_zone().to_offset(ts).to_datetime(ts);
    Some(dt.hour() as u16 * 60 + dt.minute() as u16)
}

/// Parses a heartbeat `every`: a duration (`30m`, `1h`) or a bare number of minutes, as in
/// OpenClaw. Returns the interval in ms, `None` for zero (heartbeats off).
///
/// # Errors
/// `CronError::Duration` as for `parse_duration_ms`.
pub fn parse_heartbeat_every(text: &str) -> Result<Option<u64>, CronError> {
    let t = text.trim();
    let ms = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        parse_duration_ms(&format!("{t}m"))?
    } else {
        parse_duration_ms(t)?
    };
    Ok((ms > 0).then_some(ms))
}

/// When the next heartbeat runs: `every_ms` after the last one (or after `now_ms` when there
/// was none), at once if that has passed (a missed heartbeat runs once), then moved to the
/// next opening of `active` when outside it. `None` when `every_ms` is 0 or the window never
/// opens.
pub fn next_heartbeat(
    last_run_ms: Option<u64>,
    every_ms: u64,
    active: Option<&ActiveHours>,
    now_ms: u64,
) -> Option<u64> {
    if every_ms == 0 {
        return None;
    }
    let base = now_ms.max(last_run_ms.unwrap_or(now_ms).saturating_add(every_ms));
    match active {
        Some(window) => window.next_open(base),
        None => Some(base),
    }
}

/// What a heartbeat reply means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatReply {
    /// "Nothing needs attention": deliver nothing.
    Ack,
    /// Deliver this text (the reply with any edge `HEARTBEAT_OK` removed).
    Alert(String),
}

/// Reads a heartbeat run's reply as OpenClaw's `stripHeartbeatToken` in heartbeat mode
/// (`src/auto-reply/heartbeat.ts`): an empty reply is an ack; `HEARTBEAT_OK` counts only at
/// the start or the end (followed by at most 4 non-word characters, like `.` or `!!`), also
/// when wrapped in markup such as `**HEARTBEAT_OK**` or `<b>HEARTBEAT_OK</b>`; it is removed,
/// and the reply is an ack when at most `ack_max_chars` (UTF-16 units, as JavaScript counts)
/// remain after whitespace runs are collapsed. A token in the middle means nothing.
pub fn heartbeat_reply(reply: &str, ack_max_chars: usize) -> HeartbeatReply {
    let trimmed = reply.trim();
    if trimmed.is_empty() {
        return HeartbeatReply::Ack;
    }
    let normalized = strip_markup(trimmed);
    if !trimmed.contains(HEARTBEAT_TOKEN) && !normalized.contains(HEARTBEAT_TOKEN) {
        return HeartbeatReply::Alert(trimmed.to_string());
    }
    let original = strip_token_at_edges(trimmed);
    let picked = match original {
        Some(text) if !text.is_empty() => Some(text),
        _ => strip_token_at_edges(&normalized),
    };
    match picked {
        None => HeartbeatReply::Alert(trimmed.to_string()),
        Some(rest) if rest.encode_utf16().count() <= ack_max_chars => HeartbeatReply::Ack,
        Some(rest) => HeartbeatReply::Alert(rest),
    }
}

/// Whether a heartbeat reply is an ack (see `heartbeat_reply`).
pub fn heartbeat_ack(reply: &str, ack_max_chars: usize) -> bool {
    heartbeat_reply(reply, ack_max_chars) == HeartbeatReply::Ack
}

/// Drops HTML tags and `&nbsp;`, and markdown emphasis characters at the two ends.
fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let skip = if rest.starts_with('<') {
            rest.find('>').map(|j| j + 1)
        } else {
            let nbsp = rest
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("&nbsp;"));
            nbsp.then_some(6)
        };
        match skip {
            Some(n) => (out.push(' '), rest = &rest[n..]),
            None => (out.push_str(&rest[..1]), rest = &rest[1..]),
        };
    }
    out.push_str(rest);
    let emphasis: &[char] = &['*', '`', '~', '_'];
    out.trim_matches(emphasis).to_string()
}

/// Removes `HEARTBEAT_OK` from the start and the end (with up to 4 trailing non-word
/// characters), repeatedly; `None` when there was none there. Collapses whitespace runs.
fn strip_token_at_edges(raw: &str) -> Option<String> {
    let mut text = raw.trim().to_string();
    let mut stripped = false;
    loop {
        let next = text.trim();
        if let Some(after) = next.strip_prefix(HEARTBEAT_TOKEN) {
            text = after.trim_start().to_string();
        } else if let Some(i) = next.rfind(HEARTBEAT_TOKEN).filter(|&i| {
            let tail = &next[i + HEARTBEAT_TOKEN.len()..];
            tail.chars().count() <= 4
                && !tail.chars().any(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            let (head, tail) = (next[..i].trim_end(), &next[i + HEARTBEAT_TOKEN.len()..]);
            text = format!("{head}{tail}").trim_end().to_string();
        } else {
            break;
        }
        stripped = true;
    }
    stripped.then(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Whether an existing `HEARTBEAT.md` is effectively empty, so the heartbeat run is skipped
/// (OpenClaw's `isHeartbeatContentEffectivelyEmpty`, skip reason `empty-heartbeat-file`): every
/// line is blank, a markdown heading (`#`s then a space or the end: `#TODO` is content), or an
/// empty list item (`-`, `* [ ]`, `+ [x]`). A missing file is not empty: the run happens.
pub fn heartbeat_file_is_empty(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| {
        let heading = line.trim_start_matches('#');
        let is_heading = line.starts_with('#')
            && (heading.is_empty() || heading.starts_with(char::is_whitespace));
        let empty_item = line.strip_prefix(['-', '*', '+']).is_some_and(|rest| {
            let rest = rest.trim_start();
            let boxed = rest.strip_prefix('[').and_then(|r| {
                let r = r.strip_prefix([' ', '\t', 'x', 'X']).unwrap_or(r);
                r.strip_prefix(']')
            });
            rest.is_empty() || boxed.is_some_and(|r| r.trim().is_empty())
        });
        line.is_empty() || is_heading || empty_item
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    fn json(text: &str) -> Schedule {
        serde_json::from_str(text).unwrap()
    }

    fn plan(state: &JobState, schedule: &Schedule, now: u64) -> (bool, Option<u64>) {
        let d = due(state, schedule, now);
        (d.run_now, d.next_ms)
    }

    /// Records a one-second run from `start` that failed with `kind` (`None`: it succeeded).
    /// A successful one-shot is deleted.
    fn end(state: &mut JobState, s: &Schedule, start: u64, kind: Option<ErrorKind>) -> Disposition {
        let message = "boom".to_string();
        let result = kind.map_or(RunResult::Ok, |kind| RunResult::Error { kind, message });
        let (started_at_ms, ended_at_ms) = (start, start + 1_000);
        let run = RunOutcome {
            started_at_ms,
            ended_at_ms,
            result,
        };
        after_run(state, s, &run, Disposition::Delete)
    }

    #[test]
    fn downtime_catch_up_runs_once_then_plans_from_now() {
        let hourly = json(r#"{"kind":"cron","expr":"0 * * * *","tz":"UTC"}"#);
        let four = ms("2026-05-01T16:00:00Z");
        let next_run_at_ms = Some(ms("2026-05-01T10:00:00Z"));
        let mut state = JobState {
            next_run_at_ms,
            ..JobState::default()
        };
        // Down from 09:30 to 15:20: five slots missed, one run.
        let now = ms("2026-05-01T15:20:00Z");
        assert_eq!(plan(&state, &hourly, now), (true, Some(four)));
        state.running_at_ms = Some(now);
        assert_eq!(plan(&state, &hourly, now), (false, None));
        assert_eq!(end(&mut state, &hourly, now, None), Disposition::Keep);
        assert_eq!(state.next_run_at_ms, Some(four));
        assert_eq!(state.last_run_at_ms, Some(now));
        assert_eq!(state.last_status, Some(RunStatus::Ok));
        assert_eq!(plan(&state, &hourly, now + 1), (false, Some(four)));
        // A new job plans its first slot after now and does not run at once.
        let new = JobState::default();
        assert_eq!(plan(&new, &hourly, now), (false, Some(four)));
    }

    #[test]
    fn one_shot_in_the_past_runs_once_then_is_done() {
        let eight = ms("2026-05-01T08:00:00Z");
        let at = Schedule::At { at_ms: eight };
        let (mut state, now) = (JobState::default(), eight + 4 * H);
        assert_eq!(plan(&state, &at, eight - H), (false, Some(eight)));
        assert_eq!(plan(&state, &at, now), (true, None));
        assert_eq!(end(&mut state, &at, now, None), Disposition::Delete);
        assert_eq!(plan(&state, &at, now + H), (false, None));
    }

    #[test]
    fn one_shot_retries_transient_errors_three_times() {
        let (at, mut state, mut now) = (Schedule::At { at_ms: 0 }, JobState::default(), H);
        let transient = Some(ErrorKind::Transient);
        for delay in ONE_SHOT_RETRY_BACKOFF_MS {
            assert!(due(&state, &at, now).run_now);
            assert_eq!(end(&mut state, &at, now, transient), Disposition::Keep);
            now += 1_000 + delay;
            assert_eq!(state.next_run_at_ms, Some(now));
            assert!(!due(&state, &at, now - 1).run_now);
        }
        let done = end(&mut state, &at, now, transient);
        assert_eq!((done, state.consecutive_errors), (Disposition::Disable, 4));
        assert_eq!(state.last_error.as_deref(), Some("boom"));
        let mut state = JobState::default();
        let done = end(&mut state, &at, now, Some(ErrorKind::Permanent));
        assert_eq!((done, state.next_run_at_ms), (Disposition::Disable, None));
    }

    #[test]
    fn recurring_errors_back_off_and_success_resets() {
        let (mut state, mut now) = (JobState::default(), H);
        let every = json(r#"{"kind":"every","everyMs":10000,"anchorMs":0}"#);
        for backoff in [30_000, 60_000, 300_000, 900_000, 3_600_000, 3_600_000] {
            end(&mut state, &every, now, Some(ErrorKind::Transient));
            now += 1_000 + backoff;
            assert_eq!(state.next_run_at_ms, Some(now));
        }
        assert_eq!(state.consecutive_errors, 6);
        end(&mut state, &every, now, None);
        let slot = (now + 1_000) / 10_000 * 10_000 + 10_000;
        assert_eq!(state.next_run_at_ms, Some(slot));
        assert_eq!(state.consecutive_errors, 0);
        assert!(state.last_error.is_none());
        // A daily job's next slot is later than the backoff: the slot wins.
        let daily = json(r#"{"kind":"cron","expr":"0 7 * * *","tz":"UTC"}"#);
        end(&mut state, &daily, 7 * H, Some(ErrorKind::Permanent));
        assert_eq!(state.next_run_at_ms, Some(31 * H));
    }

    #[test]
    fn active_hours_by_day_overnight_and_zone() {
        let window = |start, end, zone| ActiveHours::parse(start, end, Zone::named(zone).unwrap());
        let office = window("09:00", "17:00", "Europe/Berlin").unwrap();
        let night = window("22:00", "06:00", "America/New_York").unwrap();
        let late = window("20:00", "24:00", "UTC").unwrap();
        let gap = window("02:30", "04:00", "Europe/Berlin").unwrap();
        let never = window("08:00", "08:00", "UTC").unwrap();
        let inside = |w: &ActiveHours, at: &str| w.contains(ms(at));
        assert!(!inside(&office, "2026-07-01T08:59:00+02:00"));
        assert!(inside(&office, "2026-07-01T09:00:00+02:00"));
        assert!(inside(&office, "2026-07-01T07:30:00Z"));
        assert!(inside(&office, "2026-07-01T16:59:59+02:00"));
        assert!(!inside(&office, "2026-07-01T17:00:00+02:00"));
        assert!(inside(&night, "2026-07-01T23:00:00-04:00"));
        assert!(inside(&night, "2026-07-02T05:59:00-04:00"));
        assert!(!inside(&night, "2026-07-02T06:00:00-04:00"));
        assert!(!inside(&night, "2026-07-01T12:00:00-04:00"));
        assert!(inside(&late, "2026-07-01T23:59:00Z"));
        assert!(!inside(&late, "2026-07-02T00:00:00Z"));
        assert!(!inside(&never, "2026-07-01T08:00:00Z"));
        let opens = |w: &ActiveHours, at: &str| w.next_open(ms(at)).map(|t| t - ms(at));
        assert_eq!(opens(&office, "2026-07-01T18:00:00+02:00"), Some(15 * H));
        assert_eq!(opens(&office, "2026-07-01T12:00:00+02:00"), Some(0));
        assert_eq!(opens(&night, "2026-07-01T12:00:00-04:00"), Some(10 * H));
        // A start inside the spring-forward gap opens at the jump (03:00 CEST).
        assert_eq!(opens(&gap, "2026-03-29T00:00:00+01:00"), Some(2 * H));
        assert_eq!(never.next_open(0), None);
        for bad in ["9:00", "24:00", "12:60", "noon"] {
            assert!(window(bad, "23:00", "UTC").is_err(), "{bad}");
        }
    }

    #[test]
    fn heartbeat_ok_at_start_or_end_is_an_ack() {
        let ack = |reply: &str| heartbeat_ack(reply, DEFAULT_ACK_MAX_CHARS);
        assert!(ack("HEARTBEAT_OK") && ack("  HEARTBEAT_OK\n") && ack(""));
        assert!(ack("HEARTBEAT_OK All quiet, nothing due."));
        assert!(ack("All quiet, nothing due. HEARTBEAT_OK"));
        assert!(ack("HEARTBEAT_OK.") && ack("`HEARTBEAT_OK`"));
        assert!(ack("**HEARTBEAT_OK**") && ack("<b>HEARTBEAT_OK</b>"));
        let (x300, x301) = ("x".repeat(300), "x".repeat(301));
        assert!(ack(&format!("HEARTBEAT_OK {x300}")));
        let alert = |reply: &str, max| match heartbeat_reply(reply, max) {
            HeartbeatReply::Alert(text) => text,
            HeartbeatReply::Ack => "(ack)".into(),
        };
        assert_eq!(alert(&format!("HEARTBEAT_OK {x301}"), 300), x301);
        assert_eq!(alert(&format!("{x301}\n\nHEARTBEAT_OK"), 300), x301);
        let middle = "The backup failed; HEARTBEAT_OK is not the answer, please check.";
        assert_eq!(alert(middle, 300), middle);
        let train = "Your train leaves at 7.";
        assert_eq!(alert(train, 300), train);
        assert_eq!(alert("HEARTBEAT_OK  hi   there", 0), "hi there");
    }

    #[test]
    fn empty_heartbeat_file_skips_the_run() {
        let empty = "|  \n\t\n|# Heartbeat\n\n## Tasks\n|- [ ]\n* \n+ [x]\n|#\n";
        for text in empty.split('|') {
            assert!(heartbeat_file_is_empty(text), "{text:?}");
        }
        let tasks = "#TODO call mum|- check the mail|# Tasks\n- [ ] water plants|Hi";
        for text in tasks.split('|') {
            assert!(!heartbeat_file_is_empty(text), "{text:?}");
        }
    }

    #[test]
    fn heartbeat_cadence() {
        let every = ["30", "1h", "0m"].map(|t| parse_heartbeat_every(t).unwrap());
        assert_eq!(every, [Some(H / 2), Some(H), None]);
        assert!(parse_heartbeat_every("soon").is_err());
        let every = DEFAULT_HEARTBEAT_EVERY_MS;
        assert_eq!(next_heartbeat(None, every, None, H), Some(H + every));
        assert_eq!(next_heartbeat(Some(1_000), every, None, 5 * H), Some(5 * H));
        assert_eq!(next_heartbeat(Some(0), 0, None, 5), None);
        let office = ActiveHours::parse("09:00", "17:00", Zone::utc()).unwrap();
        let evening = ms("2026-07-01T16:50:00Z");
        let next = next_heartbeat(Some(evening), every, Some(&office), evening);
        assert_eq!(next, Some(ms("2026-07-02T09:00:00Z")));
    }
}
