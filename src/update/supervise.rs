//! Where a release comes from (a manifest file or URL, with its artifacts) and how the
//! updater restarts the service and waits for the new binary to report ready.

use super::*;

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
    pub(super) fn restart(&self) -> Result<(), UpdateError> {
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

    pub(super) fn read(&self, rel: Option<&str>, max: u64) -> Result<Vec<u8>, UpdateError> {
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
