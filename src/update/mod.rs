//! A/B updates of the Hearth binary (`hearth update`).
//!
//! Layout under a prefix (default [`DEFAULT_PREFIX`]):
//!
//! ```text
//! /opt/hearth/slot-a/hearth      one complete binary per slot
//! /opt/hearth/slot-b/hearth
//! /opt/hearth/current -> slot-a  what the service runs (ExecStart=/opt/hearth/current/hearth)
//! /opt/hearth/previous -> slot-b the known-good slot to roll back to (after an update)
//! /opt/hearth/update-state.json  slot versions, the update on trial, history
//! /opt/hearth/update.lock        flock(2) held by whoever changes any of the above
//! ```
//!
//! An update verifies a signed manifest ([`manifest`]), writes the new binary into the
//! inactive slot (temporary file, fsync, rename), records the trial, switches `current` with
//! a symlink rename (atomic on POSIX file systems), restarts the service and waits for the new
//! binary to report ready. If it does not within the grace period, `current` goes back to the
//! old slot and the reason is recorded. Every step leaves `current` naming a slot with a
//! complete, verified binary, so a power cut at any point boots a working Hearth; an update
//! interrupted while on trial is finished (or rolled back) by the next `hearth update`, by
//! `hearth update commit` (run by the unit's `ExecStartPost=`) or by `hearth-rollback.service`
//! (started by `OnFailure=` when the new binary keeps failing).

pub mod manifest;
mod version;

pub use version::compare_versions;

use manifest::{Manifest, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where `hearth service install` puts the A/B layout.
pub const DEFAULT_PREFIX: &str = "/opt/hearth";
/// The directory of trusted update public keys (`*.pub`).
pub const DEFAULT_KEYS_DIR: &str = "/etc/hearth/update-keys";
/// The restart command used under systemd.
pub const SYSTEMD_RESTART: &str = "systemctl restart hearth.service";
/// The Rust target triple this binary was built for (from the build script).
pub const TARGET: &str = env!("HEARTH_TARGET");
/// Largest binary accepted, in bytes.
pub const MAX_ARTIFACT_BYTES: u64 = 512 << 20;
/// Test-only fault injection: `HEARTH_UPDATE_KILL_AT=<step>` makes `hearth update` SIGKILL
/// itself right after that step (see [`Step`]), to test that every step is crash-safe.
pub const KILL_AT_ENV: &str = "HEARTH_UPDATE_KILL_AT";

/// Why an update operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Malformed input: manifest, key, layout, arguments.
    #[error("{0}")]
    Invalid(String),
    /// The manifest is not signed by a trusted key, or the signature does not verify.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// The update was refused (wrong target, checksum mismatch, downgrade, busy, ...).
    #[error("{0}")]
    Refused(String),
    /// Downloading the manifest or the binary failed.
    #[error("download failed: {0}")]
    Download(String),
}

impl UpdateError {
    pub(crate) fn io(what: String) -> impl FnOnce(std::io::Error) -> UpdateError {
        move |source| UpdateError::Io { what, source }
    }

    /// The message without the variant's prefix.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid(m) | Self::Signature(m) | Self::Refused(m) | Self::Download(m) => {
                m.clone()
            }
            Self::Io { .. } => self.to_string(),
        }
    }
}

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

    fn key(self) -> &'static str {
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

fn reached(step: Step) {
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

    fn set_slot(&mut self, slot: Slot, info: SlotInfo) {
        self.slots.insert(slot.key().into(), info);
    }

    fn push(&mut self, e: Event) {
        self.history.push(e);
        let n = self.history.len();
        if n > HISTORY_LEN {
            self.history.drain(..n - HISTORY_LEN);
        }
    }
}

