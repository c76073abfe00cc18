//! The Node.js peers of the test kit (`tests/kit/*.js`): where their npm packages are, and
//! starting one (each prints its port on its first line).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `node_modules` of the kit (`$HEARTH_NODE_MODULES`, else `~/.cache/hearth/npm/node_modules`,
/// where scripts/test.sh installs tests/kit/package.json). Fails loudly when `package` is
/// missing: these tests must not skip.
pub fn node_modules(package: &str) -> PathBuf {
    let d = std::env::var_os("HEARTH_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/hearth/npm/node_modules")
        });
    assert!(
        d.join(package).is_dir(),
        "{} has no {package}: `npm ci` in a copy of tests/kit/ (scripts/test.sh does)",
        d.display()
    );
    d
}

/// Starts `tests/kit/<script>` (needing npm `package`) and reads its port.
pub fn start(script: &str, package: &str) -> (Child, u16) {
    let kit = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kit")
        .join(script);
    let mut child = Command::new("node")
        .arg(kit)
        .env("NODE_PATH", node_modules(package))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("node tests/kit/{script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port line");
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("tests/kit/{script} said {line:?}"));
    (child, port)
}
