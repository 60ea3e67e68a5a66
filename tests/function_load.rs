//! A library that went missing is loaded once: after `FUNCTION FLUSH` (or a Redis restart) the
//! decisions in flight wait for one `FUNCTION LOAD` instead of each sending its own, all get
//! decided on Redis, and the breaker stays closed. Counted with `INFO commandstats`.

mod support;

use support::{Backend, SharedStore, TestApp};

/// `FUNCTION LOAD` calls since the last `CONFIG RESETSTAT`.
fn function_loads(store: &SharedStore) -> u64 {
    store
        .cli_each(&["INFO", "commandstats"])
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| line.strip_prefix("cmdstat_function|load:calls="))
        .map(|rest| rest.split(',').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn fifty_decisions_that_find_the_library_flushed_load_it_once() {
    let app = TestApp::on(Backend::Redis, &[]).await;
    assert!(
        app.single("warmup", "bob", "loads the library")
            .await
            .is_allow()
    );
    app.store.cli_each(&["FUNCTION", "FLUSH"]);
    app.store.cli_each(&["CONFIG", "RESETSTAT"]);
    // Every call pauses for 300 ms (well inside the tests' 2 s budget), so the fifty are all
    // in flight before Redis answers the first and each finds the library missing. Redis lifts
    // the pause itself; the test does not sleep.
    app.store.cli_each(&["CLIENT", "PAUSE", "300", "ALL"]);
    let decisions = (0..50).map(|i| {
        let app = &app;
        async move {
            app.single(&format!("sender{i}"), "bob", "hello there")
                .await
        }
    });
    let replies = futures_util::future::join_all(decisions).await;
    assert!(replies.iter().all(|r| r.is_allow()), "{replies:?}");
    assert_eq!(function_loads(&app.store), 1);
    assert_eq!(app.metric("floodgate_degraded").await, 0.0);
    app.assert_store_healthy().await;
}