fn now_ms() -> u64 {
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

    fn link(&self, name: &str) -> Result<Option<Slot>, UpdateError> {
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

    fn lock_with(&self, arg: nix::fcntl::FlockArg) -> Result<Option<LayoutLock>, UpdateError> {
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
    fn write_slot(&self, slot: Slot, bytes: &[u8]) -> Result<(), UpdateError> {
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

fn mkdir(dir: &Path, mode: u32) -> Result<(), UpdateError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(UpdateError::io(format!("cannot create {}", dir.display())))
}

fn write_file_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), UpdateError> {
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

fn fsync_dir(dir: &Path) -> Result<(), UpdateError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(UpdateError::io(format!("cannot fsync {}", dir.display())))
}

/// How the updater restarts the service and tells whether the new binary came up.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// Shell command that restarts the service (`sh -c`), e.g. [`SYSTEMD_RESTART`].
    pub restart_cmd: String,
    /// The gateway's data directory, where it writes `gateway.json` (pid, port) when ready.
    pub data_dir: PathBuf,
    /// How long the new binary gets to become ready.
    pub grace: Duration,
}

impl Supervision {
    fn restart(&self) -> Result<(), UpdateError> {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.restart_cmd)
            .status()
            .map_err(UpdateError::io(format!(
                "cannot run {:?}",
                self.restart_cmd
            )))?;
        if st.success() {
            Ok(())
        } else {
            Err(UpdateError::Refused(format!(
                "restart command {:?} failed with {st}",
                self.restart_cmd
            )))
        }
    }

    /// Whether a gateway is ready and runs `binary`: `gateway.json` names a live process
    /// whose executable is `binary`, and its `/readyz` answers 200.
    ///
    /// # Errors
    /// A one-line reason why not.
    pub fn probe(&self, binary: &Path) -> Result<(), String> {
        let doc = std::fs::read(crate::daemon::discovery_path(&self.data_dir))
            .map_err(|e| format!("no gateway.json in {}: {e}", self.data_dir.display()))?;
        let v: serde_json::Value =
            serde_json::from_slice(&doc).map_err(|e| format!("gateway.json: {e}"))?;
        let pid = v["pid"].as_u64().ok_or("gateway.json has no pid")?;
        let port = v["port"].as_u64().ok_or("gateway.json has no port")?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_err(|e| format!("gateway pid {pid} is gone: {e}"))?;
        let want = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
        if exe != want {
            return Err(format!(
                "the gateway (pid {pid}) runs {}, not {}",
                exe.display(),
                want.display()
            ));
        }
        let host = match v["bind"].as_str() {
            Some(b) if !b.is_empty() && b != "0.0.0.0" && b != "::" => {
                if b.contains(':') {
                    format!("[{b}]")
                } else {
                    b.to_string()
                }
            }
            _ => "127.0.0.1".into(),
        };
        let url = format!("http://{host}:{port}/readyz");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3)))
            .http_status_as_error(false)
            .build()
            .into();
        match agent.get(&url).call() {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{url} answered {}", r.status())),
            Err(e) => Err(format!("{url}: {e}")),
        }
    }

    /// Polls [`Supervision::probe`] every 250 ms until it passes or the grace period ends.
    ///
    /// # Errors
    /// The last reason, with the time waited.
    pub fn wait_ready(&self, binary: &Path) -> Result<Duration, String> {
        let t0 = Instant::now();
        loop {
            match self.probe(binary) {
                Ok(()) => return Ok(t0.elapsed()),
                Err(why) if t0.elapsed() >= self.grace => {
                    return Err(format!(
                        "not ready within {} s: {why}",
                        self.grace.as_secs_f32()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

/// Where a release comes from: a manifest envelope file or an `http(s)://` URL.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local file; artifacts are read from its directory.
    File(PathBuf),
    /// A URL; artifacts are fetched relative to it.
    Url(String),
}

impl Source {
    /// `http://` and `https://` are URLs; anything else is a path.
    pub fn parse(s: &str) -> Source {
        if s.starts_with("http://") || s.starts_with("https://") {
            Source::Url(s.to_string())
        } else {
            Source::File(PathBuf::from(s))
        }
    }

    fn read(&self, rel: Option<&str>, max: u64) -> Result<Vec<u8>, UpdateError> {
        match self {
            Source::File(p) => {
                let path = match rel {
                    Some(r) => p.parent().unwrap_or(Path::new(".")).join(r),
                    None => p.clone(),
                };
                let f = std::fs::File::open(&path)
                    .map_err(UpdateError::io(format!("cannot open {}", path.display())))?;
                let mut buf = Vec::new();
                f.take(max + 1)
                    .read_to_end(&mut buf)
                    .map_err(UpdateError::io(format!("cannot read {}", path.display())))?;
                if buf.len() as u64 > max {
                    return Err(UpdateError::Refused(format!(
                        "{} is larger than {max} bytes",
                        path.display()
                    )));
                }
                Ok(buf)
            }
            Source::Url(u) => {
                let url = match rel {
                    Some(r) if r.contains("://") => r.to_string(),
                    Some(r) => match u.rfind('/') {
                        Some(i) => format!("{}/{r}", &u[..i]),
                        None => r.to_string(),
                    },
                    None => u.clone(),
                };
                let resp = ureq::get(&url)
                    .call()
                    .map_err(|e| UpdateError::Download(format!("{url}: {e}")))?;
                let mut buf = Vec::new();
                resp.into_body()
                    .into_reader()
                    .take(max + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| UpdateError::Download(format!("{url}: {e}")))?;
                if buf.len() as u64 > max {
                    return Err(UpdateError::Refused(format!(
                        "{url} is larger than {max} bytes"
                    )));
                }
                Ok(buf)
            }
        }
    }
}

/// What `hearth update` was asked to do.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The release.
    pub source: Source,
    /// Keys whose signatures are accepted.
    pub trusted: Vec<PublicKey>,
    /// The target triple to install (default [`TARGET`]).
    pub target: String,
    /// Accept an older version than the current one.
    pub allow_downgrade: bool,
    /// Restart and health check.
    pub supervision: Supervision,
}

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new version runs and is committed.
    Committed {
        /// Its version.
        version: String,
        /// Its slot.
        slot: Slot,
        /// Time from restart to ready.
        ready_after: Duration,
    },
    /// The slot already holds this exact binary and runs it.
    AlreadyCurrent {
        /// Its version.
        version: String,
    },
    /// The new version did not come up; the old one runs again.
    RolledBack {
        /// The version tried.
        version: String,
        /// Why it was rolled back.
        reason: String,
    },
}

/// Installs a release A/B style (see the module docs). Progress lines go to `log`.
///
/// # Errors
/// [`UpdateError`]; on any error before the switch nothing the service runs has changed.
pub fn apply(
    layout: &Layout,
    opts: &ApplyOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, UpdateError> {
    let _lock = layout.lock()?;
    let current = layout.current()?;
    let mut state = layout.load_state()?;
    if let Some(trial) = state.trial.clone() {
        log(&format!(
            "an update to {} is still on trial (interrupted?); finishing it first",
            trial.version
        ));
        finish_trial(layout, &mut state, &trial, &opts.supervision, log)?;
    }
    let current = layout.current().unwrap_or(current);

    let envelope = opts
        .source
        .read(None, manifest::MAX_ENVELOPE_BYTES)
        .map_err(|e| match e {
            UpdateError::Refused(m) => UpdateError::Invalid(m),
            e => e,
        })?;
    let m: Manifest = manifest::verify(&envelope, &opts.trusted)?;
    let art = m.targets.get(&opts.target).ok_or_else(|| {
        UpdateError::Refused(format!(
            "release {} has no binary for {} (it has: {})",
            m.version,
            opts.target,
            m.targets.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let cur_info = state.slot(current).cloned().unwrap_or_default();
    if cur_info.sha256 == art.sha256 {
        log(&format!("{} is already installed and current", m.version));
        return Ok(Outcome::AlreadyCurrent { version: m.version });
    }
    if let Some(cv) = &cur_info.version
        && compare_versions(&m.version, cv).is_lt()
        && !opts.allow_downgrade
    {
        return Err(UpdateError::Refused(format!(
            "release {} is older than the installed {cv} (use --allow-downgrade)",
            m.version
        )));
    }
    if art.size > MAX_ARTIFACT_BYTES {
        return Err(UpdateError::Refused(format!(
            "the binary is {} bytes, more than the {MAX_ARTIFACT_BYTES} accepted",
            art.size
        )));
    }
    log(&format!(
        "manifest {} signed by a trusted key; fetching {} ({} bytes)",
        m.version, art.file, art.size
    ));
    reached(Step::Verified);
    let bytes = opts.source.read(Some(&art.file), art.size)?;
    let sha = manifest::sha256_hex(&bytes);
    if bytes.len() as u64 != art.size || sha != art.sha256 {
        return Err(UpdateError::Refused(format!(
            "{}: got {} bytes with sha256 {sha}, the manifest says {} bytes with {}",
            art.file,
            bytes.len(),
            art.size,
            art.sha256
        )));
    }

    let target = current.other();
    // `previous` must not name a slot while it is being rewritten.
    if layout.previous()? == Some(target) {
        layout.point("previous", None)?;
    }
    layout.write_slot(target, &bytes)?;
    reached(Step::Staged);
    state.set_slot(
        target,
        SlotInfo {
            version: Some(m.version.clone()),
            sha256: sha.clone(),
        },
    );
    let trial = Trial {
        slot: target,
        from: current,
        version: m.version.clone(),
        sha256: sha,
        started_unix_ms: now_ms(),
    };
    state.trial = Some(trial.clone());
    layout.save_state(&state)?;
    reached(Step::Trial);
    log(&format!("{} written to {}", m.version, target.dir_name()));
    finish_trial(layout, &mut state, &trial, &opts.supervision, log)
}

/// Switches to the trial slot (if not yet), restarts, waits for ready, then commits or rolls
/// back. Used by [`apply`] and to finish an interrupted update.
fn finish_trial(
    layout: &Layout,
    state: &mut State,
    trial: &Trial,
    sup: &Supervision,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, UpdateError> {
    let bin = layout.binary(trial.slot);
    let on_disk = std::fs::read(&bin).map(|b| manifest::sha256_hex(&b));
    if on_disk.as_deref().ok() != Some(trial.sha256.as_str()) {
        // Cannot happen through `apply` (the binary is renamed in before the trial is
        // recorded), but never switch to a binary that is not the one verified.
        let reason = format!("{} does not hold the verified binary", bin.display());
        return rollback(layout, state, trial, &reason, Some(sup), log);
    }
    if layout.current()? != trial.slot {
        layout.point("current", Some(trial.slot))?;
        layout.point("previous", Some(trial.from))?;
    }
    reached(Step::Switched);
    if sup.probe(&bin).is_ok() {
        log("the new binary already runs and is ready");
        return commit(layout, state, trial, Duration::ZERO, log);
    }
    log(&format!("restarting: {}", sup.restart_cmd));
    let restarted = sup.restart();
    reached(Step::Restarted);
    let ready = match restarted {
        Ok(()) => sup.wait_ready(&bin),
        Err(e) => Err(e.message()),
    };
    match ready {
        Ok(after) => commit(layout, state, trial, after, log),
        Err(reason) => rollback(layout, state, trial, &reason, Some(sup), log),
    }
}

fn commit(
    layout: &Layout,
    state: &mut State,
    trial: &Trial,
    after: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, UpdateError> {
    let from = state.slot(trial.from).and_then(|s| s.version.clone());
    state.trial = None;
    state.push(Event {
        at_unix_ms: now_ms(),
        from_version: from,
        to_version: Some(trial.version.clone()),
        outcome: "committed".into(),
        reason: format!("ready {} ms after the restart", after.as_millis()),
    });
    layout.save_state(state)?;
    reached(Step::Committed);
    log(&format!(
        "{} is running from {} and committed",
        trial.version,
        trial.slot.dir_name()
    ));
    Ok(Outcome::Committed {
        version: trial.version.clone(),
        slot: trial.slot,
        ready_after: after,
    })
}

/// Puts `current` back on the trial's old slot, records why, and restarts when `sup` is
/// given (reporting whether the old binary came back).
fn rollback(
    layout: &Layout,
    state: &mut State,
    trial: &Trial,
    reason: &str,
    sup: Option<&Supervision>,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, UpdateError> {
    log(&format!(
        "rolling back to {}: {reason}",
        trial.from.dir_name()
    ));
    layout.point("current", Some(trial.from))?;
    layout.point("previous", None)?;
    let from = state.slot(trial.from).and_then(|s| s.version.clone());
    state.trial = None;
    state.push(Event {
        at_unix_ms: now_ms(),
        from_version: from,
        to_version: Some(trial.version.clone()),
        outcome: "rolled back".into(),
        reason: reason.to_string(),
    });
    layout.save_state(state)?;
    if let Some(sup) = sup {
        match sup.restart() {
            Ok(()) => match sup.wait_ready(&layout.binary(trial.from)) {
                Ok(_) => log("the previous binary runs again"),
                Err(why) => log(&format!("warning: after the rollback, {why}")),
            },
            Err(e) => log(&format!("warning: restart after the rollback failed: {e}")),
        }
    }
    Ok(Outcome::RolledBack {
        version: trial.version.clone(),
        reason: reason.to_string(),
    })
}

/// `hearth update rollback`: with an update on trial, returns to its old slot; otherwise
/// (unless `only_trial`) swaps `current` and `previous` by hand. Restarts through `sup`.
///
/// # Errors
/// [`UpdateError::Refused`] when there is nothing to roll back to.
pub fn rollback_now(
    layout: &Layout,
    only_trial: bool,
    reason: &str,
    sup: Option<&Supervision>,
    log: &mut dyn FnMut(&str),
) -> Result<Option<Outcome>, UpdateError> {
    let _lock = layout.lock()?;
    let mut state = layout.load_state()?;
    if let Some(trial) = state.trial.clone() {
        return rollback(layout, &mut state, &trial, reason, sup, log).map(Some);
    }
    if only_trial {
        log("no update is on trial; nothing to roll back");
        return Ok(None);
    }
    let current = layout.current()?;
    let prev = layout
        .previous()?
        .ok_or_else(|| UpdateError::Refused("there is no previous slot to roll back to".into()))?;
    let want = state
        .slot(prev)
        .map(|s| s.sha256.clone())
        .unwrap_or_default();
    let have = std::fs::read(layout.binary(prev))
        .map(|b| manifest::sha256_hex(&b))
        .unwrap_or_default();
    if want.is_empty() || want != have {
        return Err(UpdateError::Refused(format!(
            "{} does not hold the binary recorded for it; not switching",
            layout.binary(prev).display()
        )));
    }
    layout.point("current", Some(prev))?;
    layout.point("previous", Some(current))?;
    let to = state.slot(prev).and_then(|s| s.version.clone());
    state.push(Event {
        at_unix_ms: now_ms(),
        from_version: state.slot(current).and_then(|s| s.version.clone()),
        to_version: to.clone(),
        outcome: "rolled back".into(),
        reason: reason.to_string(),
    });
    layout.save_state(&state)?;
    log(&format!("current is {} again", prev.dir_name()));
    if let Some(sup) = sup {
        sup.restart()?;
    }
    Ok(Some(Outcome::RolledBack {
        version: to.unwrap_or_default(),
        reason: reason.to_string(),
    }))
}

/// `hearth update commit`: confirms an update on trial once the gateway is ready on it
/// (waiting up to `sup.grace`). Does nothing when no update is on trial or when another
/// `hearth update` holds the lock (it will decide).
///
/// # Errors
/// [`UpdateError::Refused`] when the trial binary does not become ready in time.
pub fn commit_if_ready(
    layout: &Layout,
    sup: &Supervision,
    log: &mut dyn FnMut(&str),
) -> Result<Option<Outcome>, UpdateError> {
    let Some(_lock) = layout.try_lock()? else {
        log("another `hearth update` is running; it will commit or roll back");
        return Ok(None);
    };
    let mut state = layout.load_state()?;
    let Some(trial) = state.trial.clone() else {
        log("no update is on trial");
        return Ok(None);
    };
    if layout.current()? != trial.slot {
        return Err(UpdateError::Refused(format!(
            "the update to {} is on trial in {} but current is not switched yet; run `hearth update` again to finish it",
            trial.version,
            trial.slot.dir_name()
        )));
    }
    match sup.wait_ready(&layout.binary(trial.slot)) {
        Ok(after) => commit(layout, &mut state, &trial, after, log).map(Some),
        Err(why) => Err(UpdateError::Refused(why)),
    }
}

#[cfg(test)]
mod tests;
