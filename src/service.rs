//! `hearth service install|uninstall|status`: Hearth as a systemd system service in the A/B
//! layout of [`crate::update`].
//!
//! Install copies the binary into `<prefix>/slot-a`, points `<prefix>/current` at it, links
//! `/usr/local/bin/hearth` to `<prefix>/current/hearth`, writes `hearth.service` (from
//! `systemd/hearth.service`, with `ExecStart=` on the A/B path, `OnFailure=` to the rollback
//! unit and an `ExecStartPost=` that commits an update on trial) and
//! `hearth-rollback.service` to `/etc/systemd/system`, the `hearth` user to
//! `/etc/sysusers.d/hearth.conf`, and enables the unit. With `--root DIR` it writes into
//! another root file system offline (an SD-card image), as `systemctl --root` does.
//! Unit semantics: systemd.service(5), systemd.exec(5), sysusers.d(5).

use crate::update::{Layout, UpdateError};
use std::path::{Path, PathBuf};

/// The unit shipped in `systemd/hearth.service` (the .deb installs it verbatim).
pub const UNIT_TEMPLATE: &str = include_str!("../systemd/hearth.service");
/// The rollback unit shipped in `systemd/hearth-rollback.service`.
pub const ROLLBACK_TEMPLATE: &str = include_str!("../systemd/hearth-rollback.service");
/// The sysusers.d snippet shipped in `systemd/hearth.sysusers`.
pub const SYSUSERS: &str = include_str!("../systemd/hearth.sysusers");
/// Where the service keeps its state (`StateDirectory=hearth`).
pub const STATE_DIR: &str = "/var/lib/hearth";
/// Seconds `ExecStartPost=` waits for a trial binary to become ready before giving up.
pub const COMMIT_WAIT_SECS: u64 = 60;

/// What `hearth service install` does.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The root file system to write into (`/` for this machine).
    pub root: PathBuf,
    /// The A/B prefix as seen inside that system, e.g. `/opt/hearth`.
    pub prefix: PathBuf,
    /// The binary to install into slot A (for a new layout).
    pub binary: PathBuf,
    /// Its version, when known (it is this binary's own version by default).
    pub version: Option<String>,
    /// Link the unit into `multi-user.target.wants`.
    pub enable: bool,
    /// Start (or restart) it now; only on the running system.
    pub start: bool,
}

