//! `GET /metrics`: the gateway's figures in the Prometheus text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>):
//! `# HELP` and `# TYPE` lines, then one `name{label="value"} number` line per series.
//! Counters come from [`crate::core::metrics::METRICS`]; gauges are read when scraped
//! (lanes, inbox and outbox, channels, cooldowns, memory, the process).
//!
//! Access is `[gateway] metrics`: `token` (default; the gateway token as a bearer, as the
//! other HTTP APIs), `loopback` (no token, loopback clients only: a local Prometheus or
//! node exporter) or `off` (404).

use super::GatewayState;
use crate::core::metrics::MetricsAccess;
use crate::core::metrics::{Family, HistogramSnapshot, METRICS, TURN_BUCKETS};
use crate::core::now_ms;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::net::SocketAddr;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn metrics(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match st.metrics {
        MetricsAccess::Off => return (StatusCode::NOT_FOUND, "metrics are off\n").into_response(),
        MetricsAccess::Loopback if !addr.ip().is_loopback() => {
            return (
                StatusCode::FORBIDDEN,
                "metrics are served to loopback clients only ([gateway] metrics = \"loopback\")\n",
            )
                .into_response();
        }
        MetricsAccess::Loopback => {}
        MetricsAccess::Token => {
            if let Some(r) = super::http::unauthorized(&st, addr, &headers) {
                return r;
            }
        }
    }
    let st2 = st.clone();
    // The store and /proc are read on the blocking pool.
    let body = tokio::task::spawn_blocking(move || render(&st2)).await;
    match body {
        Ok(b) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], b).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// A text exposition being written.
struct Out(String);

impl Out {
    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// One sample line; `labels` are name/value pairs, escaped as the format says.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    /// A counter family with its series: label `names` paired with each series' values.
    fn counter(&mut self, name: &str, help: &str, names: &[&str], f: &Family) {
        self.family(name, "counter", help);
        for (values, n) in f.snapshot() {
            let labels: Vec<(&str, &str)> = names
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            self.sample(name, &labels, n as f64);
        }
    }

