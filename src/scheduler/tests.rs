//! The scheduler on paused tokio time with a scripted backend: the wall clock is the start
//! instant plus tokio's elapsed time, so days pass in milliseconds and every firing time is
//! exact.

use super::*;
use crate::cron::ActiveHours;
use crate::cron::Zone;
use serde_json::json;
use std::sync::Mutex as StdMutex;

#[derive(Default)]
struct Log {
    jobs: BTreeMap<String, CronJob>,
    runs: Vec<(String, u64)>,
    delivered: Vec<String>,
    beats: Vec<(u64, Vec<String>)>,
    alerts: Vec<String>,
    beat_replies: Vec<String>,
}

#[derive(Clone)]
struct Fake {
    start_ms: u64,
    t0: tokio::time::Instant,
    log: Arc<StdMutex<Log>>,
    heartbeat: Option<HeartbeatOptions>,
}

impl Fake {
    fn new(start: &str, heartbeat: Option<HeartbeatOptions>) -> Self {
        Self {
            start_ms: ms(start),
            t0: tokio::time::Instant::now(),
            log: Arc::default(),
            heartbeat,
        }
    }
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

fn ms(rfc3339: &str) -> u64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
}

fn at(ms_: u64) -> String {
    jiff::Timestamp::from_millisecond(ms_ as i64)
        .unwrap()
        .to_string()
}

impl Backend for Fake {
    fn load(&self) -> Vec<CronJob> {
        self.log().jobs.values().cloned().collect()
    }
    fn save(&self, job: &CronJob) -> BoxFuture<'_, Result<(), String>> {
        self.log().jobs.insert(job.id.clone(), job.clone());
        Box::pin(async { Ok(()) })
    }
    fn delete(&self, id: &str) -> BoxFuture<'_, Result<(), String>> {
        self.log().jobs.remove(id);
        Box::pin(async { Ok(()) })
    }
    fn run(&self, job: &CronJob) -> BoxFuture<'_, RunReply> {
        let now = self.now_ms();
        self.log().runs.push((job.id.clone(), now));
        Box::pin(async { Ok("done".to_string()) })
    }
    fn deliver(&self, job: &CronJob, text: &str) -> BoxFuture<'_, ()> {
        self.log().delivered.push(format!("{}: {text}", job.id));
        Box::pin(async {})
    }
    fn heartbeat(&self) -> Option<HeartbeatOptions> {
        self.heartbeat.clone()
    }
    fn beat(&self, events: Vec<String>) -> BoxFuture<'_, Result<Option<String>, String>> {
        let now = self.now_ms();
        let mut log = self.log();
        log.beats.push((now, events));
        let reply = if log.beat_replies.is_empty() {
            "HEARTBEAT_OK".to_string()
        } else {
            log.beat_replies.remove(0)
        };
        Box::pin(async move { Ok(Some(reply)) })
    }
    fn alert(&self, text: &str) -> BoxFuture<'_, ()> {
        self.log().alerts.push(text.to_string());
        Box::pin(async {})
    }
    fn now_ms(&self) -> u64 {
        self.start_ms + self.t0.elapsed().as_millis() as u64
    }
}

async fn start(fake: &Fake) -> (Scheduler<Fake>, CancellationToken) {
    let s = Scheduler::open(fake.clone()).await;
    let stop = CancellationToken::new();
    tokio::spawn(s.clone().run(stop.clone()));
    (s, stop)
}

async fn advance(d: Duration) {
    tokio::time::sleep(d).await;
}

