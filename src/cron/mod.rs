//! Cron and heartbeat timing: when a scheduled job or a heartbeat is due, as pure functions of
//! `now_ms` (milliseconds since the Unix epoch).
//!
//! Owns the job shape (`CronJob`, OpenClaw's JSON, below), human durations and `at` times;
//! schedules and their next instants with a stated DST rule (`schedule.rs`); the catch-up,
//! retry, backoff and heartbeat rules (`plan.rs`).
//!
//! Architecture invariant: this module is pure logic. It imports std, serde, thiserror and jiff
//! only: no tokio, no storage, no `agent`, `channel` or `gateway`. It never reads the clock; the
//! scheduler passes `now_ms` in and sleeps until the `next_ms` it gets back, so tests drive it
//! with `tokio::time::pause` or plain numbers. The time zone database is read at run time from
//! `/usr/share/zoneinfo` (jiff's `tzdb-zoneinfo`); nothing is bundled.
//!
//! The job shape follows OpenClaw's `CronJob`
//! (<https://github.com/openclaw/openclaw/blob/001978f7002940af65e02388381f5feaec92d2f7/src/gateway/protocol/schema/cron.ts>,
//! <https://docs.openclaw.ai/automation/cron-jobs>):
//!
//! ```json
//! {"id":"j1","name":"Morning brief","enabled":true,"createdAtMs":1780000000000,
//!  "schedule":{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"},
//!  "sessionTarget":"isolated","wakeMode":"now",
//!  "payload":{"kind":"agentTurn","message":"Summarise overnight mail.","timeoutSeconds":300},
//!  "delivery":{"mode":"announce","channel":"telegram","to":"12345"},
//!  "state":{"nextRunAtMs":1780030800000,"consecutiveErrors":0}}
//! ```
//!
//! OpenClaw ties the session to the payload ("main requires systemEvent; isolated requires
//! agentTurn"), so here the payload decides: `systemEvent` text is queued into the agent's main
//! session (and wakes a heartbeat when `wakeMode` is `now`); `agentTurn` runs one turn in a fresh
//! session `cron:<jobId>` and its reply goes to `delivery`. `sessionTarget` is accepted and
//! written for compatibility, and `CronJob::check` refuses one that contradicts the payload.

mod plan;
mod schedule;

pub use plan::{
    ActiveHours, DEFAULT_ACK_MAX_CHARS, DEFAULT_HEARTBEAT_EVERY_MS, DEFAULT_HEARTBEAT_PROMPT,
    Disposition, Due, ERROR_BACKOFF_MS, ErrorKind, HEARTBEAT_TOKEN, HeartbeatReply,
    ONE_SHOT_RETRY_BACKOFF_MS, RunOutcome, RunResult, after_run, due, heartbeat_ack,
    heartbeat_file_is_empty, heartbeat_reply, next_heartbeat, parse_heartbeat_every,
};
pub use schedule::{CronExpr, Schedule};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Serialize};

