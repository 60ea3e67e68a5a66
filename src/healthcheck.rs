//! `floodgate healthcheck`: the container image's health probe. It asks this host's admin
//! listener for `/healthz`, so the runtime image needs no curl. Exit code 0 = healthy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Returns the process exit code.
pub fn run() -> i32 {
    let admin = match Config::from_env() {
        Ok(config) => config.admin_listen,
        Err(error) => {
            eprintln!("floodgate healthcheck: {error}");
            return 2;
        }
    };
    match probe(loopback(admin)) {
        Ok(()) => 0,
        Err(reason) => {
            eprintln!("floodgate healthcheck: {reason}");
            1
        }
    }
}

/// A listener on every interface is reached on loopback.
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

fn probe(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    match response.lines().next() {
        Some(status) if status.starts_with("HTTP/1.1 200") => Ok(()),
        other => Err(format!("/healthz answered {other:?}")),
    }
}
