//! The command line: `gateway`, `chat`, `agent`, `status`, `doctor`, `sessions`, `models`,
//! `memory`, `logs`, `config`, `onboard`, `import-openclaw`, `service`, `update`,
//! `completions`, … One file per subcommand group; `anyhow` lives in the CLI and in `main.rs`
//! only. Configuration errors exit with 78 (EX_CONFIG); `service`, `update`, `onboard` and
//! `import-openclaw` run even when the config file is broken.

mod approvals;
mod channels;
mod client;
mod cron;
mod doctor;
mod doctor_mcp;
mod gateway;
mod import;
mod logs;
mod memory;
mod models;
mod onboard;
mod onboard_checks;
mod pairing;
mod service;
mod skills;
mod talk;
mod update;

use crate::config::{self, Config, ConfigError, EX_CONFIG};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Hearth: a personal AI-agent gateway for small always-on boards.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Config file (default: $HEARTH_CONFIG, /etc/hearth/hearth.toml, ~/.config/hearth/hearth.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// State directory (default: $STATE_DIRECTORY, /var/lib/hearth as root, ~/.local/state/hearth).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// How client commands reach a gateway.
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// Gateway WebSocket URL (default: the local gateway found through the data dir).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Gateway token (default: $HEARTH_GATEWAY_TOKEN or the local gateway's token file).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway in the foreground.
    Gateway {
        /// Address to listen on (non-loopback needs token auth).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// TCP port (0 picks a free one; the discovery file records it).
        #[arg(long, value_name = "N")]
        port: Option<u16>,
    },
    /// Chat interactively with the gateway, streaming replies.
    Chat {
        /// Session key.
        #[arg(long, default_value = crate::core::DEFAULT_SESSION_KEY)]
        session: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Send one message and print the reply.
    Agent {
        /// The message.
        #[arg(short, long)]
        message: String,
        /// Session key.
        #[arg(long, default_value = crate::core::DEFAULT_SESSION_KEY)]
        session: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show the gateway, its sessions, models and provider health.
    Status {
        /// Also print the gateway token.
        #[arg(long)]
        show_token: bool,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Check config, data dir, model files and port, and say how to fix problems.
    Doctor,
    /// List, show or reset sessions.
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// List and download on-device models.
    #[command(subcommand)]
    Models(models::ModelsCmd),
    /// Search long-term memory, show its status, rebuild its index.
    #[command(subcommand)]
    Memory(memory::MemoryCmd),
    /// Channel accounts: connection, last error, backlog, dead letters.
    #[command(subcommand)]
    Channels(channels::ChannelsCmd),
    /// Send a message to a chat through a channel.
    #[command(subcommand)]
    Message(MessageCmd),
    /// Answer pairing requests of unknown senders on the channels.
    #[command(subcommand)]
    Pairing(pairing::PairingCmd),
    /// Scheduled jobs: list, add, remove, run now.
    #[command(subcommand)]
    Cron(cron::CronCmd),
    /// Skills: where each comes from, whether it is available, and why not.
    #[command(subcommand)]
    Skills(skills::SkillsCmd),
    /// Answer exec approval requests; export or import the allow-list document.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// The audit ledger: who ran which tool when, how it was decided, how it ended.
    Audit {
        /// Only calls since: 30m, 12h, 7d, or ms since the epoch.
        #[arg(long)]
        since: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// The gateway's recent log lines; with --follow, new ones as they come.
    Logs {
        /// Keep printing new lines (Ctrl-C stops).
        #[arg(short, long)]
        follow: bool,
        /// How many recent lines to print first.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Validate or show the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Install, remove or inspect the systemd service (A/B layout under /opt/hearth).
    #[command(subcommand)]
    Service(service::ServiceCmd),
    /// First-run setup: model and key, gateway, a Telegram or Matrix account and its owner,
    /// Home Assistant, the service; re-runnable; --answers FILE for imaging.
    Onboard(onboard::OnboardArgs),
    /// Carry an OpenClaw installation (~/.openclaw) over: config, secrets as credential
    /// files, workspaces, skills, cron jobs and pairing approvals, with a report.
    ImportOpenclaw(import::ImportArgs),
    /// Install a signed release A/B style, with automatic rollback; keys and signing.
    Update(update::UpdateArgs),
    /// Print shell completions.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum MessageCmd {
    /// Queue a message for a chat (delivered through the outbox, with retries).
    Send(channels::MessageSend),
}

#[derive(Debug, Subcommand)]
enum SessionsCmd {
    /// List sessions.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Print a session's transcript.
    History {
        /// Session key.
        #[arg(long, default_value = crate::core::DEFAULT_SESSION_KEY)]
        session: String,
        /// Most recent entries to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Start a fresh transcript for a session.
    Reset {
        /// Session key.
        #[arg(long, default_value = crate::core::DEFAULT_SESSION_KEY)]
        session: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check the config file; exit 78 on errors.
    Validate,
    /// Print the effective configuration (secret values are never shown, only references).
    Show,
}

/// Loads the configuration for `global`.
///
/// # Errors
/// [`ConfigError`] (exit 78).
pub fn load_config(global: &Global) -> Result<config::Loaded, ConfigError> {
    config::load(global.config.as_deref())
}

fn data_dir(global: &Global, cfg: &Config) -> PathBuf {
    cfg.data_dir(global.data_dir.as_deref())
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Logs to stderr, filtered by `HEARTH_LOG`; coloured only on a terminal and without
/// `NO_COLOR` (<https://no-color.org>), so journald and log files get plain text;
/// `HEARTH_LOG_FORMAT=json` writes one JSON object per line instead (for journald and log
/// shippers). Every line also goes, as plain text, to the ring `logs.tail` reads
/// ([`crate::core::logs::LOGS`]).
fn init_logging(default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEARTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let json = std::env::var("HEARTH_LOG_FORMAT").is_ok_and(|v| v == "json");
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json.then(|| {
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
        }))
        .with((!json).then(|| {
            tracing_subscriber::fmt::layer()
                .with_ansi(colour)
                .with_writer(std::io::stderr)
        }))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(|| RingWriter),
        )
        .try_init();
}

/// Hands each formatted log line to the ring (`fmt` writes one event per call).
struct RingWriter;

impl std::io::Write for RingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::core::logs::LOGS.push(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(cli: Cli) -> i32 {
    let is_gateway = matches!(cli.command, Command::Gateway { .. });
    init_logging(if is_gateway { "info" } else { "warn" });
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "hearth", &mut std::io::stdout());
        return 0;
    }
    // Service and update commands work on an installation, not a configuration: a broken
    // config file must not stop them (updating may be the fix).
    let command = match cli.command {
        Command::Service(cmd) => return report(service::run(cmd)),
        // These write the config, so a broken one must not stop them either.
        Command::ImportOpenclaw(args) => return report(import::run(args, &cli.global)),
        Command::Onboard(args) => return report(onboard::run(args, &cli.global)),
        Command::Update(args) => {
            let dir = cli
                .global
                .data_dir
                .clone()
                .unwrap_or_else(config::default_data_dir);
            return report(update::run(args, &dir));
        }
        other => other,
    };
    let cli = Cli {
        global: cli.global,
        command,
    };
    let loaded = match load_config(&cli.global) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hearth: {e}");
            return EX_CONFIG;
        }
    };
    let dir = data_dir(&cli.global, &loaded.config);
    let result = match cli.command {
        Command::Gateway { bind, port } => return gateway::run(loaded, dir, bind, port),
        Command::Chat { session, remote } => talk::chat(&loaded.config, &dir, &remote, &session),
        Command::Agent {
            message,
            session,
            remote,
        } => talk::agent(&loaded.config, &dir, &remote, &session, &message),
        Command::Status {
            show_token,
            json,
            remote,
        } => talk::status(&loaded.config, &dir, &remote, show_token, json),
        Command::Doctor => return doctor::run(&loaded, &dir),
        Command::Sessions(SessionsCmd::List { remote }) => {
            talk::sessions_list(&loaded.config, &dir, &remote)
        }
        Command::Sessions(SessionsCmd::History {
            session,
            limit,
            remote,
        }) => talk::sessions_history(&loaded.config, &dir, &remote, &session, limit),
        Command::Sessions(SessionsCmd::Reset { session, remote }) => {
            talk::sessions_reset(&loaded.config, &dir, &remote, &session)
        }
        Command::Models(cmd) => models::run(cmd, &loaded.config, &dir),
        Command::Memory(cmd) => memory::run(cmd, &loaded.config, &dir),
        Command::Pairing(cmd) => pairing::run(cmd, &loaded.config, &dir),
        Command::Approvals(cmd) => approvals::run(cmd, &loaded.config, &dir),
        Command::Skills(cmd) => skills::run(cmd, &loaded.config, &dir),
        Command::Cron(cmd) => cron::run(cmd, &loaded.config, &dir),
        Command::Audit {
            since,
            tool,
            json,
            remote,
        } => approvals::audit(&loaded.config, &dir, &remote, since.as_deref(), tool, json),
        Command::Channels(cmd) => channels::run(cmd, &loaded.config, &dir),
        Command::Logs {
            follow,
            lines,
            remote,
        } => logs::run(&loaded.config, &dir, &remote, lines, follow),
        Command::Message(MessageCmd::Send(m)) => channels::send(m, &loaded.config, &dir),
        Command::Config(ConfigCmd::Validate) => {
            match &loaded.path {
                Some(p) => println!("{}: ok", p.display()),
                None => println!("no config file found; the embedded defaults are valid"),
            }
            Ok(())
        }
        Command::Config(ConfigCmd::Show) => {
            if let Some(p) = &loaded.path {
                println!("# from {}", p.display());
            } else {
                println!("# embedded defaults (no config file found)");
            }
            print!("{}", loaded.config.to_toml());
            Ok(())
        }
        Command::Completions { .. }
        | Command::Service(_)
        | Command::Update(_)
        | Command::ImportOpenclaw(_)
        | Command::Onboard(_) => Ok(()),
    };
    report(result)
}

fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("hearth: {e:#}");
            if e.downcast_ref::<ConfigError>().is_some() {
                EX_CONFIG
            } else {
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