/// Everything in this module that can be refused: a bad expression, zone, duration, time or
/// job. Each variant quotes the text it refused and says why; none is retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// A cron expression that does not parse (wrong field count, a malformed field, an
    /// unknown `@` macro) or never matches (`0 0 31 4 *`).
    #[error("cron expression {expr:?}: {reason}")]
    Expr {
        /// The expression as given.
        expr: String,
        /// What is wrong; a malformed field is named and quoted: `minute field "61": 61 is
        /// out of range 0-59`.
        reason: String,
    },
    /// A time zone name the zone database does not know.
    #[error("time zone {name:?}: {reason}")]
    TimeZone {
        /// The name as given.
        name: String,
        /// The zone database's complaint.
        reason: String,
    },
    /// A duration such as `30m` that does not parse.
    #[error("duration {text:?}: {reason}")]
    Duration {
        /// The text as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// An `at` time or an `HH:MM` that does not parse.
    #[error("time {text:?}: {reason}")]
    Time {
        /// The text as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A schedule that parses but cannot run (`everyMs` of 0, `at` missing).
    #[error("schedule: {0}")]
    Schedule(String),
    /// A job whose parts contradict each other.
    #[error("cron job {id:?}: {reason}")]
    Job {
        /// The job's id.
        id: String,
        /// The contradiction.
        reason: String,
    },
}

/// A time zone as a job names it: an IANA name (`Europe/Berlin`, read from /usr/share/zoneinfo
/// at run time) or the host's zone (name `None`). Two zones are equal when their names are.
#[derive(Clone, Debug)]
pub struct Zone {
    name: Option<String>,
    tz: TimeZone,
}

impl Zone {
    /// The IANA zone `name`, such as `America/New_York` or `UTC`
    /// (<https://data.iana.org/time-zones/tz-link.html>); `""` and `"local"` mean the host zone.
    ///
    /// # Errors
    /// `CronError::TimeZone` when the zone database has no such zone.
    pub fn named(name: &str) -> Result<Zone, CronError> {
        let name = name.trim();
        if name.is_empty() || name == "local" {
            return Ok(Zone::host());
        }
        let (tz, name) = (TimeZone::get(name), name.to_string());
        tz.map(|tz| Zone {
            name: Some(name.clone()),
            tz,
        })
        .map_err(|e| {
            let reason = e.to_string();
            CronError::TimeZone { name, reason }
        })
    }

    /// The host's zone (jiff's `TimeZone::system`: `TZ`, else `/etc/localtime`, else UTC).
    pub fn host() -> Zone {
        let tz = TimeZone::system();
        Zone { name: None, tz }
    }

    /// Coordinated Universal Time, named `UTC`.
    pub fn utc() -> Zone {
        let (name, tz) = (Some("UTC".to_string()), TimeZone::UTC);
        Zone { name, tz }
    }

    /// The IANA name, or `None` for the host zone.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The zone's rules.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

/// Parses a human duration into milliseconds: one or more `<integer><unit>` groups, optionally
/// separated by spaces, with units `ms`, `s`, `m`, `h`, `d`, `w` (`30m`, `2h`, `1d`, `1h 30m`).
/// The unit letters follow OpenClaw's `--every 10m|1h` (<https://docs.openclaw.ai/cli/cron>).
///
/// # Errors
/// `CronError::Duration` for empty text, a number without a unit, an unknown unit or a total
/// that overflows `u64`.
pub fn parse_duration_ms(text: &str) -> Result<u64, CronError> {
    let err = |reason: String| {
        let text = text.to_string();
        CronError::Duration { text, reason }
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err("empty; write something like 30m, 2h or 1d".into()));
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err(
                "expected a number with a unit, like 30m, 2h or 1d".into()
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| err("number too large".into()))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(err("whole numbers only: write 90m, not 1.5h".into()));
        }
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let scale: u64 = match rest[..letters].to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(err(format!("{n} needs a unit: ms, s, m, h, d or w"))),
            unit => {
                return Err(err(format!(
                    "unknown unit {unit:?}; use ms, s, m, h, d or w"
                )));
            }
        };
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("too large".into()))?;
        rest = rest[letters..].trim_start();
    }
    Ok(total)
}

/// Parses a one-shot `at` time into milliseconds since the epoch. Accepted forms:
/// - relative: `+20m` or `20m` (any `parse_duration_ms` text), meaning `now_ms` plus that;
/// - RFC 3339 with an offset: `2026-12-05T07:00:00+01:00`, `2026-12-05T06:00Z`
///   (<https://www.rfc-editor.org/rfc/rfc3339>);
/// - a local wall time `2026-12-05 07:00` or `2026-12-05T07:00[:SS]`, read in `zone`. OpenClaw
///   reads such a time as UTC unless `--tz` is given, so pass `Zone::utc()` for that default. A
///   wall time skipped by a DST jump means the first instant after the jump; one that occurs
///   twice means the first occurrence (the same rule as `Schedule::next_after`).
///
/// # Errors
/// `CronError::Time` when the text is none of these.
pub fn parse_at(text: &str, zone: &Zone, now_ms: u64) -> Result<u64, CronError> {
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('+') {
        return Ok(now_ms.saturating_add(parse_duration_ms(rel)?));
    }
    if let Ok(ms) = parse_absolute(t, zone) {
        return Ok(ms);
    }
    if let Ok(d) = parse_duration_ms(t) {
        return Ok(now_ms.saturating_add(d));
    }
    let reason = "expected +20m, an RFC 3339 time with offset (2026-12-05T07:00:00+01:00) or a \
                  local time (2026-12-05 07:00)";
    let (text, reason) = (text.to_string(), reason.to_string());
    Err(CronError::Time { text, reason })
}

