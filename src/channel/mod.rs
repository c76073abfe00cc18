//! Channels: the adapters that bring Telegram, Matrix, Discord, Slack, MQTT and webhooks to
//! the dispatcher. An adapter turns platform events into normalised inbound messages
//! (`core::InboundMessage`) and sends outbound ones through its `core::Outbound` sink; it
//! never imports `agent/` or `storage/` (the architecture test holds it to `core` and
//! `config`). This module holds what every adapter shares, starting with the text splitter.

pub mod split;

pub use split::{Limits, split, utf16_len};
