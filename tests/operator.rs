//! End-to-end tests of the operator surfaces on the real `hearth` binary: `/metrics` read
//! by the official Prometheus client's parser (`metrics`).

mod common;
mod operator {
    pub mod metrics;
}