    fn histogram(&mut self, name: &str, h: &HistogramSnapshot) {
        for (i, c) in h.cumulative.iter().enumerate() {
            let le = TURN_BUCKETS
                .get(i)
                .map(|b| number(*b))
                .unwrap_or_else(|| "+Inf".into());
            self.sample(&format!("{name}_bucket"), &[("le", &le)], *c as f64);
        }
        self.sample(&format!("{name}_sum"), &[], h.sum_seconds);
        let count = h.cumulative.last().copied().unwrap_or(0);
        self.sample(&format!("{name}_count"), &[], count as f64);
    }
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others as Go's `strconv` would accept.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

/// The whole exposition.
fn render(st: &GatewayState) -> String {
    let mut o = Out(String::with_capacity(8 << 10));
    let d = &st.dispatcher;

    o.counter(
        "hearth_runs_total",
        "Turns ended since the gateway started, by outcome.",
        &["status"],
        &METRICS.runs,
    );
    o.family(
        "hearth_turn_duration_seconds",
        "histogram",
        "Time from a turn's start to its end, seconds.",
    );
    o.histogram(
        "hearth_turn_duration_seconds",
        &METRICS.turn_latency.snapshot(),
    );
    o.counter(
        "hearth_messages_total",
        "Messages accepted by the dispatcher, by channel.",
        &["channel"],
        &METRICS.messages,
    );

    let lanes = d.lanes();
    o.family(
        "hearth_lane_queue_depth",
        "gauge",
        "Messages waiting in a lane (one lane per session key; idle lanes are not listed).",
    );
    for (key, queued, _) in &lanes {
        o.sample("hearth_lane_queue_depth", &[("lane", key)], *queued as f64);
    }
    o.family("hearth_runs_running", "gauge", "Turns running now.");
    o.sample(
        "hearth_runs_running",
        &[],
        lanes.iter().filter(|l| l.2).count() as f64,
    );
    match d.status() {
        Ok(q) => {
            o.family(
                "hearth_inbox_backlog",
                "gauge",
                "Acknowledged messages not yet answered (the durable inbox).",
            );
            o.sample("hearth_inbox_backlog", &[], q.inbox as f64);
            o.family(
                "hearth_outbox_rows",
                "gauge",
                "Delivery outbox rows by status (pending, sent and kept, dead letters).",
            );
            for (s, n) in [
                ("pending", q.outbox.pending),
                ("sent", q.outbox.sent),
                ("dead", q.outbox.dead),
            ] {
                o.sample("hearth_outbox_rows", &[("status", s)], n as f64);
            }
        }
        Err(e) => tracing::warn!("metrics: cannot read the queue counts: {e}"),
    }

    if let Ok(channels) = d.channels_status() {
        type Figure = fn(&crate::router::ChannelStatus) -> f64;
        let families: [(&str, &str, &str, Figure); 4] = [
            (
                "hearth_channel_connected",
                "gauge",
                "1 when the channel account's last exchange with its platform succeeded.",
                |c| b(c.health.connected),
            ),
            (
                "hearth_channel_errors_total",
                "counter",
                "Errors the channel account's adapter reported since the gateway started.",
                |c| c.health.errors as f64,
            ),
            (
                "hearth_channel_backlog",
                "gauge",
                "Outbox rows waiting to be delivered to the channel account.",
                |c| c.backlog as f64,
            ),
            (
                "hearth_channel_dead_letters",
                "gauge",
                "Outbox rows to the channel account given up on.",
                |c| c.dead_letters as f64,
            ),
        ];
        for (name, kind, help, figure) in families {
            o.family(name, kind, help);
            for c in &channels {
                let l = [
                    ("channel", c.channel.as_str()),
                    ("account", c.account.as_str()),
                ];
                o.sample(name, &l, figure(c));
            }
        }
    }

    o.counter(
        "hearth_provider_failovers_total",
        "Model calls that failed over to the next auth profile or model, by reason.",
        &["reason"],
        &METRICS.failovers,
    );
    let now = now_ms();
    let health = d.chain().profile_health();
    o.family(
        "hearth_provider_profile_cooldown",
        "gauge",
        "1 while the auth profile is cooling down after failures.",
    );
    for (id, h) in &health {
        let cooling = h.cooldown_until_ms > now;
        o.sample(
            "hearth_provider_profile_cooldown",
            &[("profile", id)],
            b(cooling),
        );
    }
    o.family(
        "hearth_provider_profile_failures",
        "gauge",
        "Consecutive failures of the auth profile (0 when healthy).",
    );
    for (id, h) in &health {
        let l = [("profile", id.as_str())];
        o.sample("hearth_provider_profile_failures", &l, h.failures as f64);
    }

    o.counter(
        "hearth_tool_calls_total",
        "Tool calls by tool and outcome (ok, error, denied, cancelled).",
        &["tool", "outcome"],
        &METRICS.tool_calls,
    );

    if let Some(m) = &st.memory {
        match m.status() {
            Ok(s) => {
                o.family(
                    "hearth_memory_index_lag",
                    "gauge",
                    "Memory changes committed but not yet in the search indexes.",
                );
                o.sample("hearth_memory_index_lag", &[], s.pending as f64);
                o.family(
                    "hearth_memory_chunks",
                    "gauge",
                    "Chunks in long-term memory.",
                );
                o.sample("hearth_memory_chunks", &[], s.chunks as f64);
            }
            Err(e) => tracing::warn!("metrics: cannot read the memory status: {e}"),
        }
    }

    if let Some(rss) = crate::sysmem::process_rss() {
        o.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        o.sample("process_resident_memory_bytes", &[], rss as f64);
    }
    if let Some(fds) = crate::sysmem::open_fds() {
        o.family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        o.sample("process_open_fds", &[], fds as f64);
    }
    o.family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, seconds.",
    );
    let up = st.started.elapsed().as_secs_f64();
    o.sample(
        "process_start_time_seconds",
        &[],
        (now as f64 / 1000.0 - up).floor(),
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_numbers_plain() {
        let mut o = Out(String::new());
        o.sample("x", &[("a", "q\"b\\c\nd")], 3.0);
        o.sample("y", &[], 0.25);
        assert_eq!(o.0, "x{a=\"q\\\"b\\\\c\\nd\"} 3\ny 0.25\n");
    }

    #[test]
    fn histogram_lines_end_with_inf_sum_and_count() {
        let mut o = Out(String::new());
        let h = HistogramSnapshot {
            cumulative: vec![1; TURN_BUCKETS.len() + 1],
            sum_seconds: 0.1,
        };
        o.histogram("t", &h);
        let lines: Vec<&str> = o.0.lines().collect();
        assert_eq!(lines[0], "t_bucket{le=\"0.25\"} 1");
        assert_eq!(lines[TURN_BUCKETS.len()], "t_bucket{le=\"+Inf\"} 1");
        assert_eq!(lines[TURN_BUCKETS.len() + 1], "t_sum 0.1");
        assert_eq!(lines[TURN_BUCKETS.len() + 2], "t_count 1");
    }
}
