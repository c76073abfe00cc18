//! `hearth onboard`: the first-run wizard in the terminal, or `--answers FILE` without one
//! (see [`crate::setup::onboard`] for what the answers make). Each step checks what it can
//! while the person is still there: the provider key, the Telegram token (and the owner's
//! id, taken from a message they send the bot), the Matrix token, Home Assistant.

use super::Global;
use super::onboard_checks as check;
use crate::setup::onboard::{self as ob, Answers};
use crate::setup::{Report, Target};
use anyhow::{Context, Result, bail};
use clap::Args;
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password, Select};
use std::path::PathBuf;

/// `hearth onboard …`.
#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// Take every answer from this TOML file instead of asking (for imaging; README
    /// "Onboarding" lists the keys).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Write into this root file system (an SD-card image being built) instead of this
    /// machine: /etc/hearth, the systemd units, /opt/hearth.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Skip the live checks of keys and tokens (offline imaging).
    #[arg(long)]
    no_check: bool,
    /// The Telegram Bot API server (default https://api.telegram.org; a local Bot API
    /// server's URL otherwise).
    #[arg(long, value_name = "URL", default_value = "https://api.telegram.org")]
    telegram_api: String,
}

const SECURITY: &str = "\
Hearth is a personal agent: whoever it lets talk can make it act — run commands, write
files, call Home Assistant — and text it reads (web pages, mail, messages) can try to
steer it. The defaults are for one owner: strangers must be paired first, commands ask
the owner, and the gateway listens on this box only. Before sharing it, read
README \"Channels\" (pairing, allow lists) and \"Tools\" (approvals, the exec sandbox).";

fn theme() -> ColorfulTheme {
    ColorfulTheme::default()
}

/// Runs onboarding.
///
/// # Errors
/// Refused answers, a failed write (naming the file), a failed service install, or no
/// terminal without `--answers`.
pub fn run(args: OnboardArgs, global: &Global) -> Result<()> {
    let target = match &args.root {
        Some(r) => Target::image(r),
        None => Target::new(global.config.as_deref(), global.data_dir.as_deref(), None),
    };
    let answers = match &args.answers {
        Some(f) => ob::read_answers(f)?,
        None => {
            use std::io::IsTerminal;
            if !std::io::stdin().is_terminal() {
                bail!("no terminal to ask in: pass --answers FILE (README \"Onboarding\")");
            }
            match ask(&args, &target)? {
                Some(a) => a,
                None => return Ok(()),
            }
        }
    };
    if args.answers.is_some() && !args.no_check {
        checks(&answers, &args)?;
    }
    let mut report = Report::default();
    let plan = ob::plan(&answers, &target, ob::existing(&target)?, &mut report)?;
    plan.write(true, &mut report)?;
    println!();
    print!("{}", report.render());
    println!("wrote {}", target.host(&target.config).display());
    if target.systemd && !plan.secrets.is_empty() && args.root.is_none() {
        println!(
            "(the credentials are in {}; `systemctl daemon-reload` loads them)",
            target.credentials.display()
        );
    }
    if answers.service.install {
        install_service(&args, answers.service.start)?;
    }
    if answers.model.provider == "local" {
        println!(
            "next: `hearth models pull {}` downloads the on-device model",
            answers.model.model
        );
    } else if let Some(l) = &answers.model.local_fallback {
        println!("next: `hearth models pull {l}` downloads the fallback model");
    }
    println!("then: `hearth doctor` checks it all; `hearth chat` talks to it");
    Ok(())
}

fn install_service(args: &OnboardArgs, start: bool) -> Result<()> {
    let binary = std::env::current_exe().context("cannot find this binary")?;
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    crate::service::install(
        &crate::service::InstallOptions {
            start: start && args.root.is_none(),
            root,
            prefix: PathBuf::from(crate::update::DEFAULT_PREFIX),
            binary,
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            enable: true,
        },
        &mut |l: &str| println!("{l}"),
    )?;
    Ok(())
}

