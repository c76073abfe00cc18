//! End-to-end tests of the operator surfaces on the real `hearth` binary: `/metrics` read
//! by the official Prometheus client's parser (`metrics`); OpenClaw's own CLI and TUI (`openclaw`).

mod common;
mod operator {
    pub mod metrics;
    pub mod openclaw;
}
