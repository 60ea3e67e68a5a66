//! A real HTTP server on an ephemeral port playing the operator's own webhook service behind
//! floodgate: it records every request and answers as the test tells it to. Over plain HTTP, or
//! over TLS with a certificate from a private CA made for the test by the `openssl` CLI.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Command;
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

/// A private CA and a certificate it signed for `127.0.0.1`, in a directory of their own.
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate with `openssl` (P-256 keys, valid for two days).
    pub fn new() -> TestCa {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("floodgate-ca-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &dir,
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=floodgate test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        TestCa { dir }
    }

    /// The CA's certificate: what `FLOODGATE_UPSTREAM_CA` names.
    pub fn ca_file(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certificates = CertificateDer::pem_file_iter(self.dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.dir.join("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is not installed: run scripts/test, which installs it");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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

    /// The same server over TLS, with `ca`'s certificate for `127.0.0.1`: its URL is
    /// `https://127.0.0.1:<port>/hooks`.
    pub async fn start_tls(ca: &TestCa) -> UpstreamServer {
        use hyper_util::rt::TokioIo;
        use hyper_util::service::TowerToHyperService;
        let shared = Shared {
            seen: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour::Reply(200, ALLOW.into()))),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/hooks", listener.local_addr().unwrap());
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let acceptor = ca.acceptor();
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => return,
                };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                        .await;
                });
            }
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