/// The `--answers` mode's checks: the same as the wizard's, failing instead of asking again.
fn checks(a: &Answers, args: &OnboardArgs) -> Result<()> {
    if let Some((_, kind, base)) = ob::provider_of(&a.model)? {
        let key = a
            .model
            .api_key
            .as_deref()
            .map(|k| ob::read_secret("model.api_key", k))
            .transpose()?;
        check::provider_key(&kind, &base, key.as_deref())
            .map_err(|(_, m)| anyhow::anyhow!("model: {base}: {m} (--no-check skips this)"))?;
    }
    if let Some(t) = &a.telegram {
        let api = t.api_base.as_deref().unwrap_or(&args.telegram_api);
        let tok = ob::read_secret("telegram.token", &t.token)?;
        check::telegram_bot(api, &tok)
            .map_err(|(_, m)| anyhow::anyhow!("telegram: {m} (--no-check skips this)"))?;
    }
    if let Some(m) = &a.matrix {
        let tok = ob::read_secret("matrix.access_token", &m.access_token)?;
        let who = check::matrix_whoami(&m.homeserver, &tok)
            .map_err(|(_, e)| anyhow::anyhow!("matrix: {e}"))?;
        if who != m.user_id {
            bail!("matrix: the token belongs to {who}, not {}", m.user_id);
        }
    }
    if let Some(h) = &a.home_assistant
        && let Some(t) = &h.token
    {
        let tok = ob::read_secret("home_assistant.token", t)?;
        check::home_assistant(&h.url, &tok)
            .map_err(|(_, m)| anyhow::anyhow!("home_assistant: {m}"))?;
    }
    Ok(())
}

/// The wizard. `None` when the person stopped or imported OpenClaw instead.
fn ask(args: &OnboardArgs, target: &Target) -> Result<Option<Answers>> {
    let t = theme();
    println!("Hearth setup — {}\n", target.host(&target.config).display());
    println!("{SECURITY}\n");
    if !Confirm::with_theme(&t)
        .with_prompt("I understand this is a personal agent and how to lock it down. Continue?")
        .default(true)
        .interact()?
    {
        return Ok(None);
    }
    let oc = crate::setup::openclaw::default_dir();
    if oc.join("openclaw.json").is_file()
        && Confirm::with_theme(&t)
            .with_prompt(format!(
                "An OpenClaw setup is in {}. Import it instead?",
                oc.display()
            ))
            .default(true)
            .interact()?
    {
        println!(
            "run `hearth import-openclaw --dry-run {0}` to see the plan, then without --dry-run",
            oc.display()
        );
        return Ok(None);
    }
    let mut a = Answers {
        accept_risk: true,
        ..Answers::default()
    };
    ask_model(args, &mut a)?;
    let binds = [
        "This box only (127.0.0.1)",
        "The local network too (0.0.0.0; the token stays required)",
    ];
    let b = Select::with_theme(&t)
        .with_prompt("Who reaches the gateway?")
        .items(binds)
        .default(0)
        .interact()?;
    a.gateway.bind = if b == 0 { "127.0.0.1" } else { "0.0.0.0" }.into();
    a.gateway.port = Input::with_theme(&t)
        .with_prompt("Gateway port")
        .default(18789u16)
        .interact_text()?;
    let chans = ["Telegram", "Matrix", "Neither for now"];
    match Select::with_theme(&t)
        .with_prompt("A chat channel for you and the agent")
        .items(chans)
        .default(0)
        .interact()?
    {
        0 => ask_telegram(args, &mut a)?,
        1 => ask_matrix(args, &mut a)?,
        _ => {}
    }
    if Confirm::with_theme(&t)
        .with_prompt("Link Home Assistant?")
        .default(false)
        .interact()?
    {
        ask_home_assistant(args, &mut a)?;
    }
    let systemd = std::path::Path::new("/run/systemd/system").is_dir() || args.root.is_some();
    if systemd && nix::unistd::geteuid().is_root() {
        a.service.install = Confirm::with_theme(&t)
            .with_prompt("Install Hearth as a systemd service (A/B layout under /opt/hearth)?")
            .default(true)
            .interact()?;
        a.service.start = a.service.install && args.root.is_none();
    }
    Ok(Some(a))
}

/// A secret: `$VAR` when it is set and the person agrees, else typed without echo.
fn secret(prompt: &str, env: Option<&str>) -> Result<String> {
    let t = theme();
    if let Some(var) = env
        && std::env::var(var).is_ok_and(|v| !v.is_empty())
        && Confirm::with_theme(&t)
            .with_prompt(format!("${var} is set. Use it?"))
            .default(true)
            .interact()?
    {
        return Ok(format!("env:{var}"));
    }
    Ok(Password::with_theme(&t).with_prompt(prompt).interact()?)
}

