//! The `floodgate` binary: configuration from the environment, then the app until SIGTERM.

use floodgate::app::Application;
use floodgate::clock::Clock;
use floodgate::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("floodgate: {error}");
            std::process::exit(2);
        }
    };
    floodgate::telemetry::init(&config);
    let app = match Application::build(config, Clock::System).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("floodgate: {error}");
            std::process::exit(2);
        }
    };
    tracing::info!(webhook = %app.webhook_addr(), admin = %app.admin_addr(), "floodgate serving");
    app.run_until(shutdown_signal()).await;
    tracing::info!("floodgate stopped");
    Ok(())
}

/// SIGTERM (orchestrators, rolling restarts) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
