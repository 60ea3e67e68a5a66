//! A rolling restart behind nginx: one replica gets SIGTERM while OpenIM-like load flows, exits
//! cleanly after finishing what it had, and comes back on the same port. No request fails.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::nginx::Nginx;
use support::replica::Replica;
use support::{Reply, SINGLE, SharedStore, single_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_on_one_replica_during_load_loses_no_callback() {
    let store = SharedStore::start(support::Backend::Redis);
    let vars = store.vars();
    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&vars)).collect();
    let upstreams: Vec<String> = replicas.iter().map(Replica::webhook_address).collect();
    let nginx = Nginx::start(&upstreams);

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..6 {
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        let url = format!("{}/openim/{SINGLE}", nginx.url());
        load.spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = single_body(
                    &format!("user{worker}-{}", n % 50),
                    "friend",
                    &format!("message {n}"),
                );
                match client.post(&url).json(&body).send().await {
                    Ok(response) if response.status() == 200 => {
                        let reply = Reply::read(response).await;
                        assert!(reply.body["actionCode"] == 0, "{:?}", reply.body);
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => {
                        eprintln!("failed: HTTP {}", response.status());
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        eprintln!("failed: {error}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }

    let wait_for_progress = |at_least: u64| {
        let answered = answered.clone();
        async move {
            while answered.load(Ordering::Relaxed) < at_least {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for_progress(300).await;
    let address = replicas[0].webhook_address();
    let clean = tokio::task::block_in_place(|| replicas[0].terminate());
    assert!(clean, "SIGTERM ends the replica with status 0");
    let before_restart = answered.load(Ordering::Relaxed);
    wait_for_progress(before_restart + 300).await;
    // Back on the same port, as an orchestrator would restart it.
    let mut vars = vars.clone();
    vars.push(("FLOODGATE_LISTEN".into(), address));
    replicas[0] = tokio::task::block_in_place(|| Replica::start(&vars));
    let after_restart = answered.load(Ordering::Relaxed);
    wait_for_progress(after_restart + 300).await;

    stop.store(true, Ordering::Relaxed);
    while let Some(worker) = load.join_next().await {
        worker.expect("load worker");
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "callbacks failed during the rolling restart"
    );
    println!(
        "rolling restart: {} callbacks answered, none failed",
        answered.load(Ordering::Relaxed)
    );
    drop(store);
}
