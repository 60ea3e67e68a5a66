//! The docker-compose stack and the image, checked without a Docker engine: the compose file
//! names its services, mounts files that exist, wires healthchecks and the env file; the
//! Dockerfile builds and starts floodgate the way the README says; and the image's health
//! check command works when run directly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_yaml::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string("docker-compose.yml").unwrap();
    let mut compose: Value = serde_yaml::from_str(&text).unwrap();
    compose.apply_merge().unwrap();
    compose
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

#[test]
fn compose_runs_redis_three_replicas_nginx_prometheus_and_grafana() {
    let compose = compose();
    for name in [
        "redis",
        "floodgate-1",
        "floodgate-2",
        "floodgate-3",
        "nginx",
        "prometheus",
        "grafana",
    ] {
        service(&compose, name);
    }
    for replica in ["floodgate-1", "floodgate-2", "floodgate-3"] {
        let replica = service(&compose, replica);
        assert_eq!(
            replica["build"].as_str(),
            Some("."),
            "built from the repository's Dockerfile"
        );
        assert_eq!(replica["env_file"].as_str(), Some("floodgate.env"));
        assert_eq!(
            replica["environment"]["FLOODGATE_REDIS_URL"].as_str(),
            Some("redis://redis:6379")
        );
        let test: Vec<&str> = replica["healthcheck"]["test"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(test, ["CMD", "/usr/local/bin/floodgate", "healthcheck"]);
    }
    // nginx fronts exactly the three replicas, with the template the tests run behind.
    let nginx = service(&compose, "nginx");
    let upstreams = nginx["environment"]["FLOODGATE_UPSTREAM_SERVERS"]
        .as_str()
        .unwrap();
    for replica in ["floodgate-1:8080", "floodgate-2:8080", "floodgate-3:8080"] {
        assert!(upstreams.contains(replica), "{upstreams}");
    }
    let mounts = nginx["volumes"].as_sequence().unwrap();
    assert!(mounts.iter().any(|m| {
        m.as_str()
            .unwrap()
            .starts_with("./deploy/nginx/floodgate.conf.template:/etc/nginx/templates/")
    }));
    // Prometheus scrapes every replica's admin port.
    let scrape = std::fs::read_to_string("deploy/prometheus/prometheus.yml").unwrap();
    for target in ["floodgate-1:9091", "floodgate-2:9091", "floodgate-3:9091"] {
        assert!(scrape.contains(target), "{target}");
    }
}

#[test]
fn every_file_compose_mounts_exists_in_the_repository() {
    let compose = compose();
    let mut mounted = 0;
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            assert!(
                Path::new(host).exists(),
                "{name:?} mounts {host}, which is not in the repository"
            );
            mounted += 1;
        }
        if let Some(env_file) = service["env_file"].as_str() {
            assert!(Path::new(env_file).exists(), "{env_file}");
        }
    }
    assert!(mounted >= 4);
}

#[test]
fn the_env_file_is_a_valid_floodgate_configuration() {
    let text = std::fs::read_to_string("floodgate.env").unwrap();
    let vars: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(vars.len() > 10);
    floodgate::config::Config::from_vars(vars).expect("floodgate.env parses");
}

#[test]
fn the_dockerfile_builds_and_starts_floodgate_as_the_readme_says() {
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    let readme = std::fs::read_to_string("README.md").unwrap();
    let build = "cargo build --release --locked --bin floodgate";
    let entrypoint = r#"ENTRYPOINT ["/usr/local/bin/floodgate"]"#;
    assert!(dockerfile.contains(&format!("RUN {build}")));
    assert!(dockerfile.contains(entrypoint));
    assert!(
        readme.contains(build) && readme.contains(entrypoint),
        "the README documents both"
    );
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert_ne!(user.trim(), "0");
    assert!(dockerfile.contains(r#"HEALTHCHECK"#) && dockerfile.contains(r#""healthcheck"]"#));
    // Everything the build copies exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        for source in line
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .split_last()
            .unwrap()
            .1
        {
            assert!(Path::new(source).exists(), "COPY {source}");
        }
    }
}

#[test]
fn the_images_healthcheck_command_reports_a_running_and_a_missing_server() {
    let binary = env!("CARGO_BIN_EXE_floodgate");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // Nothing listens there yet: unhealthy.
    let missing = Command::new(binary)
        .arg("healthcheck")
        .env_clear()
        .env("FLOODGATE_ADMIN_LISTEN", &admin)
        .output()
        .unwrap();
    assert_eq!(
        missing.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let mut server = Command::new(binary)
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", admin.as_str()),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let check = Command::new(binary)
            .arg("healthcheck")
            .env_clear()
            .env("FLOODGATE_ADMIN_LISTEN", &admin)
            .status()
            .unwrap();
        if check.success() {
            break;
        }
        assert!(Instant::now() < deadline, "healthcheck never passed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
}
