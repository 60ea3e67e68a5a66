//! What the connection layer (phases, deadlines, the registry of idle connections) costs per
//! request: keep-alive GETs over loopback to `http::server::serve`, against the same router
//! served by bare hyper with no deadlines and no cap, in the same run.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use floodgate::http::connections::ServerLimits;
use floodgate::metrics::Metrics;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tower::ServiceExt;

fn router() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

async fn floodgate_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new(&[], &[]);
    let limits = ServerLimits::new(Duration::from_secs(300), 10_000);
    tokio::spawn(floodgate::http::server::serve(
        listener,
        router(),
        limits,
        metrics.connections.clone(),
        std::future::pending(),
    ));
    addr
}

async fn bare_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let service = hyper::service::service_fn(|request| router().oneshot(request));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn client(addr: std::net::SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn round_trip(sender: &mut Sender) -> Result<(), Infallible> {
    sender.ready().await.unwrap();
    let request = hyper::Request::get("/")
        .header("host", "x")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
    Ok(())
}

fn connection_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // One keep-alive connection each; the (uncontended) lock is the same cost on both sides.
    let (floodgate, bare) = runtime.block_on(async {
        (
            Arc::new(Mutex::new(client(floodgate_server().await).await)),
            Arc::new(Mutex::new(client(bare_server().await).await)),
        )
    });
    let mut group = c.benchmark_group("keep-alive GET round trip");
    group.bench_function("bare hyper", |b| {
        b.to_async(&runtime).iter(|| {
            let bare = bare.clone();
            async move { round_trip(&mut *bare.lock().await).await }
        })
    });
    group.bench_function("floodgate serve (phases, deadlines, registry)", |b| {
        b.to_async(&runtime).iter(|| {
            let floodgate = floodgate.clone();
            async move { round_trip(&mut *floodgate.lock().await).await }
        })
    });
    group.finish();
}

criterion_group!(benches, connection_layer);
criterion_main!(benches);
