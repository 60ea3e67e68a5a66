//! The admin listener (README, "Admin listener"): health, readiness, metrics and the sender API.
//! Kept off the webhook port so the load balancer and Prometheus never share OpenIM's path.

use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::HashMap;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::engine::Caller;
use crate::policy::{Act, HumanDuration, Limit};

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/senders/{send_id}", get(sender_status))
        .route("/v1/senders/{send_id}/block", delete(lift_block))
        .merge(super::moderation::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .merge(api)
        .merge(super::console::router())
        .with_state(state)
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if !state.engine.is_degraded() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: deciding on the local fallback store\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let tracked = state.engine.tracked_senders();
    state.metrics.tracked_senders.set(tracked as i64);
    let keywords = state.engine.content_rules().keywords();
    state.metrics.keywords.set(keywords as i64);
    let now = state.engine.now_ms();
    let reported = state.engine.moderation().reported_keys(now);
    state.metrics.reported_keys.set(reported as i64);
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.render(),
    )
        .into_response()
}

async fn sender_status(
    State(state): State<Arc<AppState>>,
    Path(send_id): Path<String>,
) -> Response {
    match state.engine.sender_status(&send_id).await {
        Ok(status) => {
            let windows = |counts: &[(Limit, u64)]| -> Vec<_> {
                counts
                    .iter()
                    .map(|(limit, count)| {
                        json!({"limit": limit.count(), "window": HumanDuration(limit.window).to_string(), "count": count})
                    })
                    .collect()
            };
            let act = |wanted: Act| {
                let counts = status.acts.iter().find(|(act, _)| *act == wanted);
                windows(counts.map_or(&[][..], |(_, counts)| counts))
            };
            Json(json!({
                "sendID": send_id,
                "windows": windows(&status.windows),
                "friendRequests": act(Act::FriendRequest),
                "groupsCreated": act(Act::CreateGroup),
                "groupApplications": act(Act::JoinGroup),
                "groupMembers": act(Act::GroupMembers),
                "strikes": status.strikes,
                "blockedForSeconds": status.blocked_for.as_millis().div_ceil(1000) as u64,
                "blocks": status.blocks,
                "establishedContacts": status.established_contacts,
                "establishedGroups": status.established_groups,
            }))
            .into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

/// Every lift is audited with the sender and the caller's address (`GET /v1/audit`), since a
/// lift undoes what the rules decided; `?reason=` is kept with it.
async fn lift_block(
    State(state): State<Arc<AppState>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    Path(send_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let address = caller.ip().to_string();
    let reason = params.get("reason").cloned().unwrap_or_default();
    let audited = Caller {
        address: &address,
        reason: &reason,
    };
    match state.engine.lift_audited(&send_id, audited).await {
        Ok(unblocked) => {
            tracing::info!(
                send_id = %send_id,
                caller = %caller,
                unblocked,
                "block lifted through the admin API"
            );
            Json(json!({"sendID": send_id, "unblocked": unblocked})).into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

fn store_unavailable(error: crate::store::StoreError) -> Response {
    tracing::warn!(%error, "admin request failed");
    let body = json!({"error": "the shared store is unavailable; try again"});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn require_admin_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.admin_token else {
        return next.run(request).await;
    };
    let presented = super::bearer_token(request.headers());
    if presented.is_some_and(|p| token.matches(p.as_bytes())) {
        next.run(request).await
    } else {
        let body = json!({"error": "send Authorization: Bearer <FLOODGATE_ADMIN_TOKEN>"});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}
