//! Record types kept in the store and the typed operations on each database.

use super::{Db, Rtxn, Store, StoreError, Wtxn, decode};
use crate::core::{ChatMessage, Usage, now_ms};
use serde::{Deserialize, Serialize};

/// A session: a conversation identified by its key. A reset gives the key a new `id`, so
/// the old transcript stays on disk but is no longer shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session key (`agent:main:main`).
    pub key: String,
    /// Transcript id; transcript keys are `id (u64 BE) ++ seq (u64 BE)`.
    pub id: u64,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Last append, ms since the epoch.
    pub updated_ms: u64,
    /// Next transcript sequence number.
    pub next_seq: u64,
    /// The auth profile that last answered (tried first next time).
    #[serde(default)]
    pub sticky_profile: Option<String>,
    /// The model ref that last answered.
    #[serde(default)]
    pub last_model: Option<String>,
    /// This session's queue overrides (the `/queue` directive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<crate::core::QueueSettingsPatch>,
}

/// One committed transcript message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Position in the session, from 0.
    pub seq: u64,
    /// Commit time, ms since the epoch.
    pub ts_ms: u64,
    /// The run that produced it (user messages carry the run they started).
    #[serde(default)]
    pub run_id: Option<String>,
    /// The message.
    pub message: ChatMessage,
    /// Set on a compaction summary: `message` then summarises every earlier entry before
    /// `first_kept_seq`, and the model sees the summary instead of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction: Option<CompactionMark>,
}

/// What a compaction summary replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionMark {
    /// The first entry still shown to the model verbatim after the summary.
    pub first_kept_seq: u64,
    /// Entries the summary replaced.
    pub summarized: u64,
    /// Estimated tokens of the history before compaction.
    pub tokens_before: u64,
}

/// Lifecycle state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted and committed to the inbox, waiting for its lane.
    Queued,
    /// Taken by a turn that is executing.
    Running,
    /// Finished with a final answer (committed to the transcript).
    Completed,
    /// Ended with an error.
    Failed,
    /// Stopped by `chat.abort`, a timeout or gateway shutdown.
    Aborted,
    /// Found still running when the gateway started, after a tool step had committed (so
    /// it is not run again: side effects may have happened); its origin was told.
    Interrupted,
    /// Dropped from a full queue (drop policy `old` or `summarize`), or superseded by a
    /// newer message in `interrupt` mode.
    Dropped,
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    /// The status as its snake_case name (`completed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Interrupted => "interrupted",
            Self::Dropped => "dropped",
        }
    }
}

/// One notable thing that happened in a run (failover, tool call, error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// When, ms since the epoch.
    pub ts_ms: u64,
    /// `failover`, `tool`, `error`, …
    pub kind: String,
    /// Kind-specific details.
    pub detail: serde_json::Value,
}

/// A run of the agent loop for one inbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `run_<hex>`.
    pub id: String,
    /// Session key of the run.
    pub session_key: String,
    /// Transcript id at the time of the run.
    pub session_id: u64,
    /// Current state.
    pub status: RunStatus,
    /// Accepted at, ms since the epoch.
    pub started_ms: u64,
    /// Ended at, ms since the epoch.
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// The model ref that produced the final answer.
    #[serde(default)]
    pub model: Option<String>,
    /// The auth profile that produced the final answer.
    #[serde(default)]
    pub profile: Option<String>,
    /// Final assistant text.
    #[serde(default)]
    pub reply: Option<String>,
    /// Why it failed or was aborted.
    #[serde(default)]
    pub error: Option<String>,
    /// Failovers, tool calls and errors, in order.
    #[serde(default)]
    pub events: Vec<RunEvent>,
    /// Tokens used over all model calls.
    #[serde(default)]
    pub usage: Usage,
    /// Tool steps committed so far (a turn with one is never run again after a crash).
    #[serde(default)]
    pub tool_steps: u32,
    /// The run id of the turn that answers this run, when it is not the run itself
    /// (queued messages merged into one turn, or steered into a running one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<String>,
    /// Calls of the client's own tools the turn ended with (the client runs them and
    /// sends the results in its next request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::core::ToolCall>,
}

impl RunRecord {
    /// The final event this record stands for: `Finished` when completed, else `Failed`
    /// with its status and error (meaningful for an ended run).
    pub fn outcome(&self) -> crate::core::EventKind {
        use crate::core::EventKind;
        match self.status {
            RunStatus::Completed => EventKind::Finished {
                text: self.reply.clone().unwrap_or_default(),
                model: self.model.clone(),
                usage: self.usage,
                tool_calls: self.tool_calls.clone(),
            },
            s => EventKind::Failed {
                status: s.as_str().to_string(),
                reason: self.error.clone().unwrap_or_default(),
            },
        }
    }

    /// A new `queued` run of `session_key` accepted now.
    pub fn queued(id: String, session_key: String) -> Self {
        Self {
            id,
            session_key,
            session_id: 0,
            status: RunStatus::Queued,
            started_ms: now_ms(),
            ended_ms: None,
            model: None,
            profile: None,
            reply: None,
            error: None,
            events: Vec::new(),
            usage: Usage::default(),
            tool_steps: 0,
            turn: None,
            tool_calls: Vec::new(),
        }
    }
}

