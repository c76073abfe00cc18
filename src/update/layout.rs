//! The A/B layout on disk: the two slots, `current`/`previous`, the state file with the
//! update on trial and the history, the lock, and the durable file writes they all use.

use super::*;

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// `slot-a`.
    A,
    /// `slot-b`.
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The directory name, `slot-a` or `slot-b`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Slot::A => "slot-a",
            Slot::B => "slot-b",
        }
    }

    pub(super) fn key(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

/// The steps of an update, in order; [`KILL_AT_ENV`] names one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The manifest's signature and entry were checked.
    Verified,
    /// The new binary was written to `slot-X/hearth.new` and fsynced.
    Written,
    /// It was renamed to `slot-X/hearth`.
    Staged,
    /// The trial was recorded in the state file.
    Trial,
    /// `current` now names the new slot.
    Switched,
    /// The restart command ran.
    Restarted,
    /// The new binary answered ready and the update was committed.
    Committed,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 7] = [
        Step::Verified,
        Step::Written,
        Step::Staged,
        Step::Trial,
        Step::Switched,
        Step::Restarted,
        Step::Committed,
    ];

    /// The name used by [`KILL_AT_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            Step::Verified => "verified",
            Step::Written => "written",
            Step::Staged => "staged",
            Step::Trial => "trial",
            Step::Switched => "switched",
            Step::Restarted => "restarted",
            Step::Committed => "committed",
        }
    }
}

pub(super) fn reached(step: Step) {
    if std::env::var(KILL_AT_ENV).is_ok_and(|s| s == step.name()) {
        eprintln!("hearth: {KILL_AT_ENV}={}: killing myself", step.name());
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// What the state file records about one slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotInfo {
    /// The version it holds, when known.
    pub version: Option<String>,
    /// SHA-256 of its binary, lowercase hex.
    pub sha256: String,
}

/// An update that switched `current` but is not yet confirmed healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// The slot on trial.
    pub slot: Slot,
    /// The slot to return to.
    pub from: Slot,
    /// Its version.
    pub version: String,
    /// Its binary's SHA-256.
    pub sha256: String,
    /// When the trial began, Unix ms.
    pub started_unix_ms: u64,
}

/// One finished update attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, Unix ms.
    pub at_unix_ms: u64,
    /// The version before.
    pub from_version: Option<String>,
    /// The version tried.
    pub to_version: Option<String>,
    /// `committed`, `rolled back`.
    pub outcome: String,
    /// Why (for a rollback), or how it was confirmed.
    pub reason: String,
}

/// `update-state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// What each slot holds, by `a`/`b`.
    pub slots: BTreeMap<String, SlotInfo>,
    /// The update on trial, if any.
    pub trial: Option<Trial>,
    /// The most recent attempts, oldest first (at most [`HISTORY_LEN`]).
    pub history: Vec<Event>,
}

/// Attempts kept in the state file's history.
pub const HISTORY_LEN: usize = 20;

impl State {
    /// The record of `slot`.
    pub fn slot(&self, slot: Slot) -> Option<&SlotInfo> {
        self.slots.get(slot.key())
    }

    pub(super) fn set_slot(&mut self, slot: Slot, info: SlotInfo) {
        self.slots.insert(slot.key().into(), info);
    }

    pub(super) fn push(&mut self, e: Event) {
        self.history.push(e);
        let n = self.history.len();
        if n > HISTORY_LEN {
            self.history.drain(..n - HISTORY_LEN);
        }
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The A/B layout under a prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The prefix, e.g. `/opt/hearth`.
    pub prefix: PathBuf,
}

/// An exclusive lock on the layout, held while state changes (flock(2) on `update.lock`).
pub struct LayoutLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Layout {
    /// The layout under `prefix`.
    pub fn new(prefix: impl Into<PathBuf>) -> Layout {
        Layout {
            prefix: prefix.into(),
        }
    }

    /// `prefix/slot-X/hearth`.
    pub fn binary(&self, slot: Slot) -> PathBuf {
        self.prefix.join(slot.dir_name()).join("hearth")
    }