fn ask_model(args: &OnboardArgs, a: &mut Answers) -> Result<()> {
    let t = theme();
    let recommended = recommended_local();
    let local_label = match &recommended {
        Some(n) => format!("On this device ({n}; private, slower)"),
        None => "On this device (no model fits this board's memory)".into(),
    };
    let items = [
        local_label.as_str(),
        "OpenAI",
        "Anthropic",
        "OpenRouter",
        "Ollama on the network",
        "Another OpenAI- or Anthropic-compatible server (llama.cpp, vLLM, …)",
    ];
    let pick = Select::with_theme(&t)
        .with_prompt("Which model answers?")
        .items(items)
        .default(0)
        .interact()?;
    let (provider, model, env) = match pick {
        0 => (
            "local",
            recommended
                .clone()
                .unwrap_or_else(|| "smollm2-135m-instruct".into()),
            None,
        ),
        1 => ("openai", "gpt-4o-mini".to_string(), Some("OPENAI_API_KEY")),
        2 => (
            "anthropic",
            "claude-3-5-haiku-latest".to_string(),
            Some("ANTHROPIC_API_KEY"),
        ),
        3 => (
            "openrouter",
            "openai/gpt-4o-mini".to_string(),
            Some("OPENROUTER_API_KEY"),
        ),
        4 => ("ollama", "llama3.2".to_string(), None),
        _ => ("custom", String::new(), None),
    };
    a.model.provider = provider.into();
    if provider == "local" {
        a.model.model = model;
        return Ok(());
    }
    if provider == "custom" || provider == "ollama" {
        let default = if provider == "ollama" {
            "http://127.0.0.1:11434/v1"
        } else {
            "http://127.0.0.1:8080/v1"
        };
        a.model.base_url = Some(
            Input::with_theme(&t)
                .with_prompt("API base URL")
                .default(default.to_string())
                .interact_text()?,
        );
    }
    if provider == "custom" {
        let kinds = [
            "OpenAI chat completions (/v1/chat/completions)",
            "Anthropic messages (/v1/messages)",
        ];
        let k = Select::with_theme(&t)
            .with_prompt("Which API does it speak?")
            .items(kinds)
            .default(0)
            .interact()?;
        a.model.kind = Some(if k == 0 { "openai" } else { "anthropic" }.into());
    }
    let mut i = Input::<String>::with_theme(&t).with_prompt("Model id");
    if !model.is_empty() {
        i = i.default(model);
    }
    a.model.model = i.interact_text()?;
    loop {
        let needs = provider != "ollama";
        let key = if needs || provider == "custom" {
            let k = secret("API key (input hidden; empty for none)", env)?;
            (!k.is_empty()).then_some(k)
        } else {
            None
        };
        a.model.api_key = key.clone();
        if args.no_check {
            break;
        }
        let (_, kind, base) = ob::provider_of(&a.model)?.expect("a remote provider");
        let value = key
            .as_deref()
            .map(|k| ob::read_secret("API key", k))
            .transpose()?;
        match check::provider_key(&kind, &base, value.as_deref()) {
            Ok(()) => {
                println!("  ✓ {base} accepted the key");
                break;
            }
            Err((true, m)) => println!("  ✗ {m}; try again"),
            Err((false, m)) => {
                println!("  ! {base}: {m}");
                if Confirm::with_theme(&t)
                    .with_prompt("Keep it anyway?")
                    .default(false)
                    .interact()?
                {
                    break;
                }
            }
        }
    }
    if let Some(r) = recommended
        && Confirm::with_theme(&t)
            .with_prompt(format!(
                "When the provider fails, fall back to {r} on this device?"
            ))
            .default(true)
            .interact()?
    {
        a.model.local_fallback = Some(r);
    }
    Ok(())
}

/// The best on-device model for this board (`hearth models recommend`), if one fits.
fn recommended_local() -> Option<String> {
    let board = crate::models::this_board().ok()?;
    let dir = crate::config::default_data_dir().join("models");
    let r = crate::models::recommend(
        &board,
        &crate::models::catalogue(&dir),
        crate::models::EstimateOptions { requantize: true },
    );
    r.names(crate::models::Verdict::Fits)
        .first()
        .map(|s| s.to_string())
}