/// A remembered result of a side-effecting request, keyed by idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupeRecord {
    /// The first response payload.
    pub result: serde_json::Value,
    /// Forget after, ms since the epoch.
    pub expires_ms: u64,
}

/// Persistent health of one auth profile (cooldown after failures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    /// Consecutive failures; 0 when healthy.
    pub failures: u32,
    /// Not tried again before this time, ms since the epoch.
    pub cooldown_until_ms: u64,
    /// Kind and message of the last failure (never a secret).
    #[serde(default)]
    pub last_error: Option<String>,
}

fn transcript_key(session_id: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&session_id.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

const ACTIVE_PREFIX: &str = "active/";

impl Store {
    /// The session stored under `key`, if any.
    ///
    /// # Errors
    /// [`StoreError`] on I/O or a corrupt record.
    pub fn session(&self, rtxn: &Rtxn<'_>, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get_json(rtxn, &self.sessions, "sessions", key.as_bytes())
    }

    /// The session run `rec` belongs to, if it still holds the transcript the run started
    /// on: `None` for a stateless run (`session_id` 0; session ids start at 1) and for a
    /// session reset since (its key now names a new transcript id). A run's commits write
    /// into the transcript only through this.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn run_session(
        &self,
        rtxn: &Rtxn<'_>,
        rec: &RunRecord,
    ) -> Result<Option<SessionRecord>, StoreError> {
        if rec.session_id == 0 {
            return Ok(None);
        }
        Ok(self
            .session(rtxn, &rec.session_key)?
            .filter(|s| s.id == rec.session_id))
    }

    /// The session under `key`, created (and stored) with a fresh id if absent.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn session_or_create(
        &self,
        wtxn: &mut Wtxn<'_>,
        key: &str,
    ) -> Result<SessionRecord, StoreError> {
        if let Some(s) = self.session(wtxn, key)? {
            return Ok(s);
        }
        let now = now_ms();
        let rec = SessionRecord {
            key: key.to_string(),
            id: self.next_session_id(wtxn)?,
            created_ms: now,
            updated_ms: now,
            next_seq: 0,
            sticky_profile: None,
            last_model: None,
            queue: None,
        };
        self.put_session(wtxn, &rec)?;
        Ok(rec)
    }

    fn next_session_id(&self, wtxn: &mut Wtxn<'_>) -> Result<u64, StoreError> {
        self.bump_counter(wtxn, b"next_session_id")
    }

    /// Returns the counter stored in `meta` under `key` (1 when absent) and stores its
    /// successor.
    pub(super) fn bump_counter(&self, wtxn: &mut Wtxn<'_>, key: &[u8]) -> Result<u64, StoreError> {
        let cur = self.counter(wtxn, key)?.unwrap_or(1);
        self.meta
            .put(wtxn, key, &(cur + 1).to_be_bytes())
            .map_err(|e| self.lmdb(e))?;
        Ok(cur)
    }

    /// The u64 stored in `meta` under `key`.
    pub(super) fn counter(&self, rtxn: &Rtxn<'_>, key: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .meta
            .get(rtxn, key)
            .map_err(|e| self.lmdb(e))?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes)))
    }

    /// Stores a session record.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_session(&self, wtxn: &mut Wtxn<'_>, rec: &SessionRecord) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.sessions, rec.key.as_bytes(), rec)
    }

    /// Every session, sorted by key.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn sessions(&self, rtxn: &Rtxn<'_>) -> Result<Vec<SessionRecord>, StoreError> {
        self.all_json(rtxn, &self.sessions, "sessions")
    }

    /// Gives `key` a new transcript id (the old transcript stays on disk, unlisted).
    /// Returns the new record, or `None` when no such session exists.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn reset_session(
        &self,
        wtxn: &mut Wtxn<'_>,
        key: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(mut s) = self.session(wtxn, key)? else {
            return Ok(None);
        };
        s.id = self.next_session_id(wtxn)?;
        s.next_seq = 0;
        s.updated_ms = now_ms();
        s.sticky_profile = None;
        self.put_session(wtxn, &s)?;
        Ok(Some(s))
    }

    /// Appends `message` to the session's transcript and stores the updated session.
    /// Returns the entry's sequence number.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn append(
        &self,
        wtxn: &mut Wtxn<'_>,
        session: &mut SessionRecord,
        run_id: Option<&str>,
        message: ChatMessage,
    ) -> Result<u64, StoreError> {
        self.append_entry(wtxn, session, run_id, message, None)
    }

    /// Appends a compaction summary (see [`CompactionMark`]). Returns its sequence number.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn append_compaction(
        &self,
        wtxn: &mut Wtxn<'_>,
        session: &mut SessionRecord,
        run_id: Option<&str>,
        summary: ChatMessage,
        mark: CompactionMark,
    ) -> Result<u64, StoreError> {
        self.append_entry(wtxn, session, run_id, summary, Some(mark))
    }

    fn append_entry(
        &self,
        wtxn: &mut Wtxn<'_>,
        session: &mut SessionRecord,
        run_id: Option<&str>,
        message: ChatMessage,
        compaction: Option<CompactionMark>,
    ) -> Result<u64, StoreError> {
        let seq = session.next_seq;
        let entry = TranscriptEntry {
            seq,
            ts_ms: now_ms(),
            run_id: run_id.map(str::to_string),
            message,
            compaction,
        };
        self.put_json(
            wtxn,
            &self.transcript,
            &transcript_key(session.id, seq),
            &entry,
        )?;
        session.next_seq += 1;
        session.updated_ms = entry.ts_ms;
        self.put_session(wtxn, session)?;
        Ok(seq)
    }

    /// The last `limit` transcript entries of transcript `session_id`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn transcript_tail(
        &self,
        rtxn: &Rtxn<'_>,
        session_id: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, StoreError> {
        let prefix = session_id.to_be_bytes();
        let mut out = Vec::new();
        for item in self
            .transcript
            .rev_prefix_iter(rtxn, &prefix)
            .map_err(|e| self.lmdb(e))?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("transcript", k, v)?);
        }
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` entries of transcript `session_id` from sequence `from_seq` on, oldest
    /// first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn transcript_from(
        &self,
        rtxn: &Rtxn<'_>,
        session_id: u64,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, StoreError> {
        let start = transcript_key(session_id, from_seq);
        let end = transcript_key(session_id, u64::MAX);
        let range = (
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Included(&end[..]),
        );
        let mut out = Vec::new();
        for item in self
            .transcript
            .range(rtxn, &range)
            .map_err(|e| self.lmdb(e))?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("transcript", k, v)?);
        }
        Ok(out)
    }

    /// The run `id`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn run(&self, rtxn: &Rtxn<'_>, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.get_json(rtxn, &self.runs, "runs", id.as_bytes())
    }

    /// Stores a run record and keeps the index of running runs in step.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_run(&self, wtxn: &mut Wtxn<'_>, rec: &RunRecord) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.runs, rec.id.as_bytes(), rec)?;
        let marker = format!("{ACTIVE_PREFIX}{}", rec.id);
        if rec.status == RunStatus::Running {
            self.meta
                .put(wtxn, marker.as_bytes(), b"")
                .map_err(|e| self.lmdb(e))?;
        } else {
            self.meta
                .delete(wtxn, marker.as_bytes())
                .map_err(|e| self.lmdb(e))?;
        }
        Ok(())
    }

    /// Ids of runs still marked running (at startup: runs the last process left behind).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn running_runs(&self, rtxn: &Rtxn<'_>) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .meta
            .prefix_iter(rtxn, ACTIVE_PREFIX.as_bytes())
            .map_err(|e| self.lmdb(e))?
        {
            let (k, _) = item.map_err(|e| self.lmdb(e))?;
            out.push(String::from_utf8_lossy(&k[ACTIVE_PREFIX.len()..]).into_owned());
        }
        Ok(out)
    }

    /// The remembered result for idempotency key `key`, unless expired.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn dedupe_get(
        &self,
        rtxn: &Rtxn<'_>,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let rec: Option<DedupeRecord> =
            self.get_json(rtxn, &self.dedupe, "dedupe", key.as_bytes())?;
        Ok(rec.filter(|r| r.expires_ms > now_ms()).map(|r| r.result))
    }

    /// Remembers `result` for `key` for `ttl_ms` milliseconds.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn dedupe_put(
        &self,
        wtxn: &mut Wtxn<'_>,
        key: &str,
        result: &serde_json::Value,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let rec = DedupeRecord {
            result: result.clone(),
            expires_ms: now_ms().saturating_add(ttl_ms),
        };
        self.put_json(wtxn, &self.dedupe, key.as_bytes(), &rec)
    }

    /// Deletes expired idempotency records; returns how many.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn dedupe_sweep(&self, wtxn: &mut Wtxn<'_>) -> Result<usize, StoreError> {
        let now = now_ms();
        let mut dead = Vec::new();
        for item in self.dedupe.iter(wtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            let expired = decode::<DedupeRecord>("dedupe", k, v)
                .map(|r| r.expires_ms <= now)
                .unwrap_or(true);
            if expired {
                dead.push(k.to_vec());
            }
        }
        for k in &dead {
            self.dedupe.delete(wtxn, k).map_err(|e| self.lmdb(e))?;
        }
        Ok(dead.len())
    }

    /// Health state of auth profile `id` (default: healthy).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn profile_state(&self, rtxn: &Rtxn<'_>, id: &str) -> Result<ProfileState, StoreError> {
        Ok(self
            .get_json(rtxn, &self.profiles, "profiles", id.as_bytes())?
            .unwrap_or_default())
    }

    /// Stores the health state of auth profile `id`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_profile_state(
        &self,
        wtxn: &mut Wtxn<'_>,
        id: &str,
        st: &ProfileState,
    ) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.profiles, id.as_bytes(), st)
    }

    pub(super) fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        rtxn: &Rtxn<'_>,
        db: &Db,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in db.iter(rtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode(name, k, v)?);
        }
        Ok(out)
    }
}
