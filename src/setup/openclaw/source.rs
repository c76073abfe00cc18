//! Reading an OpenClaw state directory's config: `openclaw.json` (JSON5,
//! <https://spec.json5.org/>) with its `$include`s, the `.env` beside it and `env.vars`, and
//! OpenClaw's secret inputs (a literal, `${VAR}`, or a SecretRef object
//! `{source: env|file|exec|store, provider, id}`), as OpenClaw's docs describe them
//! (docs/gateway/configuration.md "$include", docs/gateway/config-secrets-env.md).

use super::super::SetupError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are refused (OpenClaw's own limit for included files), bytes.
const MAX_FILE: u64 = 2 << 20;
/// Nesting of `$include` (OpenClaw's limit).
const MAX_DEPTH: usize = 10;

/// The config and the environment it may refer to.
#[derive(Debug)]
pub struct Source {
    /// The state directory.
    pub dir: PathBuf,
    /// The config file read (`openclaw.json`, or the legacy `clawdbot.json`).
    pub file: PathBuf,
    /// The config with every `$include` resolved; `${VAR}` left as written.
    pub config: Value,
    /// `<dir>/.env` then `env.vars`; the process environment is looked up first.
    env: BTreeMap<String, String>,
}

/// A secret input, resolved as far as it can be without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value, and where it came from (`literal`, `$VAR`, `file …`, `secret store`).
    Value(String, String),
    /// `${VAR}` or an env SecretRef whose variable is set nowhere the importer can see.
    EnvUnset(String),
    /// A form the importer does not resolve (an `exec` provider), and why.
    Unsupported(String),
}

fn json5_options() -> jsonc_parser::ParseOptions {
    jsonc_parser::ParseOptions {
        // JSON5 needs commas; OpenClaw's parser (npm json5) refuses their absence.
        allow_missing_commas: false,
        ..Default::default()
    }
}

/// Parses JSON5 text; errors name `file`, line and column.
///
/// # Errors
/// [`SetupError::Input`].
pub fn parse_json5(text: &str, file: &Path) -> Result<Value, SetupError> {
    jsonc_parser::parse_to_serde_value::<Value>(text, &json5_options())
        .map_err(|e| SetupError::Input(format!("{}: {e}", file.display())))
}

