//! Wiring and lifetime of the gateway process: open the store, build providers, tools and
//! the agent, bind the listener, serve until shutdown, then abort runs cleanly (each is
//! recorded) and remove the discovery file.
//!
//! Invariant: the discovery file `<data_dir>/gateway.json` exists only while the listener
//! is bound and the store is open, so clients that find it can connect.

pub mod agents;
pub mod build;
pub mod channels;
pub mod notify;
pub mod reload;
pub mod tools;

use crate::config::{AuthMode, Config, ConfigError};
use crate::gateway::{GatewayState, router};
use crate::router::{DeliveryOptions, DispatchError, Dispatcher, DispatcherOptions};
use crate::storage::{Store, StoreError, StoreOptions};
use notify::Notifier;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Grace period for runs to record their abort at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Configuration (exit code 78).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Memory could not be opened.
    #[error("memory: {0}")]
    Memory(#[from] crate::memory::MemoryError),
    /// Startup recovery failed.
    #[error("recovering the inbox: {0}")]
    Recover(#[from] DispatchError),
    /// A file or directory operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source} (is another gateway running? try --port)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl DaemonError {
    /// Exit code: 78 (EX_CONFIG) for configuration errors, 69 (EX_UNAVAILABLE) for a port
    /// in use, 74 (EX_IOERR) for storage, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) => crate::config::EX_CONFIG,
            Self::Bind { .. } => 69,
            Self::Store(_) | Self::Io { .. } | Self::Memory(_) => 74,
            Self::Recover(_) => 1,
        }
    }
}

/// What `hearth gateway` was asked to run.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The validated configuration.
    pub config: Config,
    /// The file it came from, for `status`.
    pub config_path: Option<PathBuf>,
    /// The resolved data directory.
    pub data_dir: PathBuf,
    /// `--bind` override.
    pub bind: Option<String>,
    /// `--port` override.
    pub port: Option<u16>,
}

