//! A TCP proxy inside the test, to play the network between floodgate and Redis: it forwards,
//! or black-holes (accepts and acknowledges every byte, answers nothing, closes nothing), and
//! can send new connections to another address, as a failover that moves a name does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

struct Shared {
    target: AtomicU16,
    /// Connections numbered below this are black holes.
    holed_below: AtomicU64,
    next_id: AtomicU64,
}

impl Proxy {
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target: AtomicU16::new(target),
            holed_below: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = accepting.next_id.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(client, id, accepting.clone()));
            }
        });
        Proxy {
            port,
            shared,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every connection open now stops forwarding in both directions, for good.
    pub fn black_hole_open_connections(&self) {
        let next = self.shared.next_id.load(Ordering::SeqCst);
        self.shared.holed_below.store(next, Ordering::SeqCst);
    }

    /// New connections go to `port`.
    pub fn forward_new_connections_to(&self, port: u16) {
        self.shared.target.store(port, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(client: TcpStream, id: u64, shared: Arc<Shared>) {
    let target = shared.target.load(Ordering::SeqCst);
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = tokio::spawn(pipe(client_read, server_write, id, shared.clone()));
    let down = tokio::spawn(pipe(server_read, client_write, id, shared));
    let _ = tokio::join!(up, down);
}

/// Copies until EOF; a black-holed connection reads and drops what it reads, forever.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    shared: Arc<Shared>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                if id >= shared.holed_below.load(Ordering::SeqCst) {
                    let _ = to.shutdown().await;
                }
                return;
            }
            Ok(n) => n,
        };
        if id < shared.holed_below.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
