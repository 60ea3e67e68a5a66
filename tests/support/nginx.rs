//! A real nginx in front of test replicas, configured by the repository's own template
//! (`deploy/nginx/floodgate.conf.template`, the file the docker-compose stack mounts).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::free_port;

pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

const TEMPLATE: &str = include_str!("../../deploy/nginx/floodgate.conf.template");

/// Renders the template as the nginx image's envsubst would.
pub fn render(upstreams: &[String], listen: u16) -> String {
    let servers: String = upstreams.iter().map(|u| format!("server {u}; ")).collect();
    TEMPLATE
        .replace("${FLOODGATE_UPSTREAM_SERVERS}", &servers)
        .replace("${FLOODGATE_PROXY_LISTEN}", &format!("127.0.0.1:{listen}"))
}

fn binary() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nginx is not installed: run scripts/test, which installs it")
}

impl Nginx {
    pub fn start(upstreams: &[String]) -> Nginx {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("floodgate-nginx-{port}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("floodgate.conf"), render(upstreams, port)).unwrap();
        let main = format!(
            "master_process off;\nworker_processes 1;\nerror_log {d}/logs/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n \
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/floodgate.conf;\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let child = Command::new(binary())
            .args([
                "-p",
                &dir.display().to_string(),
                "-c",
                &dir.join("nginx.conf").display().to_string(),
                "-g",
                "daemon off;",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx runs");
        let mut nginx = Nginx { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(nginx.dir.join("logs/error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        nginx
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    /// One process to stop: `master_process off` above, so no worker outlives it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
