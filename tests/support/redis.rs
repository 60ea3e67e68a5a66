//! Real `redis-server` processes for tests: one standalone server, or a 3-node cluster, each on
//! free loopback ports, killed when dropped. Nothing is mocked and nothing is shared.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    extra: Vec<String>,
}

/// Connections subscribed to a channel on one Redis (replicas following the unblock notices);
/// `cli` runs redis-cli there, with whatever credentials it needs.
pub fn pubsub_clients(cli: impl Fn(&[&str]) -> String) -> usize {
    cli(&["CLIENT", "LIST", "TYPE", "pubsub"])
        .lines()
        .filter(|line| line.contains(" sub=1 "))
        .count()
}

/// A port free right now (the server binds it a moment later; a clash makes `start` retry).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run scripts/test, which installs it");
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = Self::try_start(free_port(), extra) {
                return server;
            }
        }
        panic!("redis-server did not start");
    }

    /// Starts a server on `port` (for restarting one on the same port).
    pub fn try_start(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let dir =
            std::env::temp_dir().join(format!("floodgate-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(dir.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(binary("redis-server"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut server = RedisServer {
            port,
            child,
            dir,
            extra,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.try_wait().unwrap().is_some() {
                return None; // port taken, most likely
            }
            let answer = server.cli(&["PING"]);
            if answer.contains("PONG") || answer.contains("NOAUTH") {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGSTOP: the server holds its connections but answers nothing.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL, keeping the data directory (a cluster node's nodes.conf) for a restart.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, with the same options and directory.
    pub fn restart(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(mut fresh) = RedisServer::try_start(self.port, &extra) {
                std::mem::swap(&mut self.child, &mut fresh.child);
                // `fresh` now owns the dead child; its Drop must not delete the shared directory.
                fresh.dir = std::env::temp_dir().join("floodgate-redis-nothing-to-remove");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(binary("redis-cli"))
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).to_string()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three primaries, no replicas, slots spread by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

const CLUSTER_NODE: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "2000",
    "--cluster-config-file",
    "nodes.conf",
];

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes = (0..3)
            .map(|_| RedisServer::start_with(&CLUSTER_NODE))
            .collect();
        RedisCluster::create(nodes)
    }

    /// A cluster on these ports (for a replica configured before the cluster exists).
    pub fn start_on(ports: &[u16]) -> RedisCluster {
        let nodes = ports
            .iter()
            .map(|&port| {
                RedisServer::try_start(port, &CLUSTER_NODE)
                    .unwrap_or_else(|| panic!("redis-server did not start on {port}"))
            })
            .collect();
        RedisCluster::create(nodes)
    }

    fn create(nodes: Vec<RedisServer>) -> RedisCluster {
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new(binary("redis-cli"))
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .nodes
            .iter()
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The seed list, as `FLOODGATE_REDIS_URL` takes it.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }
}
