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

mod layout;
pub mod manifest;
mod supervise;
mod version;

pub use layout::*;
pub use supervise::*;

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
