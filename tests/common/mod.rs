//! Shared support for the integration tests: the real-binary harness and a scripted
//! OpenAI-compatible server (the one faked peer; everything else runs for real).
#![allow(dead_code)]

pub mod fake_openai;
pub mod fakes;
pub mod harness;
pub mod http1;
pub mod matrix;
pub mod mqtt;
pub mod node;
pub mod python;
pub mod telegram;