fn read_capped(path: &Path) -> Result<String, SetupError> {
    let meta = std::fs::metadata(path).map_err(|source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > MAX_FILE {
        return Err(SetupError::Input(format!(
            "{}: {} bytes is over the {MAX_FILE}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Source {
    /// Opens the state directory `dir`: its `openclaw.json` (or `clawdbot.json`) and `.env`.
    ///
    /// # Errors
    /// [`SetupError::Input`] when there is no config file or it does not parse (file, line,
    /// column), or an `$include` is missing, circular, too deep or outside the config's
    /// directory.
    pub fn open(dir: &Path) -> Result<Source, SetupError> {
        let file = ["openclaw.json", "clawdbot.json"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                SetupError::Input(format!(
                    "{}: no openclaw.json here (is this an OpenClaw state directory? \
                     it is ~/.openclaw by default)",
                    dir.display()
                ))
            })?;
        let root = file
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .unwrap_or_else(|| dir.to_path_buf());
        let mut stack = Vec::new();
        let config = load(&file, &root, &mut stack)?;
        let mut env = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(".env")) {
            for (k, v) in dotenv(&text) {
                env.insert(k, v);
            }
        }
        if let Some(vars) = config.pointer("/env/vars").and_then(Value::as_object) {
            for (k, v) in vars {
                if let Some(s) = scalar(v) {
                    env.entry(k.clone()).or_insert(s);
                }
            }
        }
        Ok(Source {
            dir: dir.to_path_buf(),
            file,
            config,
            env,
        })
    }

    /// The value at `pointer` (RFC 6901, `/channels/telegram`), if any.
    pub fn at(&self, pointer: &str) -> Option<&Value> {
        self.config.pointer(pointer).filter(|v| !v.is_null())
    }

    /// An environment variable as OpenClaw would see it: the process, then `.env`, then
    /// `env.vars`; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.env.get(name).cloned())
            .filter(|v| !v.is_empty())
    }

    /// `text` with every `${NAME}` replaced where `NAME` is set (`$${NAME}` stays a literal
    /// `${NAME}`), and the names that were not set.
    pub fn substitute(&self, text: &str) -> (String, Vec<String>) {
        let mut out = String::with_capacity(text.len());
        let mut missing = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            let escaped = rest[..i].ends_with('$');
            let after = &rest[i + 2..];
            let Some(end) = after.find('}').filter(|&e| is_var_name(&after[..e])) else {
                out.push_str(&rest[..i + 2]);
                rest = after;
                continue;
            };
            let name = &after[..end];
            if escaped {
                out.push_str(&rest[..i - 1]);
                out.push_str(&rest[i..i + 3 + end]);
            } else {
                out.push_str(&rest[..i]);
                match self.var(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str(&rest[i..i + 3 + end]);
                        missing.push(name.to_string());
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        (out, missing)
    }

    /// Resolves a secret input; `store` looks up OpenClaw's secret store (`store` SecretRefs).
    pub fn secret(&self, v: &Value, store: &BTreeMap<String, String>) -> Option<Secret> {
        match v {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(match env_ref(s) {
                Some(name) => self.env_secret(name),
                None => {
                    let (text, missing) = self.substitute(s);
                    match missing.first() {
                        Some(m) => Secret::EnvUnset(m.clone()),
                        None => Secret::Value(text, "literal".into()),
                    }
                }
            }),
            Value::Object(o) => {
                let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
                let source = o.get("source").and_then(Value::as_str).unwrap_or_default();
                Some(match source {
                    "env" => self.env_secret(id),
                    "file" => self.file_secret(o, id),
                    "store" => match store.get(id) {
                        Some(v) => Secret::Value(v.clone(), "OpenClaw's secret store".into()),
                        None => Secret::Unsupported(format!(
                            "secret store entry {id:?} is not in state/openclaw.sqlite"
                        )),
                    },
                    "exec" => Secret::Unsupported(
                        "an exec secret provider runs a command; supply this secret by hand".into(),
                    ),
                    other => Secret::Unsupported(format!("unknown secret source {other:?}")),
                })
            }
            _ => None,
        }
    }

    fn env_secret(&self, name: &str) -> Secret {
        match self.var(name) {
            Some(v) => Secret::Value(v, format!("${name}")),
            None => Secret::EnvUnset(name.to_string()),
        }
    }

    /// A `file` SecretRef: the provider `secrets.providers.<alias>` names the file; `mode`
    /// `singleValue` means the whole file, `json` (default) a JSON pointer `id` into it.
    fn file_secret(&self, r: &Map<String, Value>, id: &str) -> Secret {
        let alias = r
            .get("provider")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                self.at("/secrets/defaults/file")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "default".into());
        let Some(p) = self.at(&format!("/secrets/providers/{alias}")) else {
            return Secret::Unsupported(format!("secret provider {alias:?} is not configured"));
        };
        let Some(path) = p.get("path").and_then(Value::as_str) else {
            return Secret::Unsupported(format!("secret provider {alias:?} has no path"));
        };
        let path = self.path(path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => return Secret::Unsupported(format!("{}: {e}", path.display())),
        };
        let how = format!("file {}", path.display());
        if p.get("mode").and_then(Value::as_str) == Some("singleValue") {
            return Secret::Value(text.trim_end_matches(['\n', '\r']).to_string(), how);
        }
        let doc = match parse_json5(&text, &path) {
            Ok(d) => d,
            Err(e) => return Secret::Unsupported(e.to_string()),
        };
        match doc.pointer(id).and_then(scalar) {
            Some(v) => Secret::Value(v, format!("{how} {id}")),
            None => Secret::Unsupported(format!("{}: nothing at {id}", path.display())),
        }
    }

    /// A path from the config: `~/` is the home that owns the state directory (the
    /// directory's parent for `~/.openclaw`), relative paths are against the state dir.
    pub fn path(&self, p: &str) -> PathBuf {
        let (p, _) = self.substitute(p);
        if let Some(rest) = p.strip_prefix("~/") {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let by_dir = self
                .dir
                .file_name()
                .is_some_and(|n| n == ".openclaw" || n == ".clawdbot")
                .then(|| self.dir.parent().map(Path::to_path_buf))
                .flatten();
            return by_dir.or(home).unwrap_or_default().join(rest);
        }
        let path = PathBuf::from(&p);
        if path.is_absolute() {
            path
        } else {
            self.dir.join(path)
        }
    }
}

fn is_var_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_uppercase() || f == '_')
        && c.all(|x| x.is_ascii_uppercase() || x.is_ascii_digit() || x == '_')
}

/// `${NAME}` or `$NAME` alone: a reference to the variable.
fn env_ref(s: &str) -> Option<&str> {
    let name = s
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| s.strip_prefix('$'))?;
    is_var_name(name).then_some(name)
}

