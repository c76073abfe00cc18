//! `hearth gateway`: run the daemon in the foreground until SIGTERM or SIGINT.

use crate::config::Loaded;
use crate::daemon::{DaemonOptions, run as run_daemon};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Runs the gateway; returns the exit code (0 after a clean shutdown, 78 on bad config).
pub fn run(loaded: Loaded, data_dir: PathBuf, bind: Option<String>, port: Option<u16>) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearth: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let opts = DaemonOptions {
        config: loaded.config,
        config_path: loaded.path,
        data_dir,
        bind,
        port,
    };
    let code = rt.block_on(async move {
        let shutdown = CancellationToken::new();
        let s = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            s.cancel();
        });
        match run_daemon(opts, shutdown).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("hearth: {e}");
                e.exit_code()
            }
        }
    });
    // A provider call blocked in I/O keeps its blocking thread; its run is already recorded
    // as aborted, so do not wait for it (dropping the runtime would).
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the gateway with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
