//! What every outbound sink shares: the HTTP client of the platform APIs, remembering the
//! parts of a split answer already sent (so a retry after a failed later part does not
//! repeat them), and running the blocking platform client on tokio's blocking pool.

use crate::core::{Delivery, SendError, SendFuture};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A ureq agent for a platform API: the system's roots (platform verifier), error statuses
/// returned as answers (so their bodies can be read), a 10 s connect timeout, `user_agent`,
/// and `timeout` for a whole exchange unless a request sets its own.
pub fn http_agent(user_agent: &str, timeout: Option<std::time::Duration>) -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .timeout_global(timeout)
        .user_agent(user_agent)
        .build()
        .new_agent()
}

/// Hearth's user agent for platform APIs.
pub const USER_AGENT: &str = concat!("hearth/", env!("CARGO_PKG_VERSION"));

/// Receipts of the parts already sent, per delivery id, until the delivery completes. In
/// memory: after a restart a partly sent answer is sent whole again (at least once).
#[derive(Default)]
pub struct SentParts(Mutex<HashMap<String, Vec<String>>>);

impl SentParts {
    /// Sends `parts` of delivery `d` with `one(index, part)` (which returns the part's
    /// receipt), skipping those already sent; returns the receipts joined by `,`.
    ///
    /// # Errors
    /// The first failing part's error (the parts before it stay remembered).
    pub fn deliver(
        &self,
        d: &Delivery,
        parts: &[String],
        mut one: impl FnMut(usize, &str) -> Result<String, SendError>,
    ) -> Result<String, SendError> {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut done = lock().get(&d.id).cloned().unwrap_or_default();
        for (i, part) in parts.iter().enumerate().skip(done.len()) {
            done.push(one(i, part)?);
            lock().insert(d.id.clone(), done.clone());
        }
        lock().remove(&d.id);
        Ok(done.join(","))
    }
}

/// Runs `send(inner, d)` on tokio's blocking pool (the platform clients block).
pub fn blocking<T: Send + Sync + 'static>(
    inner: &Arc<T>,
    d: &Delivery,
    send: fn(&T, &Delivery) -> Result<String, SendError>,
) -> SendFuture<'static> {
    let (inner, d) = (inner.clone(), d.clone());
    Box::pin(async move {
        tokio::task::spawn_blocking(move || send(&inner, &d))
            .await
            .unwrap_or_else(|e| {
                Err(SendError::Transient {
                    message: format!("the send task failed: {e}"),
                    retry_after_ms: None,
                })
            })
    })
}
