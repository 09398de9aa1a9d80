//! `migrate-worker`: configured from the environment only; see the README.

use std::sync::atomic::Ordering;

use migrate_worker::config::WorkerConfig;
use migrate_worker::redact::Redactor;
use migrate_worker::service::{Shared, run};
use tracing::{error, info, warn};

/// A setting, or the file its `_FILE` twin names (`DB_PASSWORD_FILE`).
/// A twin that cannot be read is a bad configuration: exit 2.
fn env(name: &str) -> Option<String> {
    migrate_mappings::process_env_or_file(name, &mut |e| {
        eprintln!("migrate-worker: configuration: {e}");
        std::process::exit(2);
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::io::IsTerminal;
    // Every TLS connection uses ring (see the migrate binary's main).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("--help" | "-h" | "help") => {
            print!("{}", migrate_worker::usage::usage());
            return std::process::ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("migrate-worker {}", env!("CARGO_PKG_VERSION"));
            return std::process::ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("migrate-worker: unknown argument {other:?}; it takes none (see migrate-worker --help)");
            return std::process::ExitCode::from(2);
        }
    }
    // JSON logs are for when it runs; on a terminal a bad setting is one
    // plain sentence.
    let terminal = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let redactor = Redactor::from_env(&env);
    let config = match WorkerConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            let why = redactor.clean(&e.0);
            if terminal {
                eprintln!("migrate-worker: {why} (see migrate-worker --help)");
            } else {
                error!(error = %why, "bad configuration");
            }
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.http_addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, addr = %config.http_addr, "cannot listen");
            return std::process::ExitCode::from(2);
        }
    };
    let grace = config.shutdown_grace;
    let shared = match Shared::connect(config, redactor.clone()).await {
        Ok(s) => s,
        Err(e) => {
            error!(error = %redactor.clean(&format!("{e:#}")), "cannot start");
            return std::process::ExitCode::from(1);
        }
    };
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), worker = %shared.config.worker_id, "worker started");
    tokio::spawn(migrate_worker::http::serve(listener, shared.clone()));

    let signals = shared.clone();
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new jobs; the current one may finish within the grace period"
        );
        let _ = signals.stopping.send(true);
        tokio::time::sleep(grace).await;
        warn!("grace period over: cancelling the current job");
        signals.cancel.store(true, Ordering::Relaxed);
    });

    run(shared.clone()).await;
    shared.finish_deliveries(grace).await;
    info!("worker stopped");
    std::process::ExitCode::SUCCESS
}
