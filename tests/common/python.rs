//! The Python side of the tests: the test venv (`$HEARTH_PY_VENV`, default
//! `~/.cache/hearth/py-venv`, made by scripts/test.sh from tests/kit/py-requirements.txt)
//! and the scripts of `tests/kit/`.

use std::path::PathBuf;
use std::process::Command;

/// The venv's Python; fails loudly when the venv, the MCP Python SDK or the `ollama`
/// client is missing (tests never skip).
pub fn venv_python() -> PathBuf {
    let dir = std::env::var("HEARTH_PY_VENV").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/hearth/py-venv"),
        PathBuf::from,
    );
    let py = dir.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import mcp.server.fastmcp, ollama"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import the MCP Python SDK and the ollama client: run scripts/test.sh once (it creates the venv), or set HEARTH_PY_VENV",
        py.display()
    );
    py
}

/// `tests/kit/<name>`.
pub fn kit(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kit")
        .join(name)
}
