//! Writing a first installation: `hearth onboard` ([`onboard`]) and
//! `hearth import-openclaw` ([`openclaw`]) both end here. They produce a `hearth.toml` that
//! [`crate::config::parse`] accepts, secret files that the config only references, and
//! workspace files; nothing is written until the whole plan is built and validated.
//!
//! Secrets never appear in the config ([`crate::config::SecretRef`] refuses literals). For
//! the system service (`/etc/hearth/hearth.toml`) each secret is a file under
//! `/etc/hearth/credentials/` (0600), referenced as `credential:NAME` and loaded with a
//! `LoadCredential=NAME:PATH` line in the drop-in `hearth.service.d/credentials.conf`
//! (systemd.exec(5), "Credentials"). Elsewhere a secret is a file beside the config,
//! referenced as `file:PATH`.

pub mod onboard;
pub mod openclaw;
mod report;

pub use report::{Item, Outcome, Report};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The system service's configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/hearth/hearth.toml";
/// The drop-in that loads the system service's credentials.
pub const SYSTEM_DROPIN: &str = "/etc/systemd/system/hearth.service.d/credentials.conf";

/// A failure to write the installation, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A durable write failed ([`crate::update::write_atomic`], which names the file).
    #[error(transparent)]
    Write(#[from] crate::update::UpdateError),
    /// The config exists and `--force` was not given.
    #[error("{0} exists; pass --force to replace it (the old file is kept as .bak)")]
    Exists(PathBuf),
    /// The generated config does not validate (a bug in the generator, or input Hearth
    /// cannot express); the text is not written.
    #[error("the generated configuration is refused: {0}")]
    Invalid(String),
    /// The gateway is running on the data dir, so its store cannot be written from here.
    #[error(
        "a gateway is running on {0} (gateway.json exists); stop it first (systemctl stop hearth)"
    )]
    GatewayRunning(PathBuf),
    /// Input that cannot be used at all (an unreadable OpenClaw config, a bad answers file).
    #[error("{0}")]
    Input(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an installation is written. Paths are as the installed system sees them; files
/// are written under [`Target::root`] (`/`, or an image's root file system).
#[derive(Debug, Clone)]
pub struct Target {
    /// The root file system written into (`/` for this machine).
    pub root: PathBuf,
    /// The `hearth.toml` to write.
    pub config: PathBuf,
    /// The directory for secret files (created 0700; files 0600).
    pub credentials: PathBuf,
    /// Reference secrets as `credential:NAME` and write [`Target::dropin`] (the system
    /// service); otherwise as `file:PATH`.
    pub systemd: bool,
    /// The drop-in with the `LoadCredential=` lines, when [`Target::systemd`].
    pub dropin: PathBuf,
    /// The state directory the gateway will use.
    pub data_dir: PathBuf,
    /// Write `data_dir` into the config (it was given explicitly and is not the default).
    pub pin_data_dir: bool,
}

impl Target {
    /// The default target: the system service's files when run as root, else the user's
    /// (`~/.config/hearth/`). `config`, `data_dir` and `credentials` override the parts.
    pub fn new(
        config: Option<&Path>,
        data_dir: Option<&Path>,
        credentials: Option<&Path>,
    ) -> Target {
        let root = nix::unistd::geteuid().is_root();
        let config = config.map(Path::to_path_buf).unwrap_or_else(|| {
            if root {
                PathBuf::from(SYSTEM_CONFIG)
            } else {
                let paths = crate::config::search_paths();
                paths
                    .last()
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from("hearth.toml"))
            }
        });
        let systemd = config == Path::new(SYSTEM_CONFIG);
        let credentials = credentials.map(Path::to_path_buf).unwrap_or_else(|| {
            config
                .parent()
                .unwrap_or(Path::new("."))
                .join("credentials")
        });
        let default = if systemd {
            PathBuf::from(crate::service::STATE_DIR)
        } else {
            crate::config::default_data_dir()
        };
        let data = data_dir.map(Path::to_path_buf).unwrap_or(default.clone());
        Target {
            root: PathBuf::from("/"),
            pin_data_dir: data != default,
            config,
            credentials,
            systemd,
            dropin: PathBuf::from(SYSTEM_DROPIN),
            data_dir: data,
        }
    }

    /// The system service's files inside the image rooted at `root` (as
    /// `hearth service install --root` writes the unit): `/etc/hearth/hearth.toml`,
    /// credentials referenced as `credential:NAME`, state in `/var/lib/hearth`.
    pub fn image(root: &Path) -> Target {
        Target {
            root: root.to_path_buf(),
            config: PathBuf::from(SYSTEM_CONFIG),
            credentials: PathBuf::from("/etc/hearth/credentials"),
            systemd: true,
            dropin: PathBuf::from(SYSTEM_DROPIN),
            data_dir: PathBuf::from(crate::service::STATE_DIR),
            pin_data_dir: false,
        }
    }

    /// Where `path` (as the installed system sees it) is on this machine.
    pub fn host(&self, path: &Path) -> PathBuf {
        crate::service::under(&self.root, path)
    }
}

