//! Channels: the adapters that bring Telegram, Matrix, Discord, Slack, MQTT and webhooks to
//! the dispatcher. An adapter turns platform events into [`crate::core::ChannelInbound`]
//! and hands them to a [`crate::core::InboundSink`] (the core decides access and sessions),
//! and delivers outbox rows through its [`crate::core::Outbound`] sink; it never imports
//! `agent/` or `storage/` (the architecture test holds it to `core` and `config`). This
//! module holds what every adapter shares: the text splitter and markdown conversion.
//!
//! I/O model (ARCHITECTURE.md, "Channels"): long polls run on one OS thread per account
//! with the blocking ureq client already in the tree; sends run on tokio's blocking pool.
//! MQTT is the exception: rumqttc is built on tokio, so its connection is one task.

#[cfg(feature = "discord")]
pub mod discord;
pub mod draft;
pub mod markup;
#[cfg(feature = "matrix")]
pub mod matrix;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod send;
#[cfg(feature = "slack")]
pub mod slack;
pub mod split;
#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(any(feature = "mqtt", feature = "discord", feature = "slack"))]
pub mod tls;
pub mod worker;

pub use split::{Limits, split, utf16_len};
