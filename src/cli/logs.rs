//! `hearth logs [-f] [-n N]`: the gateway's recent log lines over `logs.tail`, and with
//! `--follow` the new ones as they come (polled once a second, as `openclaw logs --follow`
//! does), resuming from the cursor; a gateway restart shows as a gap notice.

use super::Remote;
use super::talk::connect;
use crate::config::Config;
use anyhow::Result;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Prints the last `lines` lines, then with `follow` every new one until interrupted.
///
/// # Errors
/// When the gateway cannot be reached or refuses `logs.tail`.
pub fn run(cfg: &Config, dir: &Path, remote: &Remote, lines: usize, follow: bool) -> Result<()> {
    let mut client = connect(cfg, dir, remote)?;
    let mut cursor: Option<u64> = None;
    let mut first = true;
    loop {
        let mut p = json!({"limit": if first { lines } else { 1000 }});
        if let Some(c) = cursor {
            p["cursor"] = json!(c);
        }
        let t = client.request("logs.tail", p)?;
        if t["reset"] == true && !first {
            eprintln!(
                "hearth: log lines were dropped (the gateway restarted, or they scrolled out of its buffer)"
            );
        }
        for l in t["lines"].as_array().into_iter().flatten() {
            println!("{}", l.as_str().unwrap_or_default());
        }
        cursor = t["cursor"].as_u64();
        first = false;
        if !follow {
            return Ok(());
        }
        if t["truncated"] != Value::Bool(true) {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