/// A string, number or boolean as text.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `KEY=VALUE` lines (`export ` allowed, quotes stripped, `#` comments); values that
/// would need a shell (`$VAR`, `$(…)`) are skipped as OpenClaw skips them.
fn dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            (is_var_name(k.trim()) && !v.contains('$'))
                .then(|| (k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Reads one file and resolves its `$include`s (paths relative to it, inside `root`).
fn load(file: &Path, root: &Path, stack: &mut Vec<PathBuf>) -> Result<Value, SetupError> {
    let canon = file.canonicalize().map_err(|source| SetupError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    if stack.contains(&canon) {
        return Err(SetupError::Input(format!(
            "{}: $include is circular",
            file.display()
        )));
    }
    if stack.len() > MAX_DEPTH {
        return Err(SetupError::Input(format!(
            "{}: $include nests deeper than {MAX_DEPTH}",
            file.display()
        )));
    }
    let text = read_capped(file)?;
    let value = parse_json5(&text, file)?;
    stack.push(canon);
    let base = file.parent().unwrap_or(Path::new("."));
    let out = includes(value, base, root, file, stack);
    stack.pop();
    out
}

fn includes(
    v: Value,
    base: &Path,
    root: &Path,
    file: &Path,
    stack: &mut Vec<PathBuf>,
) -> Result<Value, SetupError> {
    match v {
        Value::Object(mut map) => {
            let inc = map.remove("$include");
            let mut rest = Map::new();
            for (k, v) in map {
                rest.insert(k, includes(v, base, root, file, stack)?);
            }
            let Some(inc) = inc else {
                return Ok(Value::Object(rest));
            };
            let names: Vec<&str> = match &inc {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => {
                    return Err(SetupError::Input(format!(
                        "{}: $include must be a path or a list of paths",
                        file.display()
                    )));
                }
            };
            let mut merged = Value::Null;
            for n in names {
                let p = base.join(n);
                let inside = p
                    .canonicalize()
                    .map(|c| c.starts_with(root))
                    .unwrap_or(true);
                if !inside {
                    return Err(SetupError::Input(format!(
                        "{}: $include {n:?} is outside {}",
                        file.display(),
                        root.display()
                    )));
                }
                let loaded = load(&p, root, stack)?;
                merged = merge(merged, loaded);
            }
            Ok(merge(merged, Value::Object(rest)))
        }
        Value::Array(a) => a
            .into_iter()
            .map(|x| includes(x, base, root, file, stack))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other),
    }
}

/// Deep merge as OpenClaw merges includes: objects key by key, arrays concatenated, and
/// otherwise `b` wins.
fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let old = x.remove(&k).unwrap_or(Value::Null);
                x.insert(k, merge(old, v));
            }
            Value::Object(x)
        }
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y);
            Value::Array(x)
        }
        (a, Value::Null) => a,
        (_, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_merge_and_siblings_win() {
        let d = std::env::temp_dir().join(format!("hearth-oc-src-{}", std::process::id()));
        std::fs::create_dir_all(d.join("parts")).unwrap();
        std::fs::write(
            d.join("openclaw.json"),
            "// comment\n{ $include: ['parts/a.json5', 'parts/b.json5'], gateway: {port: 1,}, }",
        )
        .unwrap();
        std::fs::write(
            d.join("parts/a.json5"),
            "{gateway: {port: 2, bind: 'lan'}, l: [1]}",
        )
        .unwrap();
        std::fs::write(d.join("parts/b.json5"), "{l: [2], x: 0x10}").unwrap();
        let s = Source::open(&d).unwrap();
        assert_eq!(s.at("/gateway/port"), Some(&Value::from(1)));
        assert_eq!(s.at("/gateway/bind"), Some(&Value::from("lan")));
        assert_eq!(s.at("/l"), Some(&serde_json::json!([1, 2])));
        assert_eq!(s.at("/x"), Some(&Value::from(16)));
        std::fs::write(d.join("openclaw.json"), "{$include: '../outside.json'}").unwrap();
        std::fs::write(d.join("../outside.json"), "{}").unwrap();
        let e = Source::open(&d).unwrap_err().to_string();
        assert!(e.contains("outside"), "{e}");
        std::fs::write(d.join("openclaw.json"), "{a: 1\n b: 2}").unwrap();
        let e = Source::open(&d).unwrap_err().to_string();
        assert!(e.contains("openclaw.json: Expected comma on line 1"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_file(d.join("../outside.json"));
    }

    #[test]
    fn secrets_and_substitution() {
        let s = Source {
            dir: PathBuf::from("/nonexistent"),
            file: PathBuf::from("/nonexistent/openclaw.json"),
            config: Value::Null,
            env: BTreeMap::from([("OC_TEST_K".to_string(), "v1".to_string())]),
        };
        let none = BTreeMap::new();
        assert_eq!(
            s.secret(&Value::from("${OC_TEST_K}"), &none),
            Some(Secret::Value("v1".into(), "$OC_TEST_K".into()))
        );
        assert_eq!(
            s.secret(&Value::from("$OC_TEST_UNSET_9"), &none),
            Some(Secret::EnvUnset("OC_TEST_UNSET_9".into()))
        );
        assert_eq!(
            s.substitute("a ${OC_TEST_K} $${OC_TEST_K} ${lower}"),
            ("a v1 ${OC_TEST_K} ${lower}".to_string(), vec![])
        );
        let store = BTreeMap::from([("k".to_string(), "sv".to_string())]);
        assert_eq!(
            s.secret(&serde_json::json!({"source": "store", "id": "k"}), &store),
            Some(Secret::Value("sv".into(), "OpenClaw's secret store".into()))
        );
        assert!(matches!(
            s.secret(&serde_json::json!({"source": "exec", "id": "k"}), &store),
            Some(Secret::Unsupported(_))
        ));
        assert_eq!(
            dotenv("export A=\"x\"\n# c\nB=$HOME\nC='y'"),
            vec![("A".into(), "x".into()), ("C".into(), "y".into())]
        );
    }
}
