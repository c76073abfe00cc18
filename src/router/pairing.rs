//! DM pairing (OpenClaw's, <https://docs.openclaw.ai/channels/pairing>): an unknown
//! sender under dmPolicy `pairing` gets a one-time code; the owner approves or rejects it
//! from the CLI, the WebSocket API, or their own chat (`/pair …`).

use super::inbound::ChannelGate;
use super::{Cursor, DispatchError, Dispatcher};
use crate::core::{Origin, now_ms};
use crate::storage::{PairingApproval, PairingRequest};

/// Pairing codes: 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a pairing code.
const CODE_LEN: usize = 8;
/// How long a pairing code stays valid, ms (1 h).
pub const PAIRING_TTL_MS: u64 = 3600 * 1000;
/// Pending pairing requests per channel account; more are ignored until one ends.
pub const MAX_PENDING: usize = 3;

/// A fresh pairing code from the OS random generator.
fn new_code() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; CODE_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "the OS random generator failed".to_string())?;
    // 256 is not a multiple of 31: reject the top bytes so every character is equally likely.
    let mut out = String::with_capacity(CODE_LEN);
    let mut extra = [0u8; 1];
    for mut x in b {
        while x >= 248 {
            ring::rand::SystemRandom::new()
                .fill(&mut extra)
                .map_err(|_| "the OS random generator failed".to_string())?;
            x = extra[0];
        }
        out.push(CODE_ALPHABET[(x % 31) as usize] as char);
    }
    Ok(out)
}

impl Dispatcher {
    pub(super) fn paired(&self, o: &Origin) -> Result<bool, DispatchError> {
        let s = &self.inner.store;
        Ok(s.pairing_approved(&*s.read_txn()?, &o.channel, &o.account, &o.peer)?)
    }

    /// Answers an unknown direct sender under dmPolicy `pairing`: a new code, sent once
    /// (through the outbox, with the cursor), unless the sender already has a live one or
    /// the account has [`MAX_PENDING`] live requests. Returns why the message is not run.
    pub(super) async fn pairing_challenge(
        &self,
        o: &Origin,
        cursor: Option<Cursor>,
    ) -> Result<String, DispatchError> {
        let code = new_code().map_err(DispatchError::Invalid)?;
        let o = o.clone();
        let sent = self
            .inner
            .store
            .write(move |s, w| {
                if let Some(c) = &cursor {
                    s.put_cursor(w, &c.channel, &c.account, &c.value)?;
                }
                let now = now_ms();
                if let Some(r) = s.pairing_request(w, &o.channel, &o.account, &o.peer)?
                    && r.expires_ms > now
                {
                    return Ok(Some(false));
                }
                let mut live = 0;
                for r in s.pairing_requests(w, Some(&o.channel))? {
                    if r.expires_ms <= now {
                        let ro = &r.origin;
                        s.pairing_delete_request(w, &ro.channel, &ro.account, &ro.peer)?;
                    } else if r.origin.account == o.account {
                        live += 1;
                    }
                }
                if live >= MAX_PENDING {
                    return Ok(None);
                }
                let text = format!(
                    "Hearth: I don't know you yet. Your pairing code is {code} (valid for 1 hour). \
                     Ask the owner to approve it: hearth pairing approve {} {code}",
                    o.channel
                );
                let req = PairingRequest {
                    code,
                    origin: o.clone(),
                    created_ms: now,
                    expires_ms: now + PAIRING_TTL_MS,
                };
                s.pairing_put_request(w, &req)?;
                let mut row = crate::storage::OutboxRow::pending(
                    "pairing",
                    "",
                    crate::core::OutboundMessage::reply(&o, text),
                );
                s.delivery_push(w, &mut row)?;
                Ok(Some(true))
            })
            .await?;
        Ok(match sent {
            Some(true) => {
                self.inner.outbox.wake();
                "unknown sender: pairing code sent".into()
            }
            Some(false) => "unknown sender: pairing code already sent".into(),
            None => format!("unknown sender: {MAX_PENDING} pairing requests already pending"),
        })
    }

