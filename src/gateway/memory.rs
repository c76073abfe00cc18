//! Memory over the gateway: the WebSocket methods `memory.search`, `memory.status` and
//! `memory.reindex`, and the OpenAI-compatible `POST /v1/embeddings`
//! (<https://platform.openai.com/docs/api-reference/embeddings/create>) served by the
//! on-device embedder.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::memory::hybrid::Fusion;
use crate::memory::{Memory, MemoryError, Mode};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most inputs in one `/v1/embeddings` request.
pub const MAX_EMBED_INPUTS: usize = 2048;

fn memory(st: &GatewayState) -> Result<Arc<Memory>, ErrorShape> {
    st.memory
        .clone()
        .ok_or_else(|| ErrorShape::unavailable("memory is disabled ([memory] enabled = false)"))
}

fn mem_err(e: MemoryError) -> ErrorShape {
    match e {
        MemoryError::Invalid(m) => ErrorShape::invalid(m),
        MemoryError::Embed(m) => ErrorShape::unavailable(format!("embedder: {m}")),
        e => ErrorShape::internal(e.to_string()),
    }
}

/// `memory.search {query, maxResults?, minScore?, mode?, fusion?, mmrLambda?,
/// decayHalfLifeDays?}` → `{results: [{path, startLine, endLine, score, vectorScore,
/// textScore, snippet, chunkId}], mode, note?}`.
pub async fn search(st: &GatewayState, p: &Value) -> Result<Value, ErrorShape> {
    let mem = memory(st)?;
    let query = p
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorShape::invalid("params.query (string) is required"))?
        .to_string();
    let mut params = mem.options().search.clone();
    if let Some(v) = p.get("maxResults") {
        let n = v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ErrorShape::invalid("params.maxResults must be an integer 1–100"))?;
        params.max_results = n as usize;
    }
    let unit = |k: &str| -> Result<Option<f32>, ErrorShape> {
        match p.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| (0.0..=1.0).contains(x))
                .map(|x| Some(x as f32))
                .ok_or_else(|| ErrorShape::invalid(format!("params.{k} must be a number 0–1"))),
        }
    };
    if let Some(s) = unit("minScore")? {
        params.min_score = s;
    }
    if let Some(l) = unit("mmrLambda")? {
        params.mmr_lambda = Some(l);
    }
    if let Some(v) = p.get("decayHalfLifeDays").and_then(Value::as_f64) {
        params.decay_half_life_days = (v > 0.0).then_some(v as f32);
    }
    if let Some(m) = p.get("mode") {
        params.mode = serde_json::from_value::<Mode>(m.clone()).map_err(|_| {
            ErrorShape::invalid("params.mode must be \"hybrid\", \"vector\" or \"text\"")
        })?;
    }
    match p.get("fusion").and_then(Value::as_str) {
        None => {}
        Some("weighted") => params.fusion = Fusion::Weighted,
        Some("rrf") => params.fusion = Fusion::Rrf,
        Some(_) => {
            return Err(ErrorShape::invalid(
                "params.fusion must be \"weighted\" or \"rrf\"",
            ));
        }
    }
    let out = tokio::task::spawn_blocking(move || mem.search(&query, &params))
        .await
        .map_err(|e| ErrorShape::internal(format!("search crashed: {e}")))?
        .map_err(mem_err)?;
    Ok(serde_json::to_value(out).unwrap_or_default())
}

/// `memory.status` → counts, index size, watermark and sources.
pub async fn status(st: &GatewayState) -> Result<Value, ErrorShape> {
    let mem = memory(st)?;
    let s = tokio::task::spawn_blocking(move || mem.status())
        .await
        .map_err(|e| ErrorShape::internal(format!("status crashed: {e}")))?
        .map_err(mem_err)?;
    Ok(serde_json::to_value(s).unwrap_or_default())
}

/// `memory.reindex` → `{indexed}` once the text index and vectors are rebuilt.
pub async fn reindex(st: &GatewayState) -> Result<Value, ErrorShape> {
    let mem = memory(st)?;
    let n = tokio::task::spawn_blocking(move || mem.reindex(&mut |_, _| {}))
        .await
        .map_err(|e| ErrorShape::internal(format!("reindex crashed: {e}")))?
        .map_err(mem_err)?;
    Ok(json!({"indexed": n}))
}

/// `POST /v1/embeddings`: `input` is a string or an array of strings; `encoding_format`
/// is `float` (default) or `base64` (little-endian f32, as OpenAI's clients request).
pub async fn embeddings(
    State(st): State<GatewayState>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = super::http::unauthorized(&st, addr, &headers) {
        return r;
    }
    let bad =
        |m: String| super::http::api_error(StatusCode::BAD_REQUEST, "invalid_request_error", m);
    let Some(mem) = st.memory.clone() else {
        return super::http::api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "memory (and its embedder) is disabled: [memory] enabled = false",
        );
    };
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("request body is not JSON: {e}")),
    };
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut out = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return bad(format!(
                            "input[{i}] is not a string (token-id inputs are not supported)"
                        ));
                    }
                }
            }
            out
        }
        _ => return bad("`input` must be a string or a non-empty array of strings".into()),
    };
    if inputs.len() > MAX_EMBED_INPUTS {
        return bad(format!("at most {MAX_EMBED_INPUTS} inputs per request"));
    }
    let base64 = match req.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(f) => {
            return bad(format!(
                "encoding_format {f:?} is neither \"float\" nor \"base64\""
            ));
        }
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("all-minilm-l6-v2")
        .to_string();
    let embed = mem.embedder().clone();
    let joined = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let tokens: usize = refs.iter().filter_map(|t| embed.count_tokens(t)).sum();
        embed.embed(&refs).map(|v| (v, tokens))
    })
    .await;
    let (vecs, tokens) = match joined {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return super::http::api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!("embedder: {e}"),
            );
        }
        Err(e) => {
            return super::http::api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("embedder crashed: {e}"),
            );
        }
    };
    let data: Vec<Value> = vecs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}