/// An absolute `at` time (RFC 3339 with offset, or local wall time in `zone`) in ms.
fn parse_absolute(text: &str, zone: &Zone) -> Result<u64, CronError> {
    let err = |reason: &str| {
        let (text, reason) = (text.to_string(), reason.to_string());
        CronError::Time { text, reason }
    };
    let ts = match text.parse::<Timestamp>() {
        Ok(ts) => ts,
        Err(_) => {
            let dt: DateTime = text.parse().map_err(|_| err("not a date and time"))?;
            resolve_local(zone.time_zone(), dt).ok_or_else(|| err("out of range"))?
        }
    };
    u64::try_from(ts.as_millisecond()).map_err(|_| err("before 1970"))
}

/// The instant of wall time `dt` in `tz`: the earlier one when `dt` occurs twice (fall back),
/// the first instant after the jump when `dt` is skipped (spring forward).
fn resolve_local(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        // Read with the later offset, `dt` lies before the jump; the next transition is it.
        AmbiguousOffset::Gap { after, .. } => {
            let before_jump = after.to_timestamp(dt).ok()?;
            tz.following(before_jump).next().map(|t| t.timestamp())
        }
    }
}

/// A scheduled job, in OpenClaw's JSON shape (see the module docs). The integrator stores it,
/// asks `due` when to wake, runs the payload, and records the result with `after_run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    /// Stable id; isolated runs use the session `cron:<id>`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Optional longer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A disabled job is never due. Defaults to `true`.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Delete (rather than disable) a one-shot after a successful run; unset means `true` for
    /// `at` schedules and `false` otherwise, as in OpenClaw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_run: Option<bool>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last edit, ms since the epoch. After editing `schedule`, clear `state.next_run_at_ms`.
    #[serde(default)]
    pub updated_at_ms: u64,
    /// When it runs.
    pub schedule: Schedule,
    /// OpenClaw's `main`/`isolated`; optional, must agree with `payload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_target: Option<SessionTarget>,
    /// For a `systemEvent`: wake the heartbeat now, or let the next heartbeat see it.
    #[serde(default)]
    pub wake_mode: WakeMode,
    /// What it does.
    pub payload: Payload,
    /// Where an agent turn's reply goes; `None` lets the integrator pick (OpenClaw announces to
    /// the channel the job was created from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Run bookkeeping.
    #[serde(default)]
    pub state: JobState,
}

fn enabled_default() -> bool {
    true
}

/// OpenClaw's `sessionTarget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionTarget {
    /// The agent's main session (payload `systemEvent`).
    Main,
    /// A fresh session `cron:<jobId>` per run (payload `agentTurn`).
    Isolated,
}

/// OpenClaw's `wakeMode`: `now` (default) or `next-heartbeat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WakeMode {
    /// Run a heartbeat at once so the main session sees the event.
    #[default]
    Now,
    /// Leave the event for the next scheduled heartbeat.
    NextHeartbeat,
}

/// What a job does when it fires: `{"kind":"systemEvent","text":…}` or
/// `{"kind":"agentTurn","message":…,"model"?,"timeoutSeconds"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Payload {
    /// A line of text queued into the main session as a system event.
    SystemEvent {
        /// The event text.
        text: String,
    },
    /// One agent turn in the isolated session `cron:<jobId>`.
    #[serde(rename_all = "camelCase")]
    AgentTurn {
        /// The user message of the turn.
        message: String,
        /// A model override, as the router names models.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The turn's time limit in seconds; unset means the integrator's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_seconds: Option<u32>,
    },
}

/// Where an agent turn's reply goes: `{"mode":"none"}` or
/// `{"mode":"announce","channel":"telegram"|"last","to":"<chat>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Send or not.
    pub mode: DeliveryMode,
    /// A channel id, or `last` for the channel last used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The chat, room or user on that channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `none` keeps the reply in the run's session; `announce` sends it to the channel target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Keep it internal.
    None,
    /// Send it.
    Announce,
}

