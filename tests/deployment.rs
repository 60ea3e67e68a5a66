//! The docker-compose stack and the image, checked without a Docker engine: the compose file
//! names its services, mounts files that exist, wires healthchecks and the env file; the
//! Dockerfile builds and starts floodgate the way the README says; and the image's health
//! check command works when run directly. And the bundled nginx: its timeouts nest around
//! floodgate's answer, and it never sends a POST a second time once a replica has it.

mod support;

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

/// One directive's arguments in the nginx template (`name arg arg;`), from its only line.
fn nginx_directive(name: &str) -> Vec<String> {
    let template = std::fs::read_to_string("deploy/nginx/floodgate.conf.template").unwrap();
    let lines: Vec<&str> = template
        .lines()
        .map(str::trim)
        .filter(|l| l.split_whitespace().next() == Some(name))
        .collect();
    assert_eq!(lines.len(), 1, "{name}: {lines:?}");
    lines[0]
        .trim_end_matches(';')
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect()
}

#[test]
fn nginx_waits_longer_than_floodgates_whole_answer_and_never_bypasses_a_replica_at_work() {
    // floodgate's whole answer in the bundled stack: its decision budget plus the upstream call.
    let text = std::fs::read_to_string("floodgate.env").unwrap();
    let vars = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='));
    let config = floodgate::config::Config::from_vars(
        vars.chain([("FLOODGATE_UPSTREAM_URL", "http://hook:10006/x")]),
    )
    .unwrap();
    let upstream = config.upstream.unwrap().timeout;
    let answer = upstream + config.redis_timeout;
    let read = nginx_directive("proxy_read_timeout");
    let read = Duration::from_secs(read[0].trim_end_matches('s').parse().unwrap());
    // A second of margin for scheduling on a loaded replica: nesting, not a photo finish.
    assert!(
        read >= answer + Duration::from_secs(1),
        "proxy_read_timeout {read:?} must exceed floodgate's answer ({answer:?}) by a margin"
    );
    // Another replica only when the first closed or refused the connection without an answer;
    // never one that is still working on it (timeout) or answered (http_5xx).
    let retry = nginx_directive("proxy_next_upstream");
    assert!(retry.contains(&"error".to_string()), "{retry:?}");
    for condition in &retry {
        assert!(
            ["error", "non_idempotent"].contains(&condition.as_str()),
            "proxy_next_upstream {condition} would send a callback to a second replica"
        );
    }
}

/// A TCP server that reads one request head per connection, counts it, and writes `answer`
/// (nothing: a replica that dies while judging) before closing.
fn fake_replica(
    counter: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    answer: &'static str,
) -> String {
    use std::io::Read;
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            if !head.is_empty() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let _ = stream.write_all(answer.as_bytes());
            // Dropped: the connection closes.
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_bundled_nginx_a_callback_a_replica_works_on_is_never_sent_to_another() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use support::upstream::{Behaviour, UpstreamServer};
    let client = reqwest::Client::new();
    let body = support::single_body("alice", "bob", "hello");
    let url = |nginx: &support::nginx::Nginx| format!("{}/openim/{}", nginx.url(), support::SINGLE);

    // A replica that answers 503 (or 502) is not bypassed: the answer goes back as it came.
    const UNAVAILABLE: &str =
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let received = Arc::new(AtomicUsize::new(0));
    let busy = [
        fake_replica(received.clone(), UNAVAILABLE),
        fake_replica(received.clone(), UNAVAILABLE),
    ];
    let nginx = support::nginx::Nginx::start(&busy);
    let response = client.post(url(&nginx)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the POST went to a second replica"
    );
    drop(nginx);

    // One that closes the connection without a word (shutting down, crashed) could not have
    // answered: the POST goes to another, as a rolling restart needs.
    let received = Arc::new(AtomicUsize::new(0));
    let gone = [
        fake_replica(received.clone(), ""),
        fake_replica(received.clone(), ""),
    ];
    let nginx = support::nginx::Nginx::start(&gone);
    let response = client.post(url(&nginx)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(received.load(Ordering::SeqCst), 2);
    drop(nginx);

    // A replica that is not there at all: the POST never left, so another replica gets it.
    let live = support::replica::Replica::start(&[]);
    let dead = format!("127.0.0.1:{}", support::redis::free_port());
    let nginx = support::nginx::Nginx::start(&[dead, live.webhook_address()]);
    for _ in 0..3 {
        let response = client.post(url(&nginx)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    drop(nginx);
    drop(live);

    // The operator's webhook hangs: floodgate's fail mode answers within nginx's patience, and
    // the webhook is called once, by one replica. The bundled defaults, as docker-compose runs
    // them (FLOODGATE_UPSTREAM_TIMEOUT 5s): this case takes those 5 seconds.
    let upstream = UpstreamServer::start().await;
    upstream.behave(Behaviour::Slow(Duration::from_secs(60)));
    let vars = vec![("FLOODGATE_UPSTREAM_URL".to_string(), upstream.url.clone())];
    let replicas: Vec<_> = (0..3)
        .map(|_| support::replica::Replica::start(&vars))
        .collect();
    let addresses: Vec<String> = replicas.iter().map(|r| r.webhook_address()).collect();
    let nginx = support::nginx::Nginx::start(&addresses);
    let response = client.post(url(&nginx)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        reply,
        support::allow_body(),
        "fail mode open: floodgate's own allow"
    );
    assert_eq!(
        upstream.seen().len(),
        1,
        "the webhook was called by more than one replica"
    );
}