fn runs_of(fake: &Fake, id: &str) -> Vec<String> {
    fake.log()
        .runs
        .iter()
        .filter(|(j, _)| j == id)
        .map(|(_, t)| at(*t))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn at_every_and_cron_fire_on_time() {
    let fake = Fake::new("2026-06-01T10:00:00Z", None);
    let (s, _stop) = start(&fake).await;
    s.add(
        json!({"id": "once", "schedule": {"kind": "at", "at": "2026-06-01T10:05:00Z"},
        "payload": {"kind": "agentTurn", "message": "remind me"}}),
    )
    .await
    .unwrap();
    s.add(
        json!({"id": "tick", "schedule": {"kind": "every", "everyMs": 600_000},
        "payload": {"kind": "agentTurn", "message": "tick"},
        "delivery": {"mode": "none"}}),
    )
    .await
    .unwrap();
    s.add(json!({"id": "daily", "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Berlin"},
        "payload": {"kind": "systemEvent", "text": "good morning"}}))
        .await
        .unwrap();
    advance(Duration::from_secs(24 * 3600 + 1)).await;
    assert_eq!(runs_of(&fake, "once"), ["2026-06-01T10:05:00Z"]);
    // A successful one-shot is deleted.
    assert!(!s.list().iter().any(|j| j.id == "once"));
    let ticks = runs_of(&fake, "tick");
    assert_eq!(ticks.len(), 144, "every 10 min for a day");
    assert_eq!(ticks[0], "2026-06-01T10:10:00Z");
    assert_eq!(ticks[1], "2026-06-01T10:20:00Z");
    // 07:00 in Berlin in summer is 05:00 UTC.
    assert_eq!(runs_of(&fake, "daily"), ["2026-06-02T05:00:00Z"]);
    assert!(fake.log().delivered.iter().any(|d| d == "once: done"));
}