/// A job's run bookkeeping; JSON as OpenClaw's `state`:
/// `{"nextRunAtMs"?, "runningAtMs"?, "lastRunAtMs"?, "lastStatus"?: "ok"|"error"|"skipped",
/// "lastError"?, "lastDurationMs"?, "consecutiveErrors"}` (`lastRunStatus` is read too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// When it runs next, ms. `None` for a new or edited job: `due` then plans from the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at_ms: Option<u64>,
    /// Set by the integrator when a run starts; `after_run` clears it. While set the job is
    /// not due. Found set at startup, the run died with the process: record it with
    /// `after_run` as a transient error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at_ms: Option<u64>,
    /// When the last run started, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at_ms: Option<u64>,
    /// How the last run ended.
    #[serde(
        default,
        alias = "lastRunStatus",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_status: Option<RunStatus>,
    /// The last error's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last run's length, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<u64>,
    /// Errors since the last success.
    #[serde(default)]
    pub consecutive_errors: u32,
}

/// How a run ended, as stored: `ok`, `error` or `skipped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// It ran.
    Ok,
    /// It failed.
    Error,
    /// It was not run (the main session was busy, say).
    Skipped,
}

impl CronJob {
    /// Checks that the parts agree: `sessionTarget` `main` goes with a `systemEvent` payload and
    /// `isolated` with `agentTurn`, and only an `agentTurn` has a delivery.
    ///
    /// # Errors
    /// `CronError::Job` naming the contradiction.
    pub fn check(&self) -> Result<(), CronError> {
        let err = |reason: &str| {
            let (id, reason) = (self.id.clone(), reason.to_string());
            CronError::Job { id, reason }
        };
        match (&self.payload, self.session_target) {
            (Payload::SystemEvent { .. }, Some(SessionTarget::Isolated)) => {
                Err(err("sessionTarget isolated requires an agentTurn payload"))
            }
            (Payload::AgentTurn { .. }, Some(SessionTarget::Main)) => {
                Err(err("sessionTarget main requires a systemEvent payload"))
            }
            (Payload::SystemEvent { .. }, _) if self.delivery.is_some() => Err(err(
                "a systemEvent goes to the main session and has no delivery",
            )),
            _ => Ok(()),
        }
    }

    /// The session key of an isolated run, `cron:<id>`; `None` for a main-session event.
    pub fn isolated_session_key(&self) -> Option<String> {
        matches!(self.payload, Payload::AgentTurn { .. }).then(|| format!("cron:{}", self.id))
    }

    /// What a successful one-shot run does to the job: `Delete`, or `Disable` when
    /// `delete_after_run` is false (unset means true for `at` schedules, as in OpenClaw).
    pub fn after_success(&self) -> Disposition {
        match self.delete_after_run.unwrap_or(self.schedule.is_one_shot()) {
            true => Disposition::Delete,
            false => Disposition::Disable,
        }
    }

    /// `plan::due` for this job; a disabled job is never due and has no next run.
    pub fn due(&self, now_ms: u64) -> Due {
        if !self.enabled {
            return Due::default();
        }
        due(&self.state, &self.schedule, now_ms)
    }