    /// The live pairing requests (all channels, or one), oldest first.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn pairing_list(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, DispatchError> {
        let s = &self.inner.store;
        let now = now_ms();
        let mut v = s.pairing_requests(&*s.read_txn()?, channel)?;
        v.retain(|r| r.expires_ms > now);
        Ok(v)
    }

    /// Approves (or, with `approve` false, rejects) the live request with `code` on
    /// `channel`; an approved sender is told through the outbox. Returns the request.
    ///
    /// # Errors
    /// [`DispatchError::Invalid`] when no live request has that code;
    /// [`DispatchError::Store`].
    pub async fn pairing_decide(
        &self,
        channel: &str,
        code: &str,
        approve: bool,
    ) -> Result<PairingRequest, DispatchError> {
        let (channel, code) = (channel.to_string(), code.trim().to_ascii_uppercase());
        let r = self
            .inner
            .store
            .write(move |s, w| {
                let now = now_ms();
                let Some(r) = s
                    .pairing_requests(w, Some(&channel))?
                    .into_iter()
                    .find(|r| r.code == code && r.expires_ms > now)
                else {
                    return Ok(None);
                };
                let o = &r.origin;
                s.pairing_delete_request(w, &o.channel, &o.account, &o.peer)?;
                if approve {
                    let a = PairingApproval {
                        approved_ms: now,
                        code: r.code.clone(),
                    };
                    s.pairing_approve(w, &o.channel, &o.account, &o.peer, &a)?;
                    let text = "Hearth: the owner approved you. Send your message again.";
                    let mut row = crate::storage::OutboxRow::pending(
                        "pairing",
                        "",
                        crate::core::OutboundMessage::reply(o, text),
                    );
                    s.delivery_push(w, &mut row)?;
                }
                Ok(Some(r))
            })
            .await?;
        self.inner.outbox.wake();
        r.ok_or_else(|| {
            DispatchError::Invalid("no pending pairing request has that code (expired?)".into())
        })
    }
}

impl ChannelGate {
    /// The answer to an owner's `/pair …` command, or `None` for other text.
    pub(super) async fn owner_pairing(&self, text: &str) -> Result<Option<String>, DispatchError> {
        let mut w = text.split_whitespace();
        if w.next() != Some("/pair") {
            return Ok(None);
        }
        let (verb, code) = (w.next(), w.next());
        let reply = match (verb, code) {
            (Some("list") | None, _) => {
                let reqs = self.d.pairing_list(None)?;
                if reqs.is_empty() {
                    "No pairing requests are waiting.".to_string()
                } else {
                    let lines: Vec<String> = reqs
                        .iter()
                        .map(|r| {
                            let o = &r.origin;
                            let who = o.sender_name.as_deref().unwrap_or(&o.peer);
                            format!("{} — {} on {} ({})", r.code, who, o.channel, o.peer)
                        })
                        .collect();
                    format!("Waiting for approval:\n{}", lines.join("\n"))
                }
            }
            (Some(v @ ("approve" | "reject")), Some(code)) => {
                let code = code.to_ascii_uppercase();
                let found = self
                    .d
                    .pairing_list(None)?
                    .into_iter()
                    .find(|r| r.code == code);
                match found {
                    None => format!("No pending request has the code {code}."),
                    Some(r) => {
                        let approve = v == "approve";
                        self.d
                            .pairing_decide(&r.origin.channel, &code, approve)
                            .await?;
                        let who = r
                            .origin
                            .sender_name
                            .as_deref()
                            .unwrap_or(&r.origin.peer)
                            .to_string();
                        if approve {
                            format!("Approved {who} on {}.", r.origin.channel)
                        } else {
                            format!("Rejected {who} on {}.", r.origin.channel)
                        }
                    }
                }
            }
            _ => "Usage: /pair list | /pair approve CODE | /pair reject CODE".to_string(),
        };
        Ok(Some(reply))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_eight_unambiguous_characters() {
        for _ in 0..200 {
            let c = super::new_code().expect("rng");
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| super::CODE_ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        }
    }
}
