//! The moderators' endpoints of the admin API (README, "Moderation"): what floodgate stopped,
//! the campaigns and blocks in force, and the actions — block, report, allow — each audited
//! with the caller's address. JSON in and out; lists newest first with `?limit=` and `next`.
//! Mounted behind the admin token by `admin::router`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::engine::{Caller, CampaignView};
use crate::store::moderation::{KeyRecord, parse_key_id};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// The longest block by hand: a year (a permanent ban is the OpenIM account's business).
const LONGEST_BLOCK: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
/// The longest text a report or an allowance reads, in bytes.
const MAX_REPORTED_TEXT: usize = 64 * 1024;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/rejections", get(rejections))
        .route("/v1/campaigns", get(campaigns))
        .route("/v1/campaigns/{key}/senders", get(campaign_senders))
        .route("/v1/blocks", get(blocks))
        .route("/v1/senders/{send_id}/block", put(block))
        .route("/v1/reports", post(report))
        .route("/v1/allowances", post(allow))
        .route("/v1/allowances/{key}", delete(unallow))
        .route("/v1/audit", get(audit))
}

type Params = Query<HashMap<String, String>>;

fn bad_request(what: impl Into<String>) -> Response {
    let body = json!({"error": what.into()});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// What is wrong with a request, for its 400 reply (a `Response` is too large to pass
/// through every helper).
type Refusal = String;

fn limit(params: &HashMap<String, String>) -> Result<usize, Refusal> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}"
            )),
        },
    }
}

fn offset(params: &HashMap<String, String>) -> Result<usize, Refusal> {
    match params.get("next") {
        None => Ok(0),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| String::from("next must be a cursor from a previous page")),
    }
}

