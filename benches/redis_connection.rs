//! Which Redis connection floodgate should use, measured: the `redis` crate's multiplexed
//! connection (what `RedisStore` uses) against a `deadpool-redis` pool, each running the same
//! script call on a real `redis-server` this bench starts on a free port. Besides the time per
//! call, it counts the commands Redis saw per call (`INFO commandstats`): a pool that PINGs on
//! every checkout doubles the round trips.

use criterion::{Criterion, criterion_group, criterion_main};
use redis::Script;

// As src/store/redis builds it: the reply packing and the campaign rule's functions, then the
// script's entry (its reply is one packed string).
const CAMPAIGN: &str = concat!(
    include_str!("../lua/reply.lua"),
    include_str!("../lua/campaign_check.lua"),
    include_str!("../lua/campaign.lua")
);

// The test suite's real-server helper (free port, retries, cleanup), shared rather than copied.
#[allow(dead_code, unreachable_pub)]
#[path = "../tests/support/redis.rs"]
mod redis_server;

use redis_server::RedisServer;

/// Commands Redis received from clients per script call since the last reset.
fn commands_per_call(server: &RedisServer, calls: u64) -> String {
    let text = server.cli(&["INFO", "commandstats"]);
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    format!(
        "evalsha {:.2}, ping {:.2}",
        count("evalsha") as f64 / calls as f64,
        count("ping") as f64 / calls as f64
    )
}

fn invocation(script: &Script, i: u64) -> redis::ScriptInvocation<'_> {
    let mut invocation = script.prepare_invoke();
    // As `RedisStore::check_campaign_key` calls it: the key's copies and its vouchers (one
    // slot); then the sender (16 bytes), the recipient, the v3 limits and the page (none: not a
    // domain key).
    let key = format!("bench:{{f:{}}}", i % 1000);
    invocation
        .key(format!("{key}:c"))
        .key(format!("{key}:v"))
        .arg("check")
        .arg(1_767_225_600_000u64 + i)
        .arg(5)
        .arg(600_000)
        .arg("E")
        .arg(u128::from(i % 7).to_be_bytes().to_vec())
        .arg((i % 5).to_be_bytes().to_vec())
        .arg(2)
        .arg("k")
        .arg(2_592_000_000u64)
        .arg(3)
        .arg("")
        .arg(6);
    invocation
}

fn connections(c: &mut Criterion) {
    let server = RedisServer::start();
    let port = server.port;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let script = Script::new(CAMPAIGN);
    let mut group = c.benchmark_group("redis_script_call");

    let multiplexed = runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        redis::aio::ConnectionManager::new(client).await.unwrap()
    });
    let mut i = 0u64;
    runtime.block_on(async {
        invocation(&script, 0)
            .invoke_async::<Vec<u8>>(&mut multiplexed.clone())
            .await
            .unwrap()
    });
    server.cli(&["CONFIG", "RESETSTAT"]);
    let mut calls = 0;
    group.bench_function("multiplexed", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            calls += 1;
            let mut connection = multiplexed.clone();
            let invocation = invocation(&script, i);
            async move {
                invocation
                    .invoke_async::<Vec<u8>>(&mut connection)
                    .await
                    .unwrap()
            }
        })
    });
    println!(
        "multiplexed: per call {}",
        commands_per_call(&server, calls)
    );

    let pool = deadpool_redis::Config::from_url(url.as_str())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    runtime.block_on(async {
        invocation(&script, 0)
            .invoke_async::<Vec<u8>>(&mut pool.get().await.unwrap())
            .await
            .unwrap()
    });
    server.cli(&["CONFIG", "RESETSTAT"]);
    let mut calls = 0;
    group.bench_function("deadpool", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            calls += 1;
            let pool = pool.clone();
            let invocation = invocation(&script, i);
            async move {
                let mut connection = pool.get().await.unwrap();
                invocation
                    .invoke_async::<Vec<u8>>(&mut connection)
                    .await
                    .unwrap()
            }
        })
    });
    println!("deadpool: per call {}", commands_per_call(&server, calls));
    group.finish();
}

criterion_group!(benches, connections);
criterion_main!(benches);