fn ask_telegram(args: &OnboardArgs, a: &mut Answers) -> Result<()> {
    let t = theme();
    println!("Make a bot with @BotFather in Telegram (/newbot) and paste its token.");
    let api = args.telegram_api.trim_end_matches('/').to_string();
    let (token, value) = loop {
        let token = secret("Bot token (input hidden)", Some("TELEGRAM_BOT_TOKEN"))?;
        let value = ob::read_secret("bot token", &token)?;
        if args.no_check {
            break (token, value);
        }
        match check::telegram_bot(&api, &value) {
            Ok(name) => {
                println!("  ✓ bot @{name}");
                break (token, value);
            }
            Err((true, m)) => println!("  ✗ {m}; try again"),
            Err((false, m)) => bail!("telegram: {m}"),
        }
    };
    let ways = [
        "Send the bot a message now (it reads your id)",
        "Type my numeric user id",
    ];
    let owner = if !args.no_check
        && Select::with_theme(&t)
            .with_prompt("Who owns it? (the owner approves strangers and commands)")
            .items(ways)
            .default(0)
            .interact()?
            == 0
    {
        println!("Send any message to the bot from your own Telegram account now…");
        let s = check::telegram_first_sender(&api, &value, 300)
            .map_err(|e| anyhow::anyhow!("telegram: {e}"))?;
        if !Confirm::with_theme(&t)
            .with_prompt(format!("From {}, id {}. Is this you?", s.name, s.id))
            .default(true)
            .interact()?
        {
            bail!("telegram: the message was not from the owner; run hearth onboard again");
        }
        check::telegram_confirm(&api, &value, &s);
        s.id
    } else {
        Input::with_theme(&t)
            .with_prompt("Your numeric Telegram user id")
            .validate_with(|s: &String| {
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err("digits only")
                }
            })
            .interact_text()?
    };
    a.telegram = Some(ob::TelegramAnswers {
        token,
        owner,
        api_base: (api != "https://api.telegram.org").then_some(api),
    });
    Ok(())
}

fn ask_matrix(args: &OnboardArgs, a: &mut Answers) -> Result<()> {
    let t = theme();
    let homeserver: String = Input::with_theme(&t)
        .with_prompt("Homeserver URL")
        .default("https://matrix.org".into())
        .interact_text()?;
    let (user_id, access_token) = loop {
        let tok = secret("The bot account's access token (input hidden)", None)?;
        if args.no_check {
            let u: String = Input::with_theme(&t)
                .with_prompt("The bot's user id (@bot:server)")
                .interact_text()?;
            break (u, tok);
        }
        match check::matrix_whoami(&homeserver, &ob::read_secret("access token", &tok)?) {
            Ok(u) => {
                println!("  ✓ the token is {u}'s");
                break (u, tok);
            }
            Err((true, m)) => println!("  ✗ {m}; try again"),
            Err((false, m)) => bail!("matrix: {m}"),
        }
    };
    let owner: String = Input::with_theme(&t)
        .with_prompt("Your own Matrix user id (@you:server)")
        .validate_with(|s: &String| {
            if s.starts_with('@') && s.contains(':') {
                Ok(())
            } else {
                Err("@name:server")
            }
        })
        .interact_text()?;
    a.matrix = Some(ob::MatrixAnswers {
        homeserver,
        user_id,
        access_token,
        owner,
    });
    Ok(())
}

fn ask_home_assistant(args: &OnboardArgs, a: &mut Answers) -> Result<()> {
    let t = theme();
    let url: String = Input::with_theme(&t)
        .with_prompt("Home Assistant URL")
        .default("http://homeassistant.local:8123".into())
        .interact_text()?;
    println!(
        "For Hearth to control it: Home Assistant → Devices & services → add \"Model Context Protocol Server\","
    );
    println!("then your profile → Security → create a long-lived access token.");
    let token = loop {
        let tok = Password::with_theme(&t)
            .with_prompt("Long-lived access token (input hidden; empty: skip)")
            .allow_empty_password(true)
            .interact()?;
        if tok.is_empty() || args.no_check {
            break (!tok.is_empty()).then_some(tok);
        }
        match check::home_assistant(&url, &tok) {
            Ok(()) => {
                println!("  ✓ Home Assistant accepted the token");
                break Some(tok);
            }
            Err((true, m)) => println!("  ✗ {m}; try again"),
            Err((false, m)) => {
                println!("  ! {m}");
                if Confirm::with_theme(&t)
                    .with_prompt("Keep it anyway?")
                    .default(false)
                    .interact()?
                {
                    break Some(tok);
                }
            }
        }
    };
    if a.gateway.bind.starts_with("127.")
        && Confirm::with_theme(&t)
            .with_prompt("Home Assistant on another machine needs the gateway on the network. Listen on 0.0.0.0?")
            .default(true)
            .interact()?
    {
        a.gateway.bind = "0.0.0.0".into();
    }
    a.home_assistant = Some(ob::HomeAssistantAnswers {
        url,
        token,
        ollama_key: None,
    });
    Ok(())
}