fn unavailable(error: crate::store::StoreError) -> Response {
    tracing::warn!(%error, "moderation request failed");
    let body = json!({"error": "the shared store is unavailable; try again"});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

fn caller_address(caller: SocketAddr) -> String {
    caller.ip().to_string()
}

async fn rejections(State(state): State<Arc<AppState>>, Query(params): Params) -> Response {
    let limit = match limit(&params) {
        Ok(limit) => limit,
        Err(refusal) => return bad_request(refusal),
    };
    let page = state
        .engine
        .rejections(
            params.get("next").map(String::as_str),
            limit,
            params.get("rule").map(String::as_str),
            params.get("sendID").map(String::as_str),
        )
        .await;
    match page {
        Ok(page) => Json(json!({"rejections": page.items, "next": page.next})).into_response(),
        Err(error) => unavailable(error),
    }
}

fn campaign_json(view: &CampaignView) -> Value {
    let s = &view.summary;
    json!({
        "key": crate::store::moderation::key_id(s.key),
        "kind": s.kind,
        "display": s.display,
        "senders": s.senders,
        "rejected": s.rejected,
        "firstSeen": s.first_seen,
        "lastSeen": s.last_seen,
        "state": view.state,
    })
}

async fn campaigns(State(state): State<Arc<AppState>>, Query(params): Params) -> Response {
    let (limit, offset) = match (limit(&params), offset(&params)) {
        (Ok(limit), Ok(offset)) => (limit, offset),
        (Err(refusal), _) | (_, Err(refusal)) => return bad_request(refusal),
    };
    match state.engine.campaigns().await {
        Ok(all) => {
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(campaign_json)
                .collect();
            let next = (offset + limit < all.len()).then(|| (offset + limit).to_string());
            Json(json!({"campaigns": page, "next": next})).into_response()
        }
        Err(error) => unavailable(error),
    }
}

async fn campaign_senders(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Response {
    let Some(id) = parse_key_id(&key) else {
        return bad_request("key must be a key id from /v1/campaigns (16 hex digits)");
    };
    let limit = match params.get("limit") {
        None => crate::store::moderation::SENDERS_PER_KEY,
        Some(_) => match limit(&params) {
            Ok(limit) => limit,
            Err(refusal) => return bad_request(refusal),
        },
    };
    match state.engine.campaign_senders(id, limit).await {
        Ok(senders) => Json(json!({"key": key, "senders": senders})).into_response(),
        Err(error) => unavailable(error),
    }
}

async fn blocks(State(state): State<Arc<AppState>>, Query(params): Params) -> Response {
    let (limit, offset) = match (limit(&params), offset(&params)) {
        (Ok(limit), Ok(offset)) => (limit, offset),
        (Err(refusal), _) | (_, Err(refusal)) => return bad_request(refusal),
    };
    match state.engine.blocks(offset, limit).await {
        Ok((blocks, next)) => {
            let blocks: Vec<Value> = blocks
                .iter()
                .map(|b| {
                    json!({
                        "sendID": b.entry.send_id,
                        "rule": b.entry.rule,
                        "since": b.entry.since,
                        "until": b.until,
                        "blocks": b.blocks,
                        "by": b.entry.by,
                    })
                })
                .collect();
            Json(json!({"blocks": blocks, "next": next.map(|n| n.to_string())})).into_response()
        }
        Err(error) => unavailable(error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    #[serde(rename = "for")]
    length: String,
    #[serde(default)]
    reason: String,
}

/// A JSON body of type `T`, or a 400 saying what is wrong with it.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, Refusal> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| format!("invalid JSON body: {error}"))
}

async fn block(
    State(state): State<Arc<AppState>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    Path(send_id): Path<String>,
    bytes: Bytes,
) -> Response {
    let request: BlockBody = match body(&bytes) {
        Ok(request) => request,
        Err(refusal) => return bad_request(refusal),
    };
    let length = match crate::config::duration(&request.length) {
        Ok(length) if length <= LONGEST_BLOCK => length,
        Ok(_) => return bad_request("for: at most 365d"),
        Err(reason) => return bad_request(format!("for: {reason}")),
    };
    if send_id.is_empty() || send_id.len() > crate::store::moderation::MAX_ID {
        return bad_request("sendID must be 1 to 128 bytes long");
    }
    if state.engine.is_exempt_sender(&send_id) {
        return bad_request("sendID is in FLOODGATE_EXEMPT_SENDERS: never checked, never blocked");
    }
    let address = caller_address(caller);
    let caller = Caller {
        address: &address,
        reason: &request.reason,
    };
    match state.engine.block_by_hand(&send_id, length, caller).await {
        Ok(blocks) => Json(json!({
            "sendID": send_id,
            "blockedForSeconds": length.as_secs(),
            "blocks": blocks,
        }))
        .into_response(),
        Err(error) => unavailable(error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TeachBody {
    text: Option<String>,
    key: Option<String>,
    #[serde(default)]
    block_senders: bool,
    #[serde(default)]
    reason: String,
}

/// The keys a report or an allowance names: a text's, or one key id.
fn taught_keys(state: &AppState, request: &TeachBody) -> Result<Vec<KeyRecord>, Refusal> {
    match (&request.text, &request.key) {
        (Some(text), None) => {
            if text.len() > MAX_REPORTED_TEXT {
                return Err(String::from("text is longer than 64 KiB"));
            }
            let keys = state.engine.keys_of_text(text);
            if keys.is_empty() {
                return Err(String::from(
                    "the text has no campaign key: no link, phone number, e-mail or handle, \
                     and too short for a near-duplicate",
                ));
            }
            Ok(state.engine.moderation().key_records(&keys, Some(text)))
        }
        (None, Some(key)) => match parse_key_id(key) {
            Some(_) => Ok(vec![KeyRecord {
                key: key.clone(),
                kind: String::new(),
                display: String::new(),
            }]),
            None => Err(String::from(
                "key must be a key id from /v1/campaigns (16 hex digits)",
            )),
        },
        _ => Err(String::from("give either \"text\" or \"key\"")),
    }
}

async fn report(
    State(state): State<Arc<AppState>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    bytes: Bytes,
) -> Response {
    let request: TeachBody = match body(&bytes) {
        Ok(request) => request,
        Err(refusal) => return bad_request(refusal),
    };
    let keys = match taught_keys(&state, &request) {
        Ok(keys) => keys,
        Err(refusal) => return bad_request(refusal),
    };
    let address = caller_address(caller);
    let caller = Caller {
        address: &address,
        reason: &request.reason,
    };
    match state
        .engine
        .report(keys, request.block_senders, caller)
        .await
    {
        Ok(taught) => {
            Json(json!({"keys": taught.keys, "blockedSenders": taught.blocked})).into_response()
        }
        Err(error) => unavailable(error),
    }
}

async fn allow(
    State(state): State<Arc<AppState>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    bytes: Bytes,
) -> Response {
    let request: TeachBody = match body(&bytes) {
        Ok(request) => request,
        Err(refusal) => return bad_request(refusal),
    };
    if request.block_senders {
        return bad_request("blockSenders belongs to a report, not an allowance");
    }
    let keys = match taught_keys(&state, &request) {
        Ok(keys) => keys,
        Err(refusal) => return bad_request(refusal),
    };
    let address = caller_address(caller);
    let caller = Caller {
        address: &address,
        reason: &request.reason,
    };
    match state.engine.allow(keys, caller).await {
        Ok(taught) => Json(json!({"keys": taught.keys})).into_response(),
        Err(error) => unavailable(error),
    }
}

async fn unallow(
    State(state): State<Arc<AppState>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Response {
    let Some(id) = parse_key_id(&key) else {
        return bad_request("key must be a key id (16 hex digits)");
    };
    let address = caller_address(caller);
    let reason = params.get("reason").cloned().unwrap_or_default();
    let caller = Caller {
        address: &address,
        reason: &reason,
    };
    match state.engine.unallow(id, caller).await {
        Ok(removed) => Json(json!({"key": key, "removed": removed})).into_response(),
        Err(error) => unavailable(error),
    }
}

async fn audit(State(state): State<Arc<AppState>>, Query(params): Params) -> Response {
    let limit = match limit(&params) {
        Ok(limit) => limit,
        Err(refusal) => return bad_request(refusal),
    };
    match state
        .engine
        .audit_trail(params.get("next").map(String::as_str), limit)
        .await
    {
        Ok(page) => Json(json!({"audit": page.items, "next": page.next})).into_response(),
        Err(error) => unavailable(error),
    }
}
