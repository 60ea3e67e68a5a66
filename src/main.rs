//! The `floodgate` binary: configuration from the environment, then the app until SIGTERM.

use std::future::Future;

use floodgate::app::Application;
use floodgate::clock::Clock;
use floodgate::config::Config;
use tokio::signal::unix::{SignalKind, signal};

/// mimalloc rather than glibc's malloc: `perf record` on a loaded replica showed a tenth of its
/// time in glibc's malloc and free (small, short-lived allocations from many threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(floodgate::healthcheck::run());
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("floodgate: {error}");
            std::process::exit(2);
        }
    };
    let logging = floodgate::telemetry::init(&config);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    match floodgate::app::raise_open_file_limit() {
        Ok((before, after)) => tracing::info!(before, after, "open-file soft limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file soft limit"),
    }
    // Registered before anything is served, so an early SIGTERM is a clean stop, not a kill.
    let shutdown = shutdown_signal()?;
    let app = match Application::build(config, Clock::System).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("floodgate: {error}");
            std::process::exit(2);
        }
    };
    app.count_dropped_logs(logging.dropped_counter());
    if let Some(keywords) = app.keyword_file() {
        let mut hangups = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let keywords = keywords.clone();
                let _ = tokio::task::spawn_blocking(move || keywords.reload("SIGHUP")).await;
            }
        });
    }
    tracing::info!(webhook = %app.webhook_addr(), admin = %app.admin_addr(), "floodgate serving");
    app.run_until(shutdown).await;
    tracing::info!("floodgate stopped");
    if logging.dropped_lines() > 0 {
        eprintln!(
            "floodgate: {} log lines were dropped",
            logging.dropped_lines()
        );
    }
    Ok(())
}

/// Resolves on SIGTERM (orchestrators, rolling restarts) or SIGINT (Ctrl-C).
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
            _ = interrupt.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
        }
    })
}