    /// `prefix/current/hearth`: the path units run.
    pub fn current_binary(&self) -> PathBuf {
        self.prefix.join("current").join("hearth")
    }

    /// `prefix/update-state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.prefix.join("update-state.json")
    }

    /// Whether the layout exists (`current` is a symlink).
    pub fn exists(&self) -> bool {
        std::fs::symlink_metadata(self.prefix.join("current")).is_ok_and(|m| m.is_symlink())
    }

    pub(super) fn link(&self, name: &str) -> Result<Option<Slot>, UpdateError> {
        let p = self.prefix.join(name);
        match std::fs::read_link(&p) {
            Ok(t) => match t.to_str() {
                Some("slot-a") => Ok(Some(Slot::A)),
                Some("slot-b") => Ok(Some(Slot::B)),
                _ => Err(UpdateError::Invalid(format!(
                    "{} points to {}, not slot-a or slot-b",
                    p.display(),
                    t.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(UpdateError::Io {
                what: format!("cannot read the symlink {}", p.display()),
                source: e,
            }),
        }
    }

    /// The slot `current` names.
    ///
    /// # Errors
    /// [`UpdateError::Invalid`] when the layout is missing or `current` is foreign.
    pub fn current(&self) -> Result<Slot, UpdateError> {
        self.link("current")?.ok_or_else(|| {
            UpdateError::Invalid(format!(
                "no A/B layout at {} (install with `hearth service install`; a .deb install is updated with apt)",
                self.prefix.display()
            ))
        })
    }

    /// The slot `previous` names, if any.
    ///
    /// # Errors
    /// As [`Layout::current`] for a foreign link.
    pub fn previous(&self) -> Result<Option<Slot>, UpdateError> {
        self.link("previous")
    }

    /// Points `name` (`current` or `previous`) at `slot` atomically: a new relative symlink
    /// renamed over the old one, then the directory fsynced. `None` removes the link.
    ///
    /// # Errors
    /// [`UpdateError::Io`].
    pub fn point(&self, name: &str, slot: Option<Slot>) -> Result<(), UpdateError> {
        let link = self.prefix.join(name);
        match slot {
            Some(s) => {
                let tmp = self.prefix.join(format!(".{name}.tmp"));
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(s.dir_name(), &tmp)
                    .map_err(UpdateError::io(format!("cannot create {}", tmp.display())))?;
                std::fs::rename(&tmp, &link)
                    .map_err(UpdateError::io(format!("cannot switch {}", link.display())))?;
            }
            None => match std::fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(UpdateError::Io {
                        what: format!("cannot remove {}", link.display()),
                        source: e,
                    });
                }
            },
        }
        fsync_dir(&self.prefix)
    }

    /// Takes the layout lock, waiting for it.
    ///
    /// # Errors
    /// [`UpdateError::Io`].
    pub fn lock(&self) -> Result<LayoutLock, UpdateError> {
        self.lock_with(nix::fcntl::FlockArg::LockExclusive)?
            .ok_or_else(|| UpdateError::Refused("lock not taken".into()))
    }

    /// Takes the layout lock if free; `None` when another process holds it.
    ///
    /// # Errors
    /// [`UpdateError::Io`].
    pub fn try_lock(&self) -> Result<Option<LayoutLock>, UpdateError> {
        self.lock_with(nix::fcntl::FlockArg::LockExclusiveNonblock)
    }

    pub(super) fn lock_with(
        &self,
        arg: nix::fcntl::FlockArg,
    ) -> Result<Option<LayoutLock>, UpdateError> {
        let p = self.prefix.join("update.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(UpdateError::io(format!("cannot open {}", p.display())))?;
        match nix::fcntl::Flock::lock(f, arg) {
            Ok(l) => Ok(Some(LayoutLock { _lock: l })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(UpdateError::Io {
                what: format!("cannot lock {}", p.display()),
                source: e.into(),
            }),
        }
    }

    /// Reads the state file (an absent file is an empty state).
    ///
    /// # Errors
    /// [`UpdateError::Io`], or [`UpdateError::Invalid`] for a malformed file (with its path).
    pub fn load_state(&self) -> Result<State, UpdateError> {
        let p = self.state_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| UpdateError::Invalid(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(UpdateError::Io {
                what: format!("cannot read {}", p.display()),
                source: e,
            }),
        }
    }

    /// Writes the state file atomically (temporary file, fsync, rename, directory fsync).
    ///
    /// # Errors
    /// [`UpdateError::Io`].
    pub fn save_state(&self, state: &State) -> Result<(), UpdateError> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| UpdateError::Invalid(format!("state: {e}")))?;
        write_atomic(&self.state_path(), &bytes, 0o644)
    }

    /// Creates the layout with `binary` in slot A and `current -> slot-a`, unless it exists.
    /// Returns whether it was created.
    ///
    /// # Errors
    /// [`UpdateError::Io`].
    pub fn init(&self, binary: &Path, version: Option<String>) -> Result<bool, UpdateError> {
        if self.exists() {
            return Ok(false);
        }
        mkdir(&self.prefix, 0o755)?;
        let bytes = std::fs::read(binary)
            .map_err(UpdateError::io(format!("cannot read {}", binary.display())))?;
        let sha = manifest::sha256_hex(&bytes);
        self.write_slot(Slot::A, &bytes)?;
        let mut state = self.load_state()?;
        state.set_slot(
            Slot::A,
            SlotInfo {
                version,
                sha256: sha,
            },
        );
        self.save_state(&state)?;
        self.point("current", Some(Slot::A))?;
        Ok(true)
    }

    /// Writes `bytes` as `slot`'s binary: `hearth.new`, fsync, rename, directory fsync.
    pub(super) fn write_slot(&self, slot: Slot, bytes: &[u8]) -> Result<(), UpdateError> {
        let dir = self.prefix.join(slot.dir_name());
        mkdir(&dir, 0o755)?;
        let tmp = dir.join("hearth.new");
        write_file_synced(&tmp, bytes, 0o755)?;
        reached(Step::Written);
        let dst = dir.join("hearth");
        std::fs::rename(&tmp, &dst).map_err(UpdateError::io(format!(
            "cannot rename into {}",
            dst.display()
        )))?;
        fsync_dir(&dir)
    }
}

pub(super) fn mkdir(dir: &Path, mode: u32) -> Result<(), UpdateError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(UpdateError::io(format!("cannot create {}", dir.display())))
}

pub(super) fn write_file_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), UpdateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(path)
        .map_err(UpdateError::io(format!("cannot create {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(UpdateError::io(format!("cannot write {}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(UpdateError::io(format!("cannot chmod {}", path.display())))
}

/// Writes `path` atomically: a temporary sibling, fsync, rename, directory fsync.
///
/// # Errors
/// [`UpdateError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), UpdateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    write_file_synced(&tmp, bytes, mode)?;
    std::fs::rename(&tmp, path).map_err(UpdateError::io(format!(
        "cannot rename into {}",
        path.display()
    )))?;
    fsync_dir(dir)
}

pub(super) fn fsync_dir(dir: &Path) -> Result<(), UpdateError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(UpdateError::io(format!("cannot fsync {}", dir.display())))
}

impl Layout {
    /// What `update.status` reports: `{layout, current, previous, trial, last}` (slot
    /// names with the versions they hold, the update on trial, the last attempt);
    /// `{layout: null}` when there is no A/B layout at this prefix.
    pub fn status_json(&self) -> serde_json::Value {
        if !self.exists() {
            return serde_json::json!({"layout": null});
        }
        let state = self.load_state().unwrap_or_default();
        let describe = |s: Option<Slot>| {
            s.map(|s| {
                let v = state.slot(s).and_then(|i| i.version.clone());
                format!(
                    "{} ({})",
                    s.dir_name(),
                    v.as_deref().unwrap_or("unknown version")
                )
            })
        };
        serde_json::json!({
            "layout": self.prefix,
            "current": describe(self.current().ok()),
            "previous": describe(self.previous().ok().flatten()),
            "state": match &state.trial {
                Some(t) => format!("trying {} since {} (not yet committed)", t.version, t.started_unix_ms),
                None => "committed".to_string(),
            },
            "last": state.history.last(),
        })
    }
}
