//! Progress drafts for slow answers (an on-device model on a Pi writes a few tokens a
//! second): once a run has streamed for `after` without ending, its text so far is shown as
//! a message that is edited as it grows (at most every 1.5 s); when the answer is delivered,
//! the channel's sink edits the draft into the answer instead of sending a new message.
//!
//! A draft and the answer never cross: every draft update holds the run's draft lock for
//! its whole platform call, and the sink takes the draft, marks it finished and keeps the
//! lock while it edits, so a late progress edit cannot overwrite the answer.

use crate::core::{InboundSink, now_ms};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Drafts older than this are forgotten (a run that never delivered, e.g. aborted), ms.
const FORGET_MS: u64 = 3600 * 1000;
/// The shortest time between two edits of a draft.
const EDIT_EVERY: Duration = Duration::from_millis(1500);

/// One run's draft.
#[derive(Debug, Default)]
pub struct Draft {
    /// The platform's id of the draft message, once sent.
    pub message_id: Option<String>,
    /// The answer took it over: no more progress edits.
    pub finished: bool,
    created_ms: u64,
}

/// The drafts of one channel account, by run id.
#[derive(Debug, Default)]
pub struct Drafts(Mutex<HashMap<String, Arc<Mutex<Draft>>>>);

impl Drafts {
    fn open(&self, run_id: &str) -> Arc<Mutex<Draft>> {
        let now = now_ms();
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, d| {
            now.saturating_sub(d.lock().unwrap_or_else(|p| p.into_inner()).created_ms) < FORGET_MS
        });
        m.entry(run_id.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Draft {
                    created_ms: now,
                    ..Draft::default()
                }))
            })
            .clone()
    }

    /// The draft of `run_id`, removed for the sink to take over (see [`Claimed::hold`]).
    pub fn take(&self, run_id: &str) -> Claimed {
        Claimed(
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(run_id),
        )
    }
}

/// A run's draft taken by the sink that delivers its answer.
pub struct Claimed(Option<Arc<Mutex<Draft>>>);

impl Claimed {
    /// Marks the draft finished and returns its lock (hold it through the delivery, so no
    /// progress edit lands after the answer) and the draft message's id, if one was shown.
    pub fn hold(&self) -> (Option<std::sync::MutexGuard<'_, Draft>>, Option<String>) {
        let Some(d) = &self.0 else {
            return (None, None);
        };
        let mut g = d.lock().unwrap_or_else(|p| p.into_inner());
        g.finished = true;
        let id = g.message_id.clone();
        (Some(g), id)
    }
}

/// Shows `text` (the answer so far, plain, already ending in `…`) as the draft: sends it
/// when `draft.message_id` is `None` (and records the id), else edits it. Blocking.
pub type Show = Arc<dyn Fn(&mut Draft, &str) -> Result<(), String> + Send + Sync>;

/// Follows run `run_id` on `rt` and keeps a draft of its answer once it has run `after`.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    sink: Arc<dyn InboundSink>,
    drafts: &Drafts,
    run_id: &str,
    after: Duration,
    show: Show,
) {
    let draft = drafts.open(run_id);
    let mut text = sink.follow_text(run_id);
    rt.spawn(async move {
        let start = Instant::now();
        let (mut latest, mut shown) = (String::new(), String::new());
        let mut last_edit: Option<Instant> = None;
        loop {
            match tokio::time::timeout(Duration::from_millis(500), text.next()).await {
                Ok(Some(t)) => latest = t,
                Ok(None) => return,
                Err(_) => {}
            }
            let due = start.elapsed() >= after
                && !latest.trim().is_empty()
                && latest != shown
                && last_edit.is_none_or(|t| t.elapsed() >= EDIT_EVERY);
            if !due {
                continue;
            }
            // Plain text (a half-written answer is not well-formed markdown), cut to fit.
            let mut body: String = latest.chars().take(3900).collect();
            body.push_str(" …");
            let (draft, show) = (draft.clone(), show.clone());
            let r = tokio::task::spawn_blocking(move || {
                let mut d = draft.lock().unwrap_or_else(|p| p.into_inner());
                if d.finished {
                    return Ok(false);
                }
                show(&mut d, &body).map(|()| true)
            })
            .await;
            match r {
                Ok(Ok(true)) => {
                    shown = latest.clone();
                    last_edit = Some(Instant::now());
                }
                Ok(Ok(false)) | Err(_) => return,
                Ok(Err(e)) => {
                    tracing::debug!("progress draft: {e}");
                    last_edit = Some(Instant::now());
                }
            }
        }
    });
}
