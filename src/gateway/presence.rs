//! Who is connected: one entry per WebSocket connection after its handshake, in OpenClaw's
//! `PresenceEntry` shape (`system-presence`, `hello-ok.snapshot.presence`), removed when
//! the connection ends.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The connected clients, by connection id.
#[derive(Default)]
pub struct Presence {
    entries: Mutex<BTreeMap<u64, Value>>,
    next: AtomicU64,
    /// Bumped at every change (`stateVersion.presence`).
    version: AtomicU64,
}

/// Removes its connection's entry when dropped.
pub struct Registered {
    presence: Arc<Presence>,
    /// The connection id (`server.connId` is `c<id>`).
    pub id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.presence
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.presence.version.fetch_add(1, Ordering::Relaxed);
    }
}

impl Presence {
    /// A new connection id (before the handshake completes).
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Lists connection `id` with `entry` (a `PresenceEntry` object) until the returned
    /// guard drops.
    pub fn register(self: &Arc<Self>, id: u64, entry: Value) -> Registered {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, entry);
        self.version.fetch_add(1, Ordering::Relaxed);
        Registered {
            presence: self.clone(),
            id,
        }
    }

    /// Every entry, oldest connection first.
    pub fn list(&self) -> Vec<Value> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.values().cloned().collect()
    }

    /// The change counter.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
}

/// The `PresenceEntry` of a client that sent `client` (the `connect` params' object) from
/// `ip`, granted `scopes`.
pub fn entry(client: &Value, ip: &str, scopes: &[&str], now_ms: u64) -> Value {
    let s = |k: &str| client.get(k).and_then(Value::as_str).map(str::to_string);
    let mut v = json!({
        "ts": now_ms, "onlineSince": now_ms, "ip": ip,
        "clientId": s("id"), "mode": s("mode"), "version": s("version"),
        "platform": s("platform"), "deviceFamily": s("deviceFamily"),
        "instanceId": s("instanceId"), "text": s("displayName"),
        "roles": ["operator"], "scopes": scopes,
    });
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}
