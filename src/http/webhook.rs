//! The webhook listener: every OpenIM callback in; verdicts, or the operator's own webhook's
//! answers, out (docs/openim.md).
//!
//! Routing never depends on the path's shape: the command is the body's `callbackCommand`, then
//! the legacy `?command=`, then the last path segment, under any prefix; it is decided before
//! anything else is read. Whatever happens, the reply is a complete JSON object OpenIM can read,
//! and a request we cannot judge is answered with `actionCode` 1, which OpenIM treats as
//! "deliver". With `FLOODGATE_UPSTREAM_URL` set, what floodgate does not reject goes on to the
//! operator's webhook (`upstream`), whose answer is final. A body over `FLOODGATE_MAX_BODY` is
//! judged like any other on the fields `stream_reader` keeps of it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::commands::{self, BEFORE_SEND_GROUP, BEFORE_SEND_SINGLE};
use super::stream_reader::StreamReader;
use super::wire::{self, CallbackRequest, CallbackResponse};
use super::{AppState, act_wire, upstream};
use crate::config::FailMode;
use crate::engine::{ActKind, Chat, Decision, Message, Verdict};
use crate::metrics;
use crate::policy::{Mode, Rule, Violation};
use crate::reply_text::ReplyText;

/// A client gets this long to send a request's body (headers: `connections::HEADER_READ_TIMEOUT`).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The retry hint of a 5098 (the operator's webhook failed, fail mode closed).
const UPSTREAM_RETRY: Duration = Duration::from_secs(1);

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
        let label = commands::command_label(path_command);
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
        let command = query_command(&uri).unwrap_or(path_command);
        state
            .metrics
            .callback(commands::command_label(command), metrics::Verdict::Invalid);
        let reply = CallbackResponse::invalid(
            "missing or wrong token",
            "put FLOODGATE_AUTH_TOKEN in the webhook URL (/<token>/<command>) or send Authorization: Bearer <token>",
        );
        // OpenIM goes on with a group edit it is not refused: the echo must be there.
        let body = match act_wire::echoes(command) {
            true => {
                let limits = Limits {
                    whole: state.max_body,
                    ceiling: MAX_STREAMED_BODY.max(state.max_body),
                    keep_raw: false,
                    command,
                };
                read_body(body, &headers, limits).await.ok()
            }
            false => None,
        };
        let body = body.map(|body| body.judged);
        return echoing(StatusCode::UNAUTHORIZED, &reply, command, body.as_deref());
    }
    let limits = Limits {
        whole: state.max_body,
        ceiling: MAX_STREAMED_BODY.max(state.max_body),
        keep_raw: state.upstream.is_some(),
        command: query_command(&uri).unwrap_or(path_command),
    };
    let ReadBody {
        judged: body,
        forwarded,
    } = match read_body(body, &headers, limits).await {
        Ok(body) => body,
        Err(error) => return answer_unreadable(&state, &uri, path_command, error).await,
    };
    // Route before anything else: a command floodgate does not judge is never parsed as a
    // message (after-callbacks carry fields no message type fits).
    let command = wire::body_command(&body)
        .or_else(|| query_command(&uri).map(Cow::Borrowed))
        .unwrap_or(Cow::Borrowed(path_command));
    let label = commands::command_label(&command);
    let act = act_wire::act_kind(label);
    let own = match (label, act) {
        (BEFORE_SEND_SINGLE, _) => judge(&state, label, Chat::Single, &body).await,
        (BEFORE_SEND_GROUP, _) => judge(&state, label, Chat::Group, &body).await,
        (_, Some(kind)) => judge_act(&state, label, kind, &headers, &body).await,
        _ => Judged::PassOn {
            own: unjudged_reply(label, &body),
            verdict: metrics::Verdict::Allow,
        },
    };
    if matches!(label, BEFORE_SEND_SINGLE | BEFORE_SEND_GROUP) || act.is_some() {
        state
            .metrics
            .decision_time(label)
            .observe(started.elapsed().as_secs_f64());
    }
    let (own, verdict) = match own {
        Judged::Rejected(response) => return response,
        Judged::PassOn { own, verdict } => (own, verdict),
    };
    pass_on(
        &state, label, &command, &uri, &headers, forwarded, own, verdict,
    )
    .await
}