/// Secrets collected while planning, written by [`Plan::write`].
#[derive(Debug, Default)]
pub struct Secrets {
    files: BTreeMap<String, String>,
}

impl Secrets {
    /// Keeps `value` as the secret `name` (made file-safe: `a-z0-9._-`, others become `-`;
    /// a clash gets a number) and returns the reference the config should hold.
    pub fn put(&mut self, target: &Target, name: &str, value: &str) -> crate::config::SecretRef {
        let mut base: String = name
            .chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if base.is_empty() || base.starts_with('.') {
            base.insert(0, 's');
        }
        let mut n = base.clone();
        let mut i = 2;
        while self.files.get(&n).is_some_and(|v| v != value) {
            n = format!("{base}-{i}");
            i += 1;
        }
        self.files.insert(n.clone(), value.to_string());
        let text = if target.systemd {
            format!("credential:{n}")
        } else {
            format!("file:{}", target.credentials.join(&n).display())
        };
        crate::config::SecretRef::try_from(text).expect("a non-empty reference")
    }

    /// The names of the secrets kept so far.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// How many secrets are kept.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A file to write beside the config: workspace files, skills.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// Absolute destination, as the installed system sees it.
    pub path: PathBuf,
    /// What goes in it.
    pub content: Content,
    /// Replace an existing file (otherwise an existing file is kept and reported).
    pub replace: bool,
}

/// A [`FileWrite`]'s contents: text made here, or a file copied when the plan is written
/// (so a large workspace is not held in memory).
#[derive(Debug, Clone)]
pub enum Content {
    /// These bytes.
    Bytes(Vec<u8>),
    /// This file's bytes, read at write time.
    Copy(PathBuf),
}

impl FileWrite {
    /// A file with these bytes.
    pub fn bytes(path: PathBuf, bytes: Vec<u8>, replace: bool) -> FileWrite {
        FileWrite {
            path,
            content: Content::Bytes(bytes),
            replace,
        }
    }

    /// A copy of `source`.
    pub fn copy(path: PathBuf, source: PathBuf, replace: bool) -> FileWrite {
        FileWrite {
            path,
            content: Content::Copy(source),
            replace,
        }
    }
}

/// Everything an installation writes, built and validated before anything is written.
#[derive(Debug)]
pub struct Plan {
    /// Where.
    pub target: Target,
    /// The config text (already validated by [`Plan::new`]).
    pub toml: String,
    /// The same, parsed.
    pub config: crate::config::Config,
    /// Secret files.
    pub secrets: Secrets,
    /// Other files.
    pub files: Vec<FileWrite>,
}

impl Plan {
    /// Renders `table` as the config text (with `header` as `#` comments on top) and
    /// validates it with the gateway's own parser.
    ///
    /// # Errors
    /// [`SetupError::Invalid`] with the parser's message (file, line, key).
    pub fn new(
        target: Target,
        header: &str,
        mut table: toml::Table,
        secrets: Secrets,
        files: Vec<FileWrite>,
    ) -> Result<Plan, SetupError> {
        if target.pin_data_dir {
            table.insert(
                "data_dir".into(),
                toml::Value::String(target.data_dir.display().to_string()),
            );
        }
        let mut text: String = header.lines().map(|l| format!("# {l}\n")).collect();
        text = text.replace("# \n", "#\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(
            &toml::to_string_pretty(&table).map_err(|e| SetupError::Invalid(e.to_string()))?,
        );
        let config = crate::config::parse(&text, &target.config)
            .map_err(|e| SetupError::Invalid(format!("{e}\n--- generated text ---\n{text}")))?;
        Ok(Plan {
            target,
            toml: text,
            config,
            secrets,
            files,
        })
    }

