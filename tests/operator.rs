//! End-to-end tests of the operator surfaces on the real `hearth` binary: `/metrics` read
//! by the official Prometheus client's parser (`metrics`); `logs.tail`, `hearth logs -f` and JSON
//! log lines (`logs`); OpenClaw's own CLI and TUI (`openclaw`); live config reload (`reload`);
//! the control UI in headless Chromium (`ui`); `hearth import-openclaw` of an OpenClaw state
//! directory, then the gateway on the imported config (`import`); `hearth onboard` in a
//! terminal and from an answers file (`onboard`).

mod common;
mod operator {
    pub mod import;
    pub mod logs;
    pub mod metrics;
    pub mod onboard;
    pub mod openclaw;
    pub mod reload;
    pub mod ui;
}
