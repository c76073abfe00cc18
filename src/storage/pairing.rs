//! Channel pairing (OpenClaw's DM pairing, <https://docs.openclaw.ai/channels/pairing>):
//! pending requests and approved senders per channel account.
//!
//! `pairing` keys are `req` or `ok`, then channel, account and peer, separated by the
//! ASCII unit separator (0x1f, which no platform id holds), so one account's requests are
//! one key range. Values are JSON: [`PairingRequest`] and [`PairingApproval`].

use super::{Rtxn, Store, StoreError, Wtxn, decode};
use crate::core::Origin;
use serde::{Deserialize, Serialize};

const SEP: char = '\u{1f}';

/// A sender waiting for the owner's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingRequest {
    /// The code the sender was given (8 characters).
    pub code: String,
    /// Where the request came from (channel, account, peer, chat), to confirm the approval
    /// to the sender.
    pub origin: Origin,
    /// When it was made, ms since the epoch.
    pub created_ms: u64,
    /// When it expires, ms since the epoch.
    pub expires_ms: u64,
}

/// A sender approved to chat directly with the agent on one channel account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingApproval {
    /// When, ms since the epoch.
    pub approved_ms: u64,
    /// The code that was approved (empty when approved by id).
    #[serde(default)]
    pub code: String,
}

fn key(kind: &str, channel: &str, account: &str, peer: &str) -> Vec<u8> {
    format!("{kind}{SEP}{channel}{SEP}{account}{SEP}{peer}").into_bytes()
}

impl Store {
    /// The pending request of `peer` on `channel`/`account`, expired or not.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_request(
        &self,
        rtxn: &Rtxn<'_>,
        channel: &str,
        account: &str,
        peer: &str,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let k = key("req", channel, account, peer);
        self.get_json(rtxn, &self.pairing, "pairing", &k)
    }

    /// Every pending request, expired or not, oldest first within each account (all
    /// channels when `channel` is `None`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_requests(
        &self,
        rtxn: &Rtxn<'_>,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let prefix = match channel {
            Some(c) => format!("req{SEP}{c}{SEP}"),
            None => format!("req{SEP}"),
        };
        let iter = self
            .pairing
            .prefix_iter(rtxn, prefix.as_bytes())
            .map_err(|e| self.lmdb(e))?;
        let mut out: Vec<PairingRequest> = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("pairing", k, v)?);
        }
        out.sort_by_key(|r| r.created_ms);
        Ok(out)
    }

    /// Stores (or replaces) the pending request of `req.origin`'s peer.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_put_request(
        &self,
        wtxn: &mut Wtxn<'_>,
        req: &PairingRequest,
    ) -> Result<(), StoreError> {
        let o = &req.origin;
        let k = key("req", &o.channel, &o.account, &o.peer);
        self.put_json(wtxn, &self.pairing, &k, req)
    }

    /// Removes the pending request of `peer`; true if there was one.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_delete_request(
        &self,
        wtxn: &mut Wtxn<'_>,
        channel: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        let k = key("req", channel, account, peer);
        self.pairing.delete(wtxn, &k).map_err(|e| self.lmdb(e))
    }

    /// Whether `peer` was approved on `channel`/`account`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_approved(
        &self,
        rtxn: &Rtxn<'_>,
        channel: &str,
        account: &str,
        peer: &str,
    ) -> Result<bool, StoreError> {
        let k = key("ok", channel, account, peer);
        Ok(self
            .pairing
            .get(rtxn, &k)
            .map_err(|e| self.lmdb(e))?
            .is_some())
    }

    /// Records the approval of `peer` on `channel`/`account`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn pairing_approve(
        &self,
        wtxn: &mut Wtxn<'_>,
        channel: &str,
        account: &str,
        peer: &str,
        approval: &PairingApproval,
    ) -> Result<(), StoreError> {
        let k = key("ok", channel, account, peer);
        self.put_json(wtxn, &self.pairing, &k, approval)
    }
}