    /// Writes the secrets, the drop-in, the files and then the config (last, so a config
    /// never references a secret that is not there). An existing config is kept as
    /// `hearth.toml.bak` when `force`, else refused before anything is written. Existing
    /// files that are not to be replaced are kept and reported in `report`.
    ///
    /// # Errors
    /// [`SetupError::Exists`], or [`SetupError::Io`] naming the file.
    pub fn write(&self, force: bool, report: &mut Report) -> Result<(), SetupError> {
        let t = &self.target;
        let config = t.host(&t.config);
        if config.exists() && !force {
            return Err(SetupError::Exists(t.config.clone()));
        }
        if !self.secrets.is_empty() {
            let dir = t.host(&t.credentials);
            make_private_dir(&dir)?;
            for (name, value) in &self.secrets.files {
                crate::update::write_atomic(
                    &dir.join(name),
                    format!("{value}\n").as_bytes(),
                    0o600,
                )?;
            }
            if t.systemd {
                write_dropin(&t.host(&t.dropin), &t.credentials, self.secrets.names())?;
                report.push(Item::wrote(
                    &t.dropin.display().to_string(),
                    "LoadCredential= lines; run `systemctl daemon-reload`",
                ));
            }
        }
        for f in &self.files {
            let path = t.host(&f.path);
            if path.exists() && !f.replace {
                report.push(Item::skipped(
                    &f.path.display().to_string(),
                    "exists; kept as it is (pass --force to replace)",
                ));
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            match &f.content {
                Content::Bytes(b) => crate::update::write_atomic(&path, b, 0o644)?,
                Content::Copy(src) => copy_atomic(src, &path)?,
            }
        }
        if config.exists() {
            let mut bak = config.clone().into_os_string();
            bak.push(".bak");
            std::fs::copy(&config, &bak).map_err(io(&config))?;
        }
        if let Some(dir) = config.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        crate::update::write_atomic(&config, self.toml.as_bytes(), 0o644)?;
        Ok(())
    }
}

fn make_private_dir(dir: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

/// Copies `src` to `dst` as [`crate::update::write_atomic`] writes (temporary sibling,
/// fsync, rename, directory fsync), without holding the file in memory.
fn copy_atomic(src: &Path, dst: &Path) -> Result<(), SetupError> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    let mut tmp = dst.to_path_buf().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::copy(src, &tmp).map_err(io(src))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, dst).map_err(io(dst))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Adds `LoadCredential=NAME:DIR/NAME` for each name to the drop-in, keeping the lines it
/// already has.
fn write_dropin<'a>(
    path: &Path,
    dir: &Path,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), SetupError> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| l.starts_with("LoadCredential="))
        .map(str::to_string)
        .collect();
    for n in names {
        let line = format!("LoadCredential={n}:{}", dir.join(n).display());
        let same_name = format!("LoadCredential={n}:");
        lines.retain(|l| !l.starts_with(&same_name));
        lines.push(line);
    }
    lines.sort();
    let text = format!(
        "# Written by hearth onboard / hearth import-openclaw: the secrets hearth.toml\n\
         # references as credential:NAME (systemd.exec(5), \"Credentials\").\n[Service]\n{}\n",
        lines.join("\n")
    );
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    crate::update::write_atomic(path, text.as_bytes(), 0o644)?;
    Ok(())
}

/// The table at `path` in `t`, made (or made a table, replacing another value) on the way.
pub(crate) fn table_at<'a>(t: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    let mut cur = t;
    for p in path {
        let v = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !v.is_table() {
            *v = toml::Value::Table(toml::Table::new());
        }
        cur = v.as_table_mut().expect("made a table");
    }
    cur
}

/// Refuses when a gateway runs on `data_dir` (its discovery file exists).
///
/// # Errors
/// [`SetupError::GatewayRunning`].
pub fn check_stopped(data_dir: &Path) -> Result<(), SetupError> {
    if crate::daemon::discovery_path(data_dir).exists() {
        return Err(SetupError::GatewayRunning(data_dir.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