/// A body that could not be read. One past [`MAX_STREAMED_BODY`] is still judged by its sender,
/// from the fields read before it.
async fn answer_unreadable(
    state: &AppState,
    uri: &Uri,
    path_command: &str,
    error: BodyError,
) -> Response {
    let own = unreadable(&error, MAX_STREAMED_BODY.max(state.max_body));
    let BodyError::TooLarge { head } = error else {
        let label = commands::command_label(path_command);
        state.metrics.callback(label, metrics::Verdict::Invalid);
        return own;
    };
    let fields = wire::leading_strings(&head);
    let command = field(&fields, "callbackCommand")
        .or_else(|| query_command(uri))
        .unwrap_or(path_command);
    let label = commands::command_label(command);
    match judge_unreadable(state, label, &fields, own).await {
        Judged::Rejected(response) => response,
        Judged::PassOn { own, verdict } => {
            state.metrics.callback(label, verdict);
            own
        }
    }
}

/// What floodgate did not reject goes on to the operator's webhook, when one is configured and
/// the command can name a path there; its answer is final. `own` is floodgate's answer without
/// it, given when it fails in fail mode `open`.
#[allow(clippy::too_many_arguments)] // the request's parts, each used once
async fn pass_on(
    state: &AppState,
    label: &'static str,
    command: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    own: Response,
    verdict: metrics::Verdict,
) -> Response {
    let Some(upstream) = state
        .upstream
        .as_ref()
        .filter(|_| upstream::is_forwardable(command))
    else {
        state.metrics.callback(label, verdict);
        return own;
    };
    let error = match upstream.forward(command, uri.query(), headers, body).await {
        Ok(relayed) => {
            state.metrics.callback(label, verdict);
            return relay(relayed);
        }
        Err(error) => error,
    };
    tracing::warn!(command = label, kind = error.kind(), %error, "the upstream webhook failed");
    // A request floodgate could not read, and an after-callback (OpenIM ignores the answer),
    // never get a rejection.
    let rejects = upstream.fail_mode == FailMode::Closed
        && verdict != metrics::Verdict::Invalid
        && !is_after_callback(command);
    if !rejects {
        state.metrics.callback(label, verdict);
        return own;
    }
    let violation = Violation::new(Rule::Upstream, None, UPSTREAM_RETRY);
    let operation_id = headers
        .get("operationid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    record_rejection(state, label, operation_id, &violation);
    reject(&violation)
}

/// What floodgate itself answers a command: final (a rejection), or to be passed on to the
/// operator's webhook when one is configured, `own` being the answer without it.
enum Judged {
    Rejected(Response),
    PassOn {
        own: Response,
        verdict: metrics::Verdict,
    },
}

/// Judges a message callback: a rejection is final; an allow, and a body that cannot be read,
/// may go on to the upstream.
async fn judge(state: &AppState, label: &'static str, chat: Chat, body: &[u8]) -> Judged {
    let request = match CallbackRequest::parse(body) {
        Ok(request) => request,
        Err(reason) => {
            let own = invalid(StatusCode::BAD_REQUEST, "invalid callback body", &reason);
            return judge_unreadable(state, label, &wire::leading_strings(body), own).await;
        }
    };
    let message = request.message(chat);
    let client_msg_id = request.client_msg_id.as_deref().unwrap_or("");
    let decision = state.engine.decide_once(&message, client_msg_id).await;
    let operation_id = request.operation_id.as_deref().unwrap_or("");
    match answer(state, label, operation_id, &decision) {
        // A retry answered from floodgate's first decision is not passed on again: the
        // upstream already had its say on the first (docs/redis.md, "Retried callbacks").
        Judged::PassOn { own, verdict } if decision.replayed => {
            state.metrics.callback(label, verdict);
            Judged::Rejected(own)
        }
        judged => judged,
    }
}

/// Judges a friend request, a group's creation, application, invitation or edit, or a profile edit
/// (README, "Friend requests, groups and profiles"). A body that cannot be read is allowed as
/// before floodgate judged these (counted `invalid`): refusing it would cost a user their request
/// for a gateway's doubt.
async fn judge_act(
    state: &AppState,
    label: &'static str,
    kind: ActKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Judged {
    let parsed = match act_wire::parse_act(kind, body) {
        Ok(parsed) => parsed,
        Err(reason) => {
            tracing::debug!(command = label, %reason, "an act's body could not be read");
            return Judged::PassOn {
                own: unjudged_reply(label, body),
                verdict: metrics::Verdict::Invalid,
            };
        }
    };
    // OpenIM puts the same ID in the body and in the `Operationid` header; the body's first.
    let operation_id = match parsed.operation_id.as_ref() {
        "" => headers
            .get("operationid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        id => id,
    };
    let engine = &state.engine;
    let decision = engine
        .judge_act_once(&parsed.request, operation_id, &parsed.target)
        .await;
    match answer(state, label, operation_id, &decision) {
        rejected @ Judged::Rejected(_) => rejected,
        // A retry answered from the first decision is not passed on again (as in `judge`).
        Judged::PassOn { verdict, .. } if decision.replayed => {
            state.metrics.callback(label, verdict);
            Judged::Rejected(unjudged_reply(label, body))
        }
        // An allow of a set-group-info command echoes what OpenIM copies back.
        Judged::PassOn { verdict, .. } => Judged::PassOn {
            own: unjudged_reply(label, body),
            verdict,
        },
    }
}

/// Judges the sender of a message callback whose body cannot be read (past
/// [`MAX_STREAMED_BODY`], or malformed further on) by the string fields at its head: OpenIM
/// delivers such a message (`actionCode` 1), so a flooding or blocked sender must not slip
/// through this way.
/// Its rate, burst and block are judged; its text, recipient and mentions are unknown.
async fn judge_unreadable(
    state: &AppState,
    label: &'static str,
    fields: &[(String, String)],
    own: Response,
) -> Judged {
    let unjudged = |own| Judged::PassOn {
        own,
        verdict: metrics::Verdict::Invalid,
    };
    let chat = match label {
        BEFORE_SEND_SINGLE => Chat::Single,
        BEFORE_SEND_GROUP => Chat::Group,
        _ => return unjudged(own),
    };
    let Some(send_id) = field(fields, "sendID") else {
        return unjudged(own);
    };
    let message = Message::new(chat, send_id);
    let decision = state.engine.decide(&message).await;
    let operation_id = field(fields, "operationID").unwrap_or("");
    match answer(state, label, operation_id, &decision) {
        rejected @ Judged::Rejected(_) => rejected,
        Judged::PassOn { .. } => unjudged(own),
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The answer to a command floodgate does not judge: allow, echoing the fields OpenIM copies
/// back from a set-group-info reply.
fn unjudged_reply(label: &str, body: &[u8]) -> Response {
    echoing(StatusCode::OK, &CallbackResponse::ALLOW, label, Some(body))
}

/// `reply`, with the echo a set-group-info command's replies carry (`act_wire`) when `body`
/// could be read.
fn echoing(
    status: StatusCode,
    reply: &CallbackResponse<'_>,
    command: &str,
    body: Option<&[u8]>,
) -> Response {
    match body.filter(|_| act_wire::echoes(command)) {
        Some(body) => {
            let bytes = serde_json::to_vec(reply).unwrap_or_default();
            json_bytes(status, act_wire::with_group_info_echo(command, bytes, body))
        }
        None => json(status, reply),
    }
}

/// After-callbacks are fire-and-forget: OpenIM parses their answer and drops it.
/// (`callbackBeforeAfterMsgCommand` is the after-revoke hook: OpenIM's constant has a typo.)
fn is_after_callback(command: &str) -> bool {
    command.starts_with("callbackAfter") || command == "callbackBeforeAfterMsgCommand"
}

/// The upstream's reply as it came: status, `Content-Type` and body.
fn relay(relayed: upstream::Relayed) -> Response {
    let content_type = relayed
        .content_type
        .unwrap_or_else(|| header::HeaderValue::from_static("application/json"));
    (
        relayed.status,
        [(header::CONTENT_TYPE, content_type)],
        relayed.body,
    )
        .into_response()
}

/// Turns a decision into OpenIM's reply, counting and logging what it rejected or would have.
fn answer(
    state: &AppState,
    command: &'static str,
    operation_id: &str,
    decision: &Decision,
) -> Judged {
    for violation in &decision.shadow {
        state.metrics.rejection(violation.rule, Mode::Shadow);
        tracing::info!(
            rule = violation.rule.name(),
            err_code = violation.rule.err_code(),
            operation_id,
            list_line = violation.list_line,
            mode = "shadow",
            "would reject"
        );
    }
    match &decision.verdict {
        Verdict::Allow => Judged::PassOn {
            own: json(StatusCode::OK, &CallbackResponse::ALLOW),
            verdict: if decision.shadow.is_empty() {
                metrics::Verdict::Allow
            } else {
                metrics::Verdict::ShadowReject
            },
        },
        Verdict::Reject(violation) => {
            record_rejection(state, command, operation_id, violation);
            Judged::Rejected(reject(violation))
        }
    }
}

/// OpenIM's rejection: errMsg with the retry hint (all an app user sees), errDlt the detail.
fn reject(violation: &Violation) -> Response {
    let message = violation.message();
    let detail = violation.detail();
    json(
        StatusCode::OK,
        &CallbackResponse::reject(violation.rule.err_code(), &message, &detail),
    )
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
        list_line = violation.list_line,
        "rejected"
    );
}

/// Why a body could not be read.
enum BodyError {
    /// Over [`MAX_STREAMED_BODY`]; `head` holds the fields read before it, to judge its sender.
    TooLarge {
        head: Bytes,
    },
    Timeout,
    Broken,
}

/// The longest body floodgate reads, at any `FLOODGATE_MAX_BODY` below it: twice the 8 MiB
/// OpenIM's RPC layer lets through, so no message OpenIM can deliver is cut short.
pub const MAX_STREAMED_BODY: usize = 16 * 1024 * 1024;

/// How much of a body declared longer than [`MAX_STREAMED_BODY`] is read: enough for the fields
/// OpenIM writes first.
const HEAD_BYTES: usize = 4096;

/// A body as floodgate judges it, and as it goes on to the upstream.
struct ReadBody {
    /// The body itself, or for one over `FLOODGATE_MAX_BODY`, the fields it judges
    /// (`stream_reader`).
    judged: Bytes,
    /// The bytes as they came when an upstream may need them; else `judged`.
    forwarded: Bytes,
}

/// How a body is read: whole up to `whole` bytes; past that streamed through a
/// [`StreamReader`], its bytes kept only if `keep_raw` (for the upstream), up to `ceiling`.
struct Limits<'a> {
    whole: usize,
    ceiling: usize,
    keep_raw: bool,
    /// The command the path or query names, until the body names its own.
    command: &'a str,
}

/// Reads the body: whole up to the limit, streamed past it (README, "Bodies of any size").
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limits: Limits<'_>,
) -> Result<ReadBody, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body announced past the ceiling is read only for the fields at its head.
    let ceiling = if declared.is_some_and(|length| length > limits.ceiling as u64) {
        HEAD_BYTES.min(limits.ceiling)
    } else {
        limits.ceiling
    };
    let reading = async {
        let mut body = body;
        // The usual body arrives in one frame and is kept as it came, without a copy.
        let mut first: Option<Bytes> = None;
        let mut kept = Vec::new();
        let mut read = 0usize;
        let mut stream: Option<StreamReader> = None;
        let mut refused = false;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else {
                continue; // trailers
            };
            read += data.len();
            if read <= limits.whole && stream.is_none() {
                if first.is_none() && kept.is_empty() {
                    first = Some(data);
                } else {
                    if let Some(first) = first.take() {
                        kept.extend_from_slice(&first);
                    }
                    kept.extend_from_slice(&data);
                }
                continue;
            }
            let reader = stream.get_or_insert_with(|| {
                let mut reader = StreamReader::new(limits.whole, limits.command);
                let held = first
                    .take()
                    .map_or_else(|| std::mem::take(&mut kept), |f| f.to_vec());
                refused = reader.feed(&held).is_err();
                if limits.keep_raw {
                    kept = held;
                }
                reader
            });
            let room = (ceiling + data.len()).saturating_sub(read).min(data.len());
            if !refused {
                refused = reader.feed(&data[..room]).is_err();
            }
            if read > ceiling {
                return Err(BodyError::TooLarge {
                    head: Bytes::from(reader.finish()),
                });
            }
            // Past a fault the rest is still read (an answer before the whole request is in
            // makes some clients drop it), but only the upstream needs it.
            if limits.keep_raw {
                kept.extend_from_slice(&data);
            }
        }
        let raw = first.unwrap_or_else(|| Bytes::from(kept));
        Ok(match stream {
            None => ReadBody {
                judged: raw.clone(),
                forwarded: raw,
            },
            Some(reader) => {
                let judged = Bytes::from(reader.finish());
                let forwarded = if limits.keep_raw { raw } else { judged.clone() };
                ReadBody { judged, forwarded }
            }
        })
    };
    tokio::time::timeout(BODY_READ_TIMEOUT, reading)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// The answer to a body that could not be read whole.
fn unreadable(error: &BodyError, limit: usize) -> Response {
    match error {
        BodyError::TooLarge { .. } => invalid(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            &format!("the longest body read is {limit} bytes"),
        ),
        BodyError::Timeout => invalid(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout",
            "the body did not arrive in time",
        ),
        BodyError::Broken => invalid(
            StatusCode::BAD_REQUEST,
            "could not read the body",
            "the connection failed before the whole body arrived",
        ),
    }
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

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
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