/// The discovery file clients read to find a local gateway.
pub fn discovery_path(data_dir: &Path) -> PathBuf {
    data_dir.join("gateway.json")
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> DaemonError {
    move |source| DaemonError::Io { what, source }
}

/// Runs the gateway until `shutdown` fires (SIGTERM/SIGINT in `hearth gateway`).
///
/// # Errors
/// [`DaemonError`] for anything that prevents serving.
pub async fn run(opts: DaemonOptions, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let t0 = Instant::now();
    let notifier = Arc::new(Notifier::from_env());
    let cfg = &opts.config;
    let data_dir = &opts.data_dir;
    notifier.status(&format!("opening the store in {}", data_dir.display()));
    create_private_dir(data_dir)?;
    let store = Store::open(
        &data_dir.join("store"),
        StoreOptions {
            map_size_bytes: cfg.storage.map_size_mib << 20,
        },
    )?;

    let workspace = build::workspace_dir(cfg, data_dir);
    let models_dir = build::models_dir(cfg, data_dir);
    let build::Routes {
        routes,
        local: local_models,
    } = build::routes(cfg, &models_dir)?;
    let file = opts.config_path.clone();
    // MCP servers connect in the background: a server that is down never delays start-up.
    let mcp = Arc::new(crate::mcp::start(&cfg.mcp, &workspace));
    // Children (exec, MCP servers) cannot read this process's memory or environment.
    crate::sandbox::harden_gateway();
    tools::report_sandbox(cfg);
    let kit = tools::kit(cfg, &store);
    let ws = tools::open_workspace(&workspace)?;
    notifier.status("opening memory");
    let memory = build::open_memory(cfg, data_dir, &store, ws.clone())?;
    let (agent, others) = agents::all(
        cfg,
        &agents::Parts {
            data_dir,
            store: &store,
            routes: &routes,
            file: file.clone(),
            mcp: &mcp,
            kit: &kit,
            ws: &ws,
            memory: memory.as_ref(),
        },
    )?;
    let dispatcher = Dispatcher::new(
        store.clone(),
        agent,
        DispatcherOptions {
            queue: cfg.queue.settings(),
            by_channel: cfg.queue.channels.clone(),
            max_concurrent_runs: cfg.agent.max_concurrent_runs,
            delivery: DeliveryOptions {
                max_attempts: cfg.outbox.max_attempts,
                backoff_initial: Duration::from_millis(cfg.outbox.backoff_initial_ms),
                backoff_max: Duration::from_millis(cfg.outbox.backoff_max_ms),
                send_timeout: Duration::from_millis(cfg.outbox.send_timeout_ms),
                keep_sent: Duration::from_secs(cfg.outbox.keep_sent_hours * 3600),
            },
        },
    );
    for sink in crate::gateway::GatewaySink::all() {
        dispatcher.register_outbound(std::sync::Arc::new(sink));
    }
    kit.approvals.attach(&dispatcher);
    for (id, a) in others {
        dispatcher.add_agent(&id, a);
    }
    let gate = Arc::new(crate::router::ChannelGate::new(
        dispatcher.clone(),
        channels::gate_options(cfg),
    ));
    let enabled: Vec<&str> = channels::settings(cfg)
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(n, _)| n)
        .collect();
    let adapters = channels::register(cfg, &dispatcher, &ws, &gate, &enabled)?;
    notifier.status("recovering the inbox");
    sweep_dedupe(&store);
    let recovered = dispatcher.recover().await?;
    kit.link.attach(&dispatcher);
    tools::start_scheduler(cfg, &dispatcher, &ws, &kit, &shutdown).await;

    let bind = opts
        .bind
        .clone()
        .unwrap_or_else(|| cfg.gateway.bind.clone());
    let ip: IpAddr = bind.parse().map_err(|_| ConfigError::Invalid {
        file: opts.config_path.clone().unwrap_or_default(),
        line: None,
        key: "gateway.bind".into(),
        message: format!("{bind:?} is not an IP address"),
    })?;
    let token = match cfg.gateway.auth {
        AuthMode::Token => Some(build::gateway_token(cfg, data_dir)?),
        AuthMode::None if !ip.is_loopback() => {
            return Err(ConfigError::Invalid {
                file: opts.config_path.clone().unwrap_or_default(),
                line: None,
                key: "gateway.auth".into(),
                message: format!("refusing to listen on non-loopback {ip} without auth; set gateway.auth = \"token\""),
            }
            .into());
        }
        AuthMode::None => None,
    };
    let addr = SocketAddr::new(ip, opts.port.unwrap_or(cfg.gateway.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(io("cannot read the bound address".into()))?;

    let gw_shutdown = CancellationToken::new();
    let info = serde_json::json!({
        "dataDir": data_dir,
        "configFile": opts.config_path,
        "workspace": workspace,
        "modelsDir": models_dir,
        "installedModels": crate::models::list(&models_dir).iter().filter(|m| m.installed).map(|m| m.name.clone()).collect::<Vec<_>>(),
        "listen": local.to_string(),
        "heartbeat": {
            "every": cfg.heartbeat.every,
            "everyMs": crate::cron::parse_heartbeat_every(&cfg.heartbeat.every).ok().flatten(),
            "target": cfg.heartbeat.target,
            "ackMaxChars": cfg.heartbeat.ack_max_chars,
        },
    });
    // Each adapter's stop switch, so a reload can stop and start one alone.
    let stops: std::collections::HashMap<String, CancellationToken> = enabled
        .iter()
        .map(|n| (n.to_string(), shutdown.child_token()))
        .collect();
    let reloader = Arc::new(reload::Reloader::new(reload::Wired {
        cfg: cfg.clone(),
        path: opts.config_path.clone(),
        data_dir: data_dir.clone(),
        store: store.clone(),
        dispatcher: dispatcher.clone(),
        routes: routes.clone(),
        mcp: mcp.clone(),
        kit: kit.clone(),
        ws: ws.clone(),
        memory: memory.clone(),
        gate: gate.clone(),
        stops: stops.clone(),
        shutdown: shutdown.clone(),
    }));
    let state = GatewayState {
        dispatcher: dispatcher.clone(),
        token: token.map(Arc::from),
        started: Instant::now(),
        tick_ms: cfg.gateway.tick_secs.max(1) * 1000,
        connections: Arc::new(tokio::sync::Semaphore::new(cfg.gateway.max_connections)),
        shutdown: gw_shutdown.clone(),
        info: Arc::new(info),
        memory: memory.clone(),
        auth: Default::default(),
        hooks: build::hooks(cfg)?,
        webhooks: Arc::new(adapters.webhooks.clone()),
        ollama: build::ollama(cfg)?,
        mcp: build::mcp_server(cfg)?,
        cron: Some(Arc::new(kit.cron.clone())),
        loaded_models: Some(Arc::new(build::OnDevice {
            local: local_models,
            embedder: memory.as_ref().map(|m| m.embedder().clone()),
        })),
        metrics: cfg.gateway.metrics,
        presence: Default::default(),
        config: Some(reloader.clone()),
        update_status: Some(Arc::new(|| {
            crate::update::Layout::new(crate::update::DEFAULT_PREFIX).status_json()
        })),
    };
    let discovery = discovery_path(data_dir);
    let doc = serde_json::json!({"url": format!("ws://{local}/"), "port": local.port(), "bind": ip.to_string(), "pid": std::process::id()});
    build::write_private(&discovery, doc.to_string().as_bytes())
        .map_err(io(format!("cannot write {}", discovery.display())))?;
    tracing::info!(
        listen = %local, data_dir = %data_dir.display(), requeued = recovered.queued,
        resumed = recovered.resumed, interrupted = recovered.interrupted.len(),
        startup_ms = t0.elapsed().as_millis() as u64, "gateway ready"
    );

    channels::start(adapters, cfg, &ws, &|n| {
        stops
            .get(n)
            .cloned()
            .unwrap_or_else(|| shutdown.child_token())
    })
    .map_err(io("cannot start the channel adapters".into()))?;
    reload::on_sighup(reloader.clone(), notifier.clone(), shutdown.clone());
    let indexer = memory.clone().map(|m| {
        build::spawn_indexer(m, Duration::from_secs(cfg.memory.sync_interval_secs.max(1)))
    });
    let for_stop = dispatcher.clone();
    let stopping = notifier.clone();
    // TCP_NODELAY: an SSE delta or an event frame goes out at once instead of waiting for
    // the peer's delayed ACK (Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.cancelled().await;
        tracing::info!(
            "shutting down: suspending turns in flight (they run again at the next start)"
        );
        stopping.stopping("stopping: suspending turns in flight");
        gw_shutdown.cancel();
        for_stop.shutdown(SHUTDOWN_GRACE).await;
    });
    let mut server = tokio::spawn(async move { serve.await });
    notifier.ready(&format!(
        "listening on {local}; inbox: {} requeued, {} resumed, {} interrupted",
        recovered.queued,
        recovered.resumed,
        recovered.interrupted.len()
    ));
    let served = main_loop(&notifier, &mut server, local).await;
    // Stops the MCP connections and kills every stdio server's process group, and every
    // background job of `exec`.
    drop(mcp);
    let mcp = reloader.mcp().await;
    let _ = tokio::task::spawn_blocking(move || mcp.shutdown()).await;
    kit.jobs.kill_all();
    if let Some((stop, handle)) = indexer {
        drop(stop);
        // The indexer finishes its current batch (each is committed atomically).
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
    let _ = std::fs::remove_file(&discovery);
    if let Err(e) = store.read_txn() {
        tracing::warn!("store check at exit: {e}");
    }
    tracing::info!("gateway stopped");
    served
}

/// The gateway's main loop: waits for the server task to end and, under a systemd watchdog,
/// sends `WATCHDOG=1` every third of `WatchdogSec=` while [`self_check`] passes. A check that
/// fails (or a loop that stops turning) withholds the ping, so systemd restarts the service.
async fn main_loop(
    notifier: &Notifier,
    server: &mut tokio::task::JoinHandle<std::io::Result<()>>,
    listen: SocketAddr,
) -> Result<(), DaemonError> {
    let joined = |r: Result<std::io::Result<()>, tokio::task::JoinError>| match r {
        Ok(r) => r.map_err(io("server error".into())),
        Err(e) => Err(DaemonError::Io {
            what: "server task".into(),
            source: std::io::Error::other(e.to_string()),
        }),
    };
    let Some(every) = notifier.watchdog_interval() else {
        return joined(server.await);
    };
    let wedge_at = fault_wedge_after().map(|d| Instant::now() + d);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;
    loop {
        tokio::select! {
            r = &mut *server => return joined(r),
            _ = tick.tick() => {
                if wedge_at.is_some_and(|t| Instant::now() >= t) {
                    tracing::error!("fault injection ({FAULT_WEDGE_ENV}): the main loop blocks for good");
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
                match self_check(listen, every.min(Duration::from_secs(5))).await {
                    Ok(()) => {
                        if !healthy {
                            tracing::info!("self-check passes again");
                            notifier.status(&format!("listening on {listen}"));
                        }
                        healthy = true;
                        notifier.watchdog();
                    }
                    Err(why) => {
                        if healthy {
                            tracing::warn!("self-check failed, withholding the watchdog ping: {why}");
                        }
                        healthy = false;
                        notifier.status(&format!("unhealthy: {why}"));
                    }
                }
            }
        }
    }
}

/// Test-only fault injection: `HEARTH_FAULT_WEDGE_MAIN_LOOP_AFTER_MS=N` makes the main loop
/// block its thread N ms after startup, as a deadlock would (the server tasks go on), so the
/// notify tests can see the watchdog pings stop.
const FAULT_WEDGE_ENV: &str = "HEARTH_FAULT_WEDGE_MAIN_LOOP_AFTER_MS";

fn fault_wedge_after() -> Option<Duration> {
    std::env::var(FAULT_WEDGE_ENV)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// The watchdog's health check: `GET /readyz` over the gateway's own listener answers 200
/// within `timeout`. That proves the accept loop, the router, a runtime worker and an LMDB
/// read transaction work, and that shutdown has not begun.
///
/// # Errors
/// A one-line reason: connect failure, timeout, or the status line received.
pub async fn self_check(listen: SocketAddr, timeout: Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write to {addr}: {e}"))?;
        let mut buf = Vec::with_capacity(256);
        s.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read from {addr}: {e}"))?;
        let head = String::from_utf8_lossy(&buf);
        let status = head.lines().next().unwrap_or("").to_string();
        if status.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            let body = head
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_string();
            Err(format!("/readyz answered {status:?} {body}"))
        }
    };
    match tokio::time::timeout(timeout, probe).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "/readyz did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

fn sweep_dedupe(store: &Store) {
    let r = store.write_txn().and_then(|mut w| {
        let n = store.dedupe_sweep(&mut w)?;
        store.commit(w)?;
        Ok(n)
    });
    match r {
        Ok(n) if n > 0 => tracing::debug!(removed = n, "expired idempotency keys removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot sweep idempotency keys: {e}"),
    }
}

/// Creates `dir` (and parents) and restricts it to the owner (0700).
///
/// # Errors
/// [`DaemonError::Io`].
pub fn create_private_dir(dir: &Path) -> Result<(), DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .map_err(io(format!("cannot create data dir {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("cannot set permissions of {}", dir.display())))
}