#[tokio::test(start_paused = true)]
async fn cron_in_a_time_zone_follows_the_dst_change() {
    let fake = Fake::new("2026-03-27T12:00:00Z", None);
    let (s, _stop) = start(&fake).await;
    s.add(json!({"id": "night", "schedule": {"kind": "cron", "expr": "30 2 * * *", "tz": "Europe/Berlin"},
        "payload": {"kind": "agentTurn", "message": "night job"}}))
        .await
        .unwrap();
    advance(Duration::from_secs(4 * 24 * 3600)).await;
    assert_eq!(
        runs_of(&fake, "night"),
        [
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 02:30 does not exist: once, at 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
            "2026-03-31T00:30:00Z",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn overdue_jobs_run_once_after_downtime_and_interrupted_runs_are_recorded() {
    let fake = Fake::new("2026-06-01T12:00:00Z", None);
    let mut job: CronJob = serde_json::from_value(json!({
        "id": "hourly", "createdAtMs": ms("2026-06-01T00:00:00Z"),
        "schedule": {"kind": "every", "everyMs": 3_600_000, "anchorMs": ms("2026-06-01T00:00:00Z")},
        "payload": {"kind": "agentTurn", "message": "hourly"},
    }))
    .unwrap();
    // Last planned for 07:00: the gateway was down for five slots.
    job.state.next_run_at_ms = Some(ms("2026-06-01T07:00:00Z"));
    let mut cut: CronJob = serde_json::from_value(json!({
        "id": "cut", "createdAtMs": ms("2026-06-01T00:00:00Z"),
        "schedule": {"kind": "cron", "expr": "0 0 * * *", "tz": "UTC"},
        "payload": {"kind": "agentTurn", "message": "cut"},
    }))
    .unwrap();
    cut.state.running_at_ms = Some(ms("2026-06-01T00:00:00Z"));
    fake.log().jobs.insert("hourly".into(), job);
    fake.log().jobs.insert("cut".into(), cut);
    let (s, _stop) = start(&fake).await;
    advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(
        runs_of(&fake, "hourly"),
        ["2026-06-01T12:00:00Z"],
        "once, not five times"
    );
    advance(Duration::from_secs(3600)).await;
    assert_eq!(runs_of(&fake, "hourly").len(), 2);
    let cut = s.list().into_iter().find(|j| j.id == "cut").unwrap();
    assert_eq!(cut.state.running_at_ms, None);
    assert!(
        cut.state
            .last_error
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
}

#[tokio::test(start_paused = true)]
async fn run_now_and_bad_jobs() {
    let fake = Fake::new("2026-06-01T12:00:00Z", None);
    let (s, _stop) = start(&fake).await;
    let e = s
        .add(json!({"schedule": {"kind": "cron", "expr": "61 * * * *"}, "payload": {"kind": "agentTurn", "message": "x"}}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("61"), "{e}");
    let e = s
        .add(json!({"schedule": {"kind": "every"}, "payload": {"kind": "agentTurn", "message": "x"}}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("schedule"), "{e}");
    let j = s
        .add(json!({"schedule": {"kind": "cron", "expr": "0 0 1 1 *"}, "payload": {"kind": "agentTurn", "message": "x"}}))
        .await
        .unwrap();
    s.run_now(&j.id).await.unwrap();
    advance(Duration::from_secs(1)).await;
    assert_eq!(runs_of(&fake, &j.id), ["2026-06-01T12:00:00Z"]);
    assert!(matches!(
        s.run_now("nope").await,
        Err(SchedulerError::Unknown(_))
    ));
    s.remove(&j.id).await.unwrap();
    assert!(fake.log().jobs.is_empty());
}

fn heartbeat(active: Option<(&str, &str)>) -> HeartbeatOptions {
    HeartbeatOptions {
        every_ms: 30 * 60_000,
        active: active
            .map(|(a, b)| ActiveHours::parse(a, b, Zone::named("Europe/Berlin").unwrap()).unwrap()),
        ack_max_chars: 300,
        target: None,
        prompt: "beat".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_keeps_active_hours_and_is_silent_on_heartbeat_ok() {
    // 21:00 in Berlin (summer, UTC+2); active 08:00-22:00 Berlin time.
    let fake = Fake::new(
        "2026-06-01T19:00:00Z",
        Some(heartbeat(Some(("08:00", "22:00")))),
    );
    fake.log().beat_replies = vec![
        "HEARTBEAT_OK".into(),
        "**HEARTBEAT_OK**".into(),
        "The freezer door is open.".into(),
    ];
    let (_s, _stop) = start(&fake).await;
    advance(Duration::from_secs(14 * 3600)).await;
    let beats: Vec<String> = fake.log().beats.iter().map(|(t, _)| at(*t)).collect();
    assert_eq!(
        beats,
        [
            "2026-06-01T19:30:00Z", // 21:30
            "2026-06-02T06:00:00Z", // none at night: 08:00
            "2026-06-02T06:30:00Z",
            "2026-06-02T07:00:00Z",
            "2026-06-02T07:30:00Z",
            "2026-06-02T08:00:00Z",
            "2026-06-02T08:30:00Z",
        ]
    );
    assert_eq!(fake.log().alerts, ["The freezer door is open."]);
}

#[tokio::test(start_paused = true)]
async fn wake_beats_now_with_the_queued_events() {
    let fake = Fake::new("2026-06-01T12:00:00Z", Some(heartbeat(None)));
    let (s, _stop) = start(&fake).await;
    advance(Duration::from_secs(60)).await;
    s.system_event("the washing machine finished", false);
    s.system_event("someone rang the doorbell", true);
    advance(Duration::from_secs(1)).await;
    let beats = fake.log().beats.clone();
    assert_eq!(beats.len(), 1);
    assert_eq!(at(beats[0].0), "2026-06-01T12:01:00Z");
    assert_eq!(
        beats[0].1,
        ["the washing machine finished", "someone rang the doorbell"]
    );
    // The next regular beat is an interval after this one.
    advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(at(fake.log().beats[1].0), "2026-06-01T12:31:00Z");
}

#[test]
fn the_seeded_heartbeat_file_makes_no_model_call() {
    assert!(crate::cron::heartbeat_file_is_empty(
        crate::agent::context::HEARTBEAT_TEMPLATE
    ));
    assert!(!crate::cron::heartbeat_file_is_empty(
        "# HEARTBEAT.md\n- Check the freezer temperature.\n"
    ));
}

#[tokio::test(start_paused = true)]
async fn an_update_replans_the_job_and_keeps_its_identity() {
    let fake = Fake::new("2026-06-01T12:00:00Z", None);
    let (s, _stop) = start(&fake).await;
    s.add(
        json!({"id": "rem", "schedule": {"kind": "at", "at": "2026-06-01T19:00:00Z"},
        "payload": {"kind": "agentTurn", "message": "remind me"}}),
    )
    .await
    .unwrap();
    // "Move my reminder to 13:00."
    let j = s
        .update(
            "rem",
            json!({"id": "other", "schedule": {"kind": "at", "at": "2026-06-01T13:00:00Z"}}),
        )
        .await
        .unwrap();
    assert_eq!(j.id, "rem");
    assert_eq!(j.state.next_run_at_ms, None);
    let e = s
        .update(
            "rem",
            json!({"schedule": {"kind": "cron", "expr": "* * *"}}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("schedule"), "{e}");
    assert!(matches!(
        s.update("nope", json!({})).await,
        Err(SchedulerError::Unknown(_))
    ));
    advance(Duration::from_secs(8 * 3600)).await;
    assert_eq!(runs_of(&fake, "rem"), ["2026-06-01T13:00:00Z"]);
}
