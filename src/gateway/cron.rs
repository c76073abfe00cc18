//! The scheduler over WebSocket, in OpenClaw's method names
//! (<https://docs.openclaw.ai/automation/cron-jobs>): `cron.list`, `cron.status`,
//! `cron.add {job}`, `cron.update {id, patch}`, `cron.remove {id}`, `cron.run {id}`, and
//! `wake {text, mode}`.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::tool::cron::CronControl;
use serde_json::{Value, json};
use std::sync::Arc;

fn id_of(p: &Value) -> Result<String, ErrorShape> {
    p.get("id")
        .or_else(|| p.get("jobId"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ErrorShape::invalid("params.id: required"))
}

/// Runs `f` on the scheduler off the async workers (its handle blocks).
async fn on<T: Send + 'static>(
    c: &Arc<dyn CronControl>,
    f: impl FnOnce(&dyn CronControl) -> Result<T, String> + Send + 'static,
) -> Result<T, ErrorShape> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || f(c.as_ref()))
        .await
        .map_err(|e| ErrorShape::internal(e.to_string()))?
        .map_err(ErrorShape::invalid)
}

/// Handles the cron methods; `None` for other methods.
pub async fn dispatch(
    st: &GatewayState,
    method: &str,
    p: Value,
) -> Option<Result<Value, ErrorShape>> {
    if !matches!(
        method,
        "cron.list"
            | "cron.status"
            | "cron.add"
            | "cron.update"
            | "cron.remove"
            | "cron.run"
            | "wake"
    ) {
        return None;
    }
    let Some(c) = &st.cron else {
        return Some(Err(ErrorShape::unavailable(
            "cron is off ([cron] enabled = false)",
        )));
    };
    Some(match method {
        "cron.list" | "cron.status" => on(c, |c| Ok(c.list()))
            .await
            .map(|jobs| json!({"enabled": true, "jobs": jobs})),
        "cron.add" => {
            let job = p.get("job").cloned().unwrap_or(p);
            on(c, move |c| c.add(job))
                .await
                .map(|j| json!({"ok": true, "job": j}))
        }
        "cron.update" => match id_of(&p) {
            Ok(id) => {
                let patch = p.get("patch").cloned().unwrap_or_else(|| json!({}));
                on(c, move |c| c.update(&id, patch))
                    .await
                    .map(|j| json!({"ok": true, "job": j}))
            }
            Err(e) => Err(e),
        },
        "cron.remove" => match id_of(&p) {
            Ok(id) => on(c, move |c| c.remove(&id))
                .await
                .map(|()| json!({"ok": true})),
            Err(e) => Err(e),
        },
        "cron.run" => match id_of(&p) {
            Ok(id) => on(c, move |c| c.run(&id))
                .await
                .map(|()| json!({"ok": true, "enqueued": true})),
            Err(e) => Err(e),
        },
        _ => {
            let text = p
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let now = p.get("mode").and_then(Value::as_str) != Some("next-heartbeat");
            if text.trim().is_empty() {
                Err(ErrorShape::invalid("params.text: required"))
            } else {
                on(c, move |c| c.wake(&text, now))
                    .await
                    .map(|()| json!({"ok": true}))
            }
        }
    })
}