/// Where the absolute path `abs` of the system rooted at `root` is on this machine
/// (`root` joined with `abs` made relative; `abs` itself when `root` is `/`).
pub fn under(root: &Path, abs: &Path) -> PathBuf {
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// The `hearth.service` text for the A/B layout under `prefix`.
pub fn render_unit(prefix: &Path) -> String {
    let p = prefix.display();
    let mut out = String::with_capacity(UNIT_TEMPLATE.len() + 512);
    for line in UNIT_TEMPLATE.lines() {
        if line.starts_with("ExecStart=") {
            out.push_str(&format!("ExecStart={p}/current/hearth gateway\n"));
            out.push_str(&format!(
                "# Confirms an update on trial once this binary is ready (hearth update commit).\n\
                 ExecStartPost=-+{p}/current/hearth update commit --prefix {p} --data-dir {STATE_DIR} --wait {COMMIT_WAIT_SECS}\n"
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with("Wants=") {
            out.push_str("# The A/B layout: a binary that keeps failing is rolled back.\n");
            out.push_str("OnFailure=hearth-rollback.service\n");
        }
    }
    out
}

/// The `hearth-rollback.service` text for the A/B layout under `prefix`.
pub fn render_rollback_unit(prefix: &Path) -> String {
    let p = prefix.display().to_string();
    ROLLBACK_TEMPLATE
        .lines()
        .map(|l| {
            if l.starts_with("ConditionPathExists=") {
                format!("ConditionPathExists={p}/previous/hearth\n")
            } else if l.starts_with("ExecStart=") {
                format!(
                    "ExecStart={p}/previous/hearth update rollback --if-trial --prefix {p} --data-dir {STATE_DIR} --restart --restart-cmd \"systemctl reset-failed hearth.service; systemctl restart --no-block hearth.service\"\n"
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> UpdateError {
    move |source| UpdateError::Io { what, source }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), UpdateError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(format!("cannot create {}", d.display())))?;
    }
    crate::update::write_atomic(path, text.as_bytes(), mode)
}

fn relink(link: &Path, target: &Path) -> Result<(), UpdateError> {
    if let Some(d) = link.parent() {
        std::fs::create_dir_all(d).map_err(io(format!("cannot create {}", d.display())))?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(m) if !m.is_symlink() => {
            return Err(UpdateError::Refused(format!(
                "{} exists and is not a symlink; move it away first",
                link.display()
            )));
        }
        Ok(_) => {
            std::fs::remove_file(link).map_err(io(format!("cannot replace {}", link.display())))?
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link).map_err(io(format!("cannot link {}", link.display())))
}

/// Whether systemd runs this machine (sd_booted(3): `/run/systemd/system` exists).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn run(cmd: &str, args: &[&str], log: &mut dyn FnMut(&str)) -> Result<(), UpdateError> {
    log(&format!("running {cmd} {}", args.join(" ")));
    let st = std::process::Command::new(cmd)
        .args(args)
        .status()
        .map_err(io(format!("cannot run {cmd}")))?;
    if st.success() {
        Ok(())
    } else {
        Err(UpdateError::Refused(format!(
            "{cmd} {} failed with {st}",
            args.join(" ")
        )))
    }
}

/// Installs (or re-installs) the service; see the module docs. An existing layout keeps its
/// slots (change the binary with `hearth update`); units and links are rewritten.
///
/// # Errors
/// [`UpdateError`] for file operations, a foreign `/usr/local/bin/hearth`, or a failing
/// `systemctl`.
pub fn install(opts: &InstallOptions, log: &mut dyn FnMut(&str)) -> Result<(), UpdateError> {
    if !opts.prefix.is_absolute() {
        return Err(UpdateError::Invalid(format!(
            "--prefix {} must be absolute",
            opts.prefix.display()
        )));
    }
    let root = &opts.root;
    let packaged = under(root, Path::new("/usr/lib/systemd/system/hearth.service"));
    if packaged.exists() {
        return Err(UpdateError::Refused(format!(
            "{} exists: Hearth is installed from the Debian package here; upgrade it with apt, \
             or `apt remove hearth` before installing the A/B layout (a unit in /etc would \
             silently override the package's)",
            packaged.display()
        )));
    }
    let layout = Layout::new(under(root, &opts.prefix));
    if layout.init(&opts.binary, opts.version.clone())? {
        log(&format!(
            "installed {} as {}",
            opts.binary.display(),
            layout.binary(crate::update::Slot::A).display()
        ));
    } else {
        log(&format!(
            "{} already holds an A/B layout (current: {}); keeping its binaries",
            layout.prefix.display(),
            layout.current()?.dir_name()
        ));
    }
    let cur = opts.prefix.join("current/hearth");
    relink(&under(root, Path::new("/usr/local/bin/hearth")), &cur)?;
    let units = under(root, Path::new("/etc/systemd/system"));
    write_file(
        &units.join("hearth.service"),
        &render_unit(&opts.prefix),
        0o644,
    )?;
    write_file(
        &units.join("hearth-rollback.service"),
        &render_rollback_unit(&opts.prefix),
        0o644,
    )?;
    write_file(
        &under(root, Path::new("/etc/sysusers.d/hearth.conf")),
        SYSUSERS,
        0o644,
    )?;
    for d in [
        "/etc/hearth",
        "/etc/hearth/update-keys",
        "/etc/hearth/credentials",
    ] {
        let p = under(root, Path::new(d));
        std::fs::create_dir_all(&p).map_err(io(format!("cannot create {}", p.display())))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = if d.ends_with("credentials") {
            0o700
        } else {
            0o755
        };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(io(format!("cannot chmod {}", p.display())))?;
    }
    log(&format!(
        "wrote {}/hearth.service, hearth-rollback.service and /etc/sysusers.d/hearth.conf",
        units.display()
    ));
    let live = root == Path::new("/") && systemd_running();
    if live {
        run("systemd-sysusers", &["/etc/sysusers.d/hearth.conf"], log)?;
        run("systemctl", &["daemon-reload"], log)?;
    }
    if opts.enable {
        if live {
            run("systemctl", &["enable", "hearth.service"], log)?;
        } else {
            relink(
                &units.join("multi-user.target.wants/hearth.service"),
                Path::new("/etc/systemd/system/hearth.service"),
            )?;
            log("enabled (multi-user.target.wants/hearth.service)");
        }
    }
    if opts.start {
        if live {
            run("systemctl", &["restart", "hearth.service"], log)?;
        } else {
            log("systemd is not running here: not started");
        }
    }
    Ok(())
}

/// Removes the units, the links and the A/B layout; `purge` also removes the state
/// (`/var/lib/hearth`) and the configuration (`/etc/hearth`). The `hearth` user stays (its
/// UID may own files elsewhere), as Debian policy does for system users.
///
/// # Errors
/// [`UpdateError::Io`], or a failing `systemctl`.
pub fn uninstall(
    root: &Path,
    prefix: &Path,
    purge: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(), UpdateError> {
    let live = root == Path::new("/") && systemd_running();
    if live {
        let _ = run("systemctl", &["disable", "--now", "hearth.service"], log);
    }
    let mut gone = Vec::new();
    let units = under(root, Path::new("/etc/systemd/system"));
    for p in [
        units.join("multi-user.target.wants/hearth.service"),
        units.join("hearth.service"),
        units.join("hearth-rollback.service"),
        under(root, Path::new("/etc/sysusers.d/hearth.conf")),
    ] {
        if std::fs::symlink_metadata(&p).is_ok() {
            std::fs::remove_file(&p).map_err(io(format!("cannot remove {}", p.display())))?;
            gone.push(p.display().to_string());
        }
    }
    let bin_link = under(root, Path::new("/usr/local/bin/hearth"));
    if std::fs::read_link(&bin_link).is_ok_and(|t| t.starts_with(prefix)) {
        std::fs::remove_file(&bin_link)
            .map_err(io(format!("cannot remove {}", bin_link.display())))?;
        gone.push(bin_link.display().to_string());
    }
    let mut dirs = vec![under(root, prefix)];
    if purge {
        dirs.push(under(root, Path::new(STATE_DIR)));
        dirs.push(under(root, Path::new("/etc/hearth")));
    }
    for d in dirs {
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(io(format!("cannot remove {}", d.display())))?;
            gone.push(d.display().to_string());
        }
    }
    if live {
        let _ = run("systemctl", &["daemon-reload"], log);
    }
    if gone.is_empty() {
        log("nothing to remove: the service is not installed");
    } else {
        log(&format!("removed {}", gone.join(", ")));
    }
    Ok(())
}

/// A human-readable report: unit files, enablement, systemd's view (when it runs), the A/B
/// slots with their versions, the update on trial and the last update attempt.
pub fn status(root: &Path, prefix: &Path) -> String {
    let mut out = String::new();
    let units = under(root, Path::new("/etc/systemd/system"));
    let unit = units.join("hearth.service");
    let pkg_unit = under(root, Path::new("/usr/lib/systemd/system/hearth.service"));
    if unit.exists() {
        out.push_str(&format!("unit:     {}\n", unit.display()));
    } else if pkg_unit.exists() {
        out.push_str(&format!("unit:     {} (package)\n", pkg_unit.display()));
    } else {
        out.push_str("unit:     not installed (hearth service install)\n");
    }
    let enabled =
        std::fs::symlink_metadata(units.join("multi-user.target.wants/hearth.service")).is_ok();
    out.push_str(&format!(
        "enabled:  {}\n",
        if enabled { "yes" } else { "no" }
    ));
    if root == Path::new("/") && systemd_running() {
        let show = std::process::Command::new("systemctl")
            .args([
                "show",
                "hearth.service",
                "-p",
                "ActiveState,SubState,MainPID,NRestarts,StatusText,ExecMainStatus",
            ])
            .output();
        match show {
            Ok(o) => {
                for l in String::from_utf8_lossy(&o.stdout).lines() {
                    out.push_str(&format!("systemd:  {l}\n"));
                }
            }
            Err(e) => out.push_str(&format!("systemd:  cannot run systemctl: {e}\n")),
        }
    } else {
        out.push_str("systemd:  not running here\n");
    }
    let layout = Layout::new(under(root, prefix));
    if !layout.exists() {
        out.push_str(&format!(
            "layout:   no A/B layout at {}\n",
            prefix.display()
        ));
        return out;
    }
    let state = layout.load_state();
    let cur = layout.current().ok();
    let prev = layout.previous().ok().flatten();
    for slot in [crate::update::Slot::A, crate::update::Slot::B] {
        let info = state.as_ref().ok().and_then(|s| s.slot(slot).cloned());
        let mark = if Some(slot) == cur {
            " (current)"
        } else if Some(slot) == prev {
            " (previous)"
        } else {
            ""
        };
        match info {
            Some(i) => out.push_str(&format!(
                "{}:   {} sha256 {}…{mark}\n",
                slot.dir_name(),
                i.version.as_deref().unwrap_or("version unknown"),
                i.sha256.get(..12).unwrap_or(&i.sha256)
            )),
            None => out.push_str(&format!("{}:   empty{mark}\n", slot.dir_name())),
        }
    }
    match state {
        Ok(s) => {
            if let Some(t) = &s.trial {
                out.push_str(&format!(
                    "trial:    {} in {} (not yet confirmed ready)\n",
                    t.version,
                    t.slot.dir_name()
                ));
            }
            if let Some(e) = s.history.last() {
                out.push_str(&format!(
                    "last:     {} → {}: {} ({})\n",
                    e.from_version.as_deref().unwrap_or("?"),
                    e.to_version.as_deref().unwrap_or("?"),
                    e.outcome,
                    e.reason
                ));
            }
        }
        Err(e) => out.push_str(&format!("state:    {e}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_units_point_at_the_layout() {
        let u = render_unit(Path::new("/opt/hearth"));
        assert!(u.contains("\nExecStart=/opt/hearth/current/hearth gateway\n"));
        assert!(u.contains("\nOnFailure=hearth-rollback.service\n"));
        assert!(u.contains("ExecStartPost=-+/opt/hearth/current/hearth update commit"));
        assert!(u.contains("\nType=notify\n") && u.contains("\nWatchdogSec="));
        assert_eq!(u.lines().filter(|l| l.starts_with("ExecStart=")).count(), 1);
        let r = render_rollback_unit(Path::new("/srv/h"));
        assert!(r.contains("ExecStart=/srv/h/previous/hearth update rollback --if-trial"));
        assert!(
            r.contains(" --restart --restart-cmd "),
            "the rollback restarts: {r}"
        );
        assert!(r.contains("\nConditionPathExists=/srv/h/previous/hearth\n"));
    }

    #[test]
    fn install_into_a_root_then_uninstall() {
        let dir = std::env::temp_dir().join(format!("hearth-svc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let bin = dir.join("hearth-bin");
        std::fs::write(&bin, b"binary").unwrap();
        let opts = InstallOptions {
            root: root.clone(),
            prefix: PathBuf::from("/opt/hearth"),
            binary: bin,
            version: Some("0.1.0".into()),
            enable: true,
            start: false,
        };
        let mut log = |_: &str| {};
        install(&opts, &mut log).unwrap();
        install(&opts, &mut log).unwrap();
        // A root with the .deb's unit is refused.
        let deb_root = dir.join("deb-root");
        std::fs::create_dir_all(deb_root.join("usr/lib/systemd/system")).unwrap();
        std::fs::write(deb_root.join("usr/lib/systemd/system/hearth.service"), "").unwrap();
        let refused = install(
            &InstallOptions {
                root: deb_root,
                ..opts.clone()
            },
            &mut log,
        );
        assert!(
            matches!(refused, Err(UpdateError::Refused(_))),
            "{refused:?}"
        );
        assert_eq!(
            std::fs::read(root.join("opt/hearth/current/hearth")).unwrap(),
            b"binary"
        );
        assert_eq!(
            std::fs::read_link(root.join("usr/local/bin/hearth")).unwrap(),
            Path::new("/opt/hearth/current/hearth")
        );
        assert_eq!(
            std::fs::read_link(
                root.join("etc/systemd/system/multi-user.target.wants/hearth.service")
            )
            .unwrap(),
            Path::new("/etc/systemd/system/hearth.service")
        );
        let s = status(&root, Path::new("/opt/hearth"));
        assert!(s.contains("enabled:  yes"), "{s}");
        assert!(s.contains("slot-a:   0.1.0"), "{s}");
        std::fs::create_dir_all(root.join("var/lib/hearth")).unwrap();
        uninstall(&root, Path::new("/opt/hearth"), false, &mut log).unwrap();
        assert!(!root.join("opt/hearth").exists());
        assert!(!root.join("etc/systemd/system/hearth.service").exists());
        assert!(root.join("var/lib/hearth").exists());
        uninstall(&root, Path::new("/opt/hearth"), true, &mut log).unwrap();
        assert!(!root.join("var/lib/hearth").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
