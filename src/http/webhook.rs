//! The webhook listener: OpenIM's before-send callbacks in, verdicts out (CONTRACT §2).
//!
//! Routing never depends on the path's shape: the command is the body's `callbackCommand`, then
//! the legacy `?command=`, then the last path segment, under any prefix. Whatever happens, the
//! reply is a complete JSON object OpenIM can read, and a request we cannot judge is answered
//! with `actionCode` 1, which OpenIM treats as "deliver".

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::wire::{self, BEFORE_SEND_GROUP, BEFORE_SEND_SINGLE, CallbackRequest, CallbackResponse};
use crate::engine::{Chat, Decision, Message, Verdict};
use crate::metrics;
use crate::policy::{Mode, Violation};

/// A client gets this long to send a request's body (headers: `server::HEADER_READ_TIMEOUT`).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let path_command = last_segment(uri.path());
    if method != Method::POST {
        let label = wire::command_label(path_command);
        state.metrics.callback(label, metrics::Verdict::Invalid);
        let mut response = invalid(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST",
            "OpenIM posts callbacks; other methods are not served on webhook paths",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    if !state.authorised(&uri, &headers) {
        state
            .metrics
            .callback(wire::command_label(path_command), metrics::Verdict::Invalid);
        return invalid(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token",
            "put FLOODGATE_AUTH_TOKEN in the webhook URL (/<token>/<command>) or send Authorization: Bearer <token>",
        );
    }
    let body = match read_body(body, &headers, state.max_body).await {
        Ok(body) => body,
        Err(response) => {
            state
                .metrics
                .callback(wire::command_label(path_command), metrics::Verdict::Invalid);
            return *response;
        }
    };
    let request = match CallbackRequest::parse(&body) {
        Ok(request) => request,
        Err(reason) => {
            let label = wire::command_label(query_command(&uri).unwrap_or(path_command));
            state.metrics.callback(label, metrics::Verdict::Invalid);
            return invalid(StatusCode::BAD_REQUEST, "invalid callback body", &reason);
        }
    };
    let command = request
        .callback_command
        .as_deref()
        .filter(|c| !c.is_empty())
        .or_else(|| query_command(&uri))
        .unwrap_or(path_command);
    let label = wire::command_label(command);
    let chat = match label {
        BEFORE_SEND_SINGLE => Chat::Single,
        BEFORE_SEND_GROUP => Chat::Group,
        _ => {
            // Not a message we judge: let it through at once, but count it.
            state.metrics.callback(label, metrics::Verdict::Allow);
            return json(StatusCode::OK, &CallbackResponse::ALLOW);
        }
    };
    let message = Message {
        chat,
        send_id: request.send_id.as_deref().unwrap_or(""),
        recv_id: request.recv_id.as_deref().unwrap_or(""),
        msg_from: request.msg_from.unwrap_or(0),
        content_type: request.content_type.unwrap_or(0),
        content: request.content.as_deref().unwrap_or(""),
        mentions: request.mentions(),
    };
    let decision = state.engine.decide(&message).await;
    let operation_id = request.operation_id.as_deref().unwrap_or("");
    let response = answer(&state, label, operation_id, &decision);
    state
        .metrics
        .decision_time(label)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Turns a decision into OpenIM's reply, counting and logging what it rejected or would have.
fn answer(
    state: &AppState,
    command: &'static str,
    operation_id: &str,
    decision: &Decision,
) -> Response {
    for violation in &decision.shadow {
        state.metrics.rejection(violation.rule, Mode::Shadow);
        tracing::info!(
            rule = violation.rule.name(),
            err_code = violation.rule.err_code(),
            operation_id,
            mode = "shadow",
            "would reject"
        );
    }
    match &decision.verdict {
        Verdict::Allow => {
            let verdict = if decision.shadow.is_empty() {
                metrics::Verdict::Allow
            } else {
                metrics::Verdict::ShadowReject
            };
            state.metrics.callback(command, verdict);
            json(StatusCode::OK, &CallbackResponse::ALLOW)
        }
        Verdict::Reject(violation) => {
            record_rejection(state, command, operation_id, violation);
            let detail = violation.detail();
            json(
                StatusCode::OK,
                &CallbackResponse::reject(
                    violation.rule.err_code(),
                    violation.rule.reason(),
                    &detail,
                ),
            )
        }
    }
}

fn record_rejection(
    state: &AppState,
    command: &'static str,
    operation_id: &str,
    violation: &Violation,
) {
    state.metrics.callback(command, metrics::Verdict::Reject);
    state.metrics.rejection(violation.rule, Mode::Enforce);
    if violation.started_block.is_some() {
        state.metrics.blocks.inc();
        tracing::info!(rule = violation.rule.name(), operation_id, "block started");
    }
    tracing::info!(
        rule = violation.rule.name(),
        err_code = violation.rule.err_code(),
        operation_id,
        "rejected"
    );
}

/// Reads the body up to the configured limit: 413 beyond it, 400 if the client fails mid-way.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Box<Response>> {
    let too_large = || {
        let detail = format!("FLOODGATE_MAX_BODY is {limit} bytes");
        Box::new(invalid(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            &detail,
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let reading = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit));
    let Ok(read) = reading.await else {
        let detail = "the body did not arrive in time";
        return Err(Box::new(invalid(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout",
            detail,
        )));
    };
    read.map_err(|error| {
        let is_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if is_limit {
            too_large()
        } else {
            Box::new(invalid(
                StatusCode::BAD_REQUEST,
                "could not read the body",
                "the connection failed before the whole body arrived",
            ))
        }
    })
}

fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The command of servers up to v3.4, which posted to `<url>?command=<command>`.
fn query_command(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("command="))
        .filter(|c| !c.is_empty())
}

fn invalid(status: StatusCode, message: &str, detail: &str) -> Response {
    json(status, &CallbackResponse::invalid(message, detail))
}

fn json(status: StatusCode, body: &CallbackResponse<'_>) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        // Serialising five plain fields cannot fail; keep OpenIM's reply well-formed regardless.
        Err(_) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"actionCode":1,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#,
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_the_last_segment_under_any_prefix() {
        assert_eq!(
            last_segment("/callbackExample/callbackBeforeSendSingleMsgCommand"),
            "callbackBeforeSendSingleMsgCommand"
        );
        assert_eq!(last_segment("/x/y/cmd/"), "cmd");
        assert_eq!(last_segment("/"), "");
    }

    #[test]
    fn the_legacy_query_names_the_command() {
        let uri: Uri = "/hook?contenttype=json&command=callbackBeforeSendGroupMsgCommand"
            .parse()
            .unwrap();
        assert_eq!(
            query_command(&uri),
            Some("callbackBeforeSendGroupMsgCommand")
        );
        let uri: Uri = "/hook?contenttype=json".parse().unwrap();
        assert_eq!(query_command(&uri), None);
    }
}
