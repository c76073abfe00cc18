//! Per-address limits on failed gateway token attempts.
//!
//! [`AuthLimiter`] counts failed token attempts per client IP address in a fixed window:
//! [`MAX_FAILURES`] failures within [`WINDOW`] of an address's first failure lock that
//! address out for [`LOCKOUT`]. While it is locked out every attempt from it is refused
//! before the token is even compared, except from a loopback address on a connection that is
//! not browser-origin (no `Origin` header): the local CLI keeps working with the right token
//! while a web page in a local browser guesses. Failures are logged once per window per
//! address, not per attempt, so a guessing client cannot flood the journal. Memory is
//! bounded by [`MAX_ADDRESSES`] tracked addresses (the stalest entry goes first). Time is
//! `tokio::time::Instant`, so tests drive it with `tokio::time::pause`/`advance`.
//! [`authorize`] is what the WebSocket handshake and the HTTP APIs call.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Failed attempts within one [`WINDOW`] that lock an address out.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The counting window, from an address's first failure.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// How long an address stays locked out.
pub(crate) const LOCKOUT: Duration = Duration::from_secs(300);
/// Most addresses tracked at once.
pub(crate) const MAX_ADDRESSES: usize = 4096;

/// The address is locked out after too many failed token attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many failed token attempts from this address; retry in {} s",
    retry_after.as_secs().max(1)
)]
pub(crate) struct Lockout {
    /// Time left until the lockout ends.
    pub(crate) retry_after: Duration,
}

/// What [`AuthLimiter::record_failure`] did with a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The first failure of the address's window: counted and logged.
    Logged,
    /// Counted without a log line (this window's failures were logged already).
    Counted,
    /// Counted, and it locked the address out (logged).
    LockedOut,
    /// The address was locked out already: neither counted nor logged.
    Ignored,
}

/// Who is attempting: the client's address and whether the connection is browser-origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The client's IP address (an IPv4-mapped IPv6 address counts as the IPv4 one).
    pub(crate) addr: IpAddr,
    /// The request carries an `Origin` header (a web page made it).
    pub(crate) browser: bool,
}

impl Peer {
    /// A loopback client that is not a browser: the local CLI, never locked out.
    fn exempt(&self) -> bool {
        self.addr.to_canonical().is_loopback() && !self.browser
    }
}

/// Why [`authorize`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token was presented (not counted as a failed attempt).
    Missing,
    /// A wrong token was presented (counted).
    Wrong,
    /// The address is locked out; the token was not compared.
    Locked(Lockout),
}

impl Refusal {
    /// The message for the client.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Missing => "unauthorized: token required".into(),
            Refusal::Wrong => "unauthorized: wrong token".into(),
            Refusal::Locked(l) => l.to_string(),
        }
    }
}

/// Checks `presented` against the gateway token for `peer`: refused at once while the
/// address is locked out; a wrong token counts towards the lockout, a right one clears the
/// address's count. Always `Ok` when auth is off (`expected` is `None`).
///
/// # Errors
/// [`Refusal`].
pub(crate) fn authorize(
    limiter: &AuthLimiter,
    expected: Option<&str>,
    peer: Peer,
    presented: Option<&str>,
) -> Result<(), Refusal> {
    if expected.is_none() {
        return Ok(());
    }
    limiter.check(peer).map_err(Refusal::Locked)?;
    let Some(presented) = presented else {
        return Err(Refusal::Missing);
    };
    if super::token_ok(expected, Some(presented)) {
        limiter.record_success(peer.addr);
        Ok(())
    } else {
        limiter.record_failure(peer);
        Err(Refusal::Wrong)
    }
}

/// The bearer token of `Authorization: Bearer …`, if any.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The HTTP answer to a refused token: 429 with `Retry-After` (seconds, at least 1) during a
/// lockout, else 401 with `unauthorized`; `body(status, message)` shapes it the way the
/// endpoint's other errors look.
pub(crate) fn refusal(
    r: Refusal,
    unauthorized: &str,
    body: impl Fn(axum::http::StatusCode, String) -> axum::response::Response,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    match r {
        Refusal::Locked(l) => {
            let mut resp = body(StatusCode::TOO_MANY_REQUESTS, l.to_string());
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(l.retry_after.as_secs().max(1)),
            );
            resp
        }
        _ => body(StatusCode::UNAUTHORIZED, unauthorized.to_string()),
    }
}

