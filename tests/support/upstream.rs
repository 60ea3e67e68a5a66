//! A real HTTP server on an ephemeral port playing the operator's own webhook service behind
//! floodgate: it records every request and answers as the test tells it to.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

/// What the upstream does with the next requests.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Answers this status and body (`application/json`).
    Reply(u16, Vec<u8>),
    /// Answers an allow after this long.
    Slow(Duration),
    /// Sends its headers, then a body that never ends.
    Stall,
}

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

pub struct UpstreamServer {
    pub url: String,
    shared: Shared,
    _stop: oneshot::Sender<()>,
}

pub const ALLOW: &str = r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

impl UpstreamServer {
    /// Serves under the path prefix `/hooks` and answers an allow until told otherwise.
    pub async fn start() -> UpstreamServer {
        let shared = Shared {
            seen: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour::Reply(200, ALLOW.into()))),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        UpstreamServer {
            url,
            shared,
            _stop: stop,
        }
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn answer(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.seen.lock().unwrap().push(Seen {
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let behaviour = shared.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Reply(status, body) => (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response(),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ([("content-type", "application/json")], ALLOW).into_response()
        }
        Behaviour::Stall => {
            let endless = tokio_stream::pending::<Result<Bytes, Infallible>>();
            Response::new(Body::from_stream(endless))
        }
    }
}
