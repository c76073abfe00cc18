//! Platform paths: the config search order and the default state directory (design.md).

use std::path::PathBuf;

/// Config files tried in order when no `--config` is given: `$HEARTH_CONFIG`,
/// `/etc/hearth/hearth.toml`, `$XDG_CONFIG_HOME/hearth/hearth.toml` (or
/// `~/.config/hearth/hearth.toml`).
pub fn search_paths() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("HEARTH_CONFIG") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("/etc/hearth/hearth.toml"));
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME") {
        v.push(PathBuf::from(x).join("hearth/hearth.toml"));
    } else if let Some(h) = std::env::var_os("HOME") {
        v.push(PathBuf::from(h).join(".config/hearth/hearth.toml"));
    }
    v
}

/// The default state directory: `$STATE_DIRECTORY` (systemd `StateDirectory=`, first entry),
/// else `/var/lib/hearth` when running as root, else `$XDG_STATE_HOME/hearth`, else
/// `~/.local/state/hearth`.
pub fn default_data_dir() -> PathBuf {
    if let Some(s) = std::env::var_os("STATE_DIRECTORY") {
        let s = s.to_string_lossy().into_owned();
        if let Some(first) = s.split(':').next().filter(|f| !f.is_empty()) {
            return PathBuf::from(first);
        }
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/hearth");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(x).join("hearth");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/hearth")
}