/// One address's record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the current counting window (the first failure in it).
    window_start: Instant,
    /// Failures in the current window.
    failures: u32,
    /// Whether this window's failures were logged.
    logged: bool,
    /// End of the lockout, when locked out.
    locked_until: Option<Instant>,
    /// Last failure, for eviction.
    last_seen: Instant,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Entry {
            window_start: now,
            failures: 0,
            logged: false,
            locked_until: None,
            last_seen: now,
        }
    }

    fn locked(&self, now: Instant) -> Option<Instant> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Neither locked out nor counting: nothing worth keeping.
    fn stale(&self, now: Instant) -> bool {
        self.locked(now).is_none() && now.duration_since(self.window_start) >= WINDOW
    }
}

/// Failed-attempt counts per client address (see the module docs). Cheap to share behind
/// an `Arc`; every method takes a short std lock and never awaits.
#[derive(Debug, Default)]
pub(crate) struct AuthLimiter {
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl AuthLimiter {
    /// Whether `peer` may attempt a token now; call it before comparing.
    ///
    /// # Errors
    /// [`Lockout`] with the time left while `peer.addr` is locked out (never for a loopback
    /// peer that is not browser-origin).
    pub(crate) fn check(&self, peer: Peer) -> Result<(), Lockout> {
        let now = Instant::now();
        let mut entries = self.lock();
        let addr = peer.addr.to_canonical();
        let Some(entry) = entries.get(&addr) else {
            return Ok(());
        };
        if let Some(until) = entry.locked(now) {
            if peer.exempt() {
                return Ok(());
            }
            return Err(Lockout {
                retry_after: until.duration_since(now),
            });
        }
        if entry.stale(now) {
            entries.remove(&addr);
        }
        Ok(())
    }

    /// Counts a failed attempt from `peer`; the [`MAX_FAILURES`]-th within [`WINDOW`] locks
    /// the address out for [`LOCKOUT`]. Logs the first failure of each window and the
    /// lockout, nothing else; the result says which it was.
    pub(crate) fn record_failure(&self, peer: Peer) -> Failure {
        let now = Instant::now();
        let mut entries = self.lock();
        let addr = peer.addr.to_canonical();
        if !entries.contains_key(&addr) && entries.len() >= MAX_ADDRESSES {
            make_room(&mut entries, now);
        }
        let entry = entries.entry(addr).or_insert_with(|| Entry::new(now));
        entry.last_seen = now;
        if entry.locked(now).is_some() {
            return Failure::Ignored; // already refused; the lockout was logged
        }
        if entry.locked_until.is_some() || now.duration_since(entry.window_start) >= WINDOW {
            *entry = Entry::new(now);
        }
        entry.failures += 1;
        let mut outcome = Failure::Counted;
        if !entry.logged {
            entry.logged = true;
            outcome = Failure::Logged;
            tracing::warn!(
                %addr,
                browser = peer.browser,
                "gateway token rejected; further failures from this address in the next {} s are counted, not logged",
                WINDOW.as_secs()
            );
        }
        if entry.failures >= MAX_FAILURES {
            entry.locked_until = Some(now + LOCKOUT);
            tracing::warn!(
                %addr,
                failures = entry.failures,
                "address locked out of the gateway for {} s after repeated wrong tokens",
                LOCKOUT.as_secs()
            );
            outcome = Failure::LockedOut;
        }
        outcome
    }

    /// Forgets the failures of `addr` after a right token, unless it is locked out (a right
    /// token from the exempt local CLI does not lift a lockout for browser connections).
    pub(crate) fn record_success(&self, addr: IpAddr) {
        let now = Instant::now();
        let mut entries = self.lock();
        let addr = addr.to_canonical();
        if entries.get(&addr).is_some_and(|e| e.locked(now).is_none()) {
            entries.remove(&addr);
        }
    }

    /// Addresses tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Frees at least one slot: drops stale entries, else the one seen longest ago (unlocked
/// entries before locked ones).
fn make_room(entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
    entries.retain(|_, e| !e.stale(now));
    if entries.len() < MAX_ADDRESSES {
        return;
    }
    let oldest = entries
        .iter()
        .min_by_key(|(_, e)| (e.locked(now).is_some(), e.last_seen))
        .map(|(addr, _)| *addr);
    if let Some(addr) = oldest {
        entries.remove(&addr);
    }
}

#[cfg(test)]
mod tests;