    /// Records a finished run (`plan::after_run`) and applies the verdict: `Disable` clears
    /// `enabled`; `Delete` is returned for the caller to remove the job from storage.
    pub fn after_run(&mut self, outcome: &RunOutcome) -> Disposition {
        let success = self.after_success();
        let d = after_run(&mut self.state, &self.schedule, outcome, success);
        if d == Disposition::Disable {
            self.enabled = false;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    #[test]
    fn durations() {
        let ok =
            ["30m", "2h", "1d", " 1h 30m ", "1h30m15s500ms"].map(|t| parse_duration_ms(t).unwrap());
        assert_eq!(ok, [1_800_000, 7_200_000, 86_400_000, 5_400_000, 5_415_500]);
        let err = |text: &str| parse_duration_ms(text).unwrap_err().to_string();
        let (bare, year) = (err("30"), err("5y"));
        assert_eq!(
            bare,
            r#"duration "30": 30 needs a unit: ms, s, m, h, d or w"#
        );
        assert_eq!(
            year,
            r#"duration "5y": unknown unit "y"; use ms, s, m, h, d or w"#
        );
        assert!(err("").contains("empty") && err("m").contains("expected a number"));
        assert!(err("1.5h").contains("whole numbers only"));
        assert!(err("99999999999999999999d").contains("too large"));
    }

    #[test]
    fn at_times_and_zones() {
        let now = ms("2026-12-01T00:00:00Z");
        let (berlin, utc) = (Zone::named("Europe/Berlin").unwrap(), Zone::utc());
        let at = |text: &str, zone: &Zone| parse_at(text, zone, now).map_err(|e| e.to_string());
        assert_eq!(at("+20m", &berlin), Ok(now + 1_200_000));
        assert_eq!(at("20m", &berlin), Ok(now + 1_200_000));
        let six = Ok(ms("2026-12-05T06:00:00Z"));
        assert_eq!(at("2026-12-05T07:00:00+01:00", &utc), six);
        assert_eq!(at("2026-12-05 07:00", &berlin), six);
        assert_eq!(at("2026-12-05T06:00", &utc), six);
        // Skipped wall time: the jump; repeated wall time: the first occurrence.
        let (gap, fold) = (
            at("2026-03-29 02:30", &berlin),
            at("2026-10-25 02:30", &berlin),
        );
        assert_eq!(gap, Ok(ms("2026-03-29T01:00:00Z")));
        assert_eq!(fold, Ok(ms("2026-10-25T00:30:00Z")));
        let bad = at("tomorrow", &berlin).unwrap_err();
        assert!(
            bad.starts_with(r#"time "tomorrow": expected +20m"#),
            "{bad}"
        );
        assert_eq!(berlin.name(), Some("Europe/Berlin"));
        assert_eq!(Zone::named("local"), Ok(Zone::host()));
        assert_eq!(Zone::named("UTC"), Ok(utc));
        let mars = Zone::named("Mars/Olympus").unwrap_err().to_string();
        assert!(mars.starts_with(r#"time zone "Mars/Olympus": "#), "{mars}");
    }

    const ISOLATED: &str = r#"{"id":"j1","name":"Morning brief","enabled":true,"createdAtMs":0,
        "schedule":{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin"},
        "sessionTarget":"isolated","wakeMode":"now",
        "payload":{"kind":"agentTurn","message":"Summarise overnight mail.","timeoutSeconds":300},
        "delivery":{"mode":"announce","channel":"telegram","to":"12345"},
        "state":{"nextRunAtMs":1780030800000,"lastRunStatus":"ok","consecutiveErrors":0}}"#;

    const MAIN: &str = r#"{"id":"r1","createdAtMs":0,"wakeMode":"next-heartbeat",
        "schedule":{"kind":"at","at":"2026-12-05T06:00:00Z"},"sessionTarget":"main",
        "payload":{"kind":"systemEvent","text":"Remind me to call the plumber"}}"#;

    #[test]
    fn job_json_and_session_mapping() {
        let job: CronJob = serde_json::from_str(ISOLATED).unwrap();
        job.check().unwrap();
        assert_eq!(job.isolated_session_key().as_deref(), Some("cron:j1"));
        assert_eq!(job.after_success(), Disposition::Disable);
        assert_eq!(job.state.last_status, Some(RunStatus::Ok));
        let again: CronJob = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(again, job);

        let mut job: CronJob = serde_json::from_str(MAIN).unwrap();
        job.check().unwrap();
        assert!(job.enabled && job.wake_mode == WakeMode::NextHeartbeat);
        assert_eq!(job.isolated_session_key(), None);
        let now = ms("2026-12-05T06:00:00Z");
        assert!(job.due(now).run_now);
        let (started_at_ms, ended_at_ms, result) = (now, now, RunResult::Ok);
        let ok = RunOutcome {
            started_at_ms,
            ended_at_ms,
            result,
        };
        assert_eq!(job.after_run(&ok), Disposition::Delete);
        (job.delete_after_run, job.state) = (Some(false), JobState::default());
        assert_eq!(job.after_run(&ok), Disposition::Disable);
        assert!(!job.enabled && !job.due(now).run_now);

        let main = ISOLATED.replace(r#""sessionTarget":"isolated""#, r#""sessionTarget":"main""#);
        let main: CronJob = serde_json::from_str(&main).unwrap();
        let err = main.check().unwrap_err();
        let want = r#"cron job "j1": sessionTarget main requires a systemEvent payload"#;
        assert_eq!(err.to_string(), want);
        let six = ISOLATED.replace("0 7 * * *", "0 7 * * * *");
        assert!(serde_json::from_str::<CronJob>(&six).is_err());
    }
}
