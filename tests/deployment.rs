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
        let url = replica["environment"]["FLOODGATE_REDIS_URL"]
            .as_str()
            .unwrap();
        assert!(
            url.starts_with("redis://:${REDIS_PASSWORD:?") && url.ends_with("}@redis:6379"),
            "{url}"
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

/// `docker-compose config` (Debian's docker-compose, no engine needed) with `env` as the
/// stack's `.env`: its exit status and its output.
fn compose_config(env: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("floodgate-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join(format!("env-{}", env.len()));
    std::fs::write(&env_file, env).unwrap();
    let output = Command::new("docker-compose")
        .args(["-f", "docker-compose.yml", "--env-file"])
        .arg(&env_file)
        .arg("config")
        .output()
        .expect("docker-compose is not installed: run scripts/test, which installs it");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The stack's secrets, as a test's `.env` sets them.
const SECRETS: [(&str, &str); 4] = [
    ("FLOODGATE_AUTH_TOKEN", "t0ken-for-tests"),
    ("FLOODGATE_ADMIN_TOKEN", "admin-t0ken-for-tests"),
    ("REDIS_PASSWORD", "redis-pw-for-tests"),
    ("GRAFANA_ADMIN_PASSWORD", "pw-for-tests"),
];

#[test]
fn the_stack_publishes_on_loopback_and_refuses_to_start_without_its_secrets() {
    let (ok, text) = compose_config("");
    assert!(!ok, "compose accepted an empty .env: {text}");
    // Each secret is required on its own, by name.
    for (missing, _) in SECRETS {
        let env: String = SECRETS
            .iter()
            .filter(|(name, _)| *name != missing)
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        let (ok, text) = compose_config(&env);
        assert!(!ok, "compose started without {missing}: {text}");
        assert!(text.contains(missing), "{missing}: {text}");
    }

    let env: String = SECRETS
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    let (ok, text) = compose_config(&env);
    assert!(ok, "{text}");
    let config: Value = serde_yaml::from_str(&text).unwrap();
    for (name, service) in config["services"].as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().map(str::to_string).unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    port["host_ip"].as_str().unwrap_or(""),
                    port["published"].as_u64().unwrap_or(0)
                )
            });
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name:?} publishes {port} beyond loopback"
            );
        }
    }
    for replica in ["floodgate-1", "floodgate-2", "floodgate-3"] {
        let environment = &config["services"][replica]["environment"];
        assert_eq!(environment["FLOODGATE_AUTH_TOKEN"], "t0ken-for-tests");
        assert_eq!(
            environment["FLOODGATE_ADMIN_TOKEN"],
            "admin-t0ken-for-tests"
        );
        assert_eq!(
            environment["FLOODGATE_REDIS_URL"],
            "redis://:redis-pw-for-tests@redis:6379"
        );
    }
    // Redis requires the password, and its health check authenticates without it in argv.
    let redis = &config["services"]["redis"];
    let command: Vec<&str> = redis["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let requirepass = command.iter().position(|a| *a == "--requirepass");
    assert_eq!(
        requirepass.and_then(|i| command.get(i + 1)),
        Some(&"redis-pw-for-tests"),
        "{command:?}"
    );
    assert_eq!(redis["environment"]["REDISCLI_AUTH"], "redis-pw-for-tests");
    let health = format!("{:?}", redis["healthcheck"]["test"]);
    assert!(
        health.contains("PONG") && !health.contains("redis-pw"),
        "{health}"
    );
    assert!(redis["ports"].is_null(), "Redis is not published");
    let grafana = &config["services"]["grafana"]["environment"];
    assert_eq!(grafana["GF_SECURITY_ADMIN_PASSWORD"], "pw-for-tests");
    assert_eq!(grafana["GF_AUTH_ANONYMOUS_ENABLED"], "false");
    let example = std::fs::read_to_string(".env.example").unwrap();
    for (name, _) in SECRETS {
        assert!(
            example.lines().any(|l| l == format!("{name}=")),
            "the README's .env.example names {name}, empty"
        );
    }
}

#[test]
fn the_dockerfiles_example_sets_both_tokens_and_keeps_the_admin_port_on_loopback() {
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    let example: String = dockerfile
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(example.contains("docker run"), "{example}");
    for token in ["FLOODGATE_AUTH_TOKEN=", "FLOODGATE_ADMIN_TOKEN="] {
        assert!(
            example.contains(&format!("-e {token}")),
            "{token}: {example}"
        );
    }
    let published: Vec<&str> = example
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "-p")
        .map(|w| w[1])
        .collect();
    assert!(published.contains(&"127.0.0.1:9091:9091"), "{published:?}");
    assert!(
        published
            .iter()
            .all(|p| !p.ends_with(":9091") || p.starts_with("127.0.0.1:")),
        "{published:?}"
    );
}

#[test]
fn the_readmes_openim_urls_carry_the_token() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let urls: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("url: "))
        .collect();
    assert!(urls.len() >= 3, "{urls:?}");
    for url in urls {
        assert!(url.contains("/openim/<FLOODGATE_AUTH_TOKEN>"), "{url}");
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
fn the_dockerfile_and_the_readme_agree_on_build_entrypoint_user_and_healthcheck() {
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
