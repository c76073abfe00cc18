//! Pulls by `hf:` reference and URL against a fake Hugging Face Hub (`test_server`): the
//! paths-info API and `resolve` downloads, gated repositories, checksums, GGUF checks, and
//! catalogue entries whose size and sha256 are resolved at pull time.

use std::fs;
use std::path::Path;

use super::super::gguf::tests::gguf_bytes;
use super::super::layout::part_path;
use super::super::test_server::{Route, TestServer};
use super::*;

/// A small GGUF of family `arch` with a context length and a shape, then `seed` noise.
fn tiny_gguf(arch: &str, seed: u64) -> Vec<u8> {
    let key = |k: &str| format!("{arch}.{k}");
    let (ctx, layers, heads, kv, dim) = (
        key("context_length"),
        key("block_count"),
        key("attention.head_count"),
        key("attention.head_count_kv"),
        key("embedding_length"),
    );
    gguf_bytes(
        &[("general.architecture", arch)],
        &[
            (&ctx, 4096),
            (&layers, 2),
            (&heads, 4),
            (&kv, 2),
            (&dim, 64),
        ],
        &data(20_000, seed),
    )
}

/// The paths-info answer the Hub gives for one LFS file.
fn paths_info(path: &str, body: &[u8]) -> Vec<u8> {
    serde_json::json!([{
        "type": "file",
        "oid": "0123456789abcdef0123456789abcdef01234567",
        "size": body.len(),
        "path": path,
        "lfs": { "oid": sha(body), "size": body.len(), "pointerSize": 134 },
    }])
    .to_string()
    .into_bytes()
}

/// A fake Hub serving `body` as `repo`'s `path` at `main`: (paths-info route, resolve route).
fn hub_routes(repo: &str, path: &str, body: &[u8]) -> [(String, Route); 2] {
    [
        (
            format!("/api/models/{repo}/paths-info/main"),
            Route::fixed(200, paths_info(path, body)),
        ),
        (
            format!("/{repo}/resolve/main/{path}"),
            Route::new(body.to_vec()),
        ),
    ]
}

fn start(routes: impl IntoIterator<Item = (String, Route)>) -> TestServer {
    let server = TestServer::start([]);
    for (path, route) in routes {
        server.route(&path, route);
    }
    server
}

fn hub_opts(server: &TestServer, token: Option<&str>) -> PullOptions {
    PullOptions {
        hub: Hub {
            endpoint: server.base().to_owned(),
            token: token.and_then(HubToken::new),
        },
        ..opts()
    }
}

fn pull_text(
    dir: &Path,
    text: &str,
    ref_opts: &RefOptions,
    o: &PullOptions,
) -> Result<Installed, ModelError> {
    let reference = ModelRef::parse(text, &o.hub)?;
    pull_ref(dir, &reference, ref_opts, o, &mut NoProgress)
}

/// Nothing of model `name` is left: no file, no `.part`, no record, not listed.
fn assert_nothing_installed(dir: &Path, name: &str, file: &str) {
    let path = dir.join(name).join(file);
    assert!(
        !path.exists() && !part_path(&path).exists(),
        "{}",
        path.display()
    );
    assert!(!record_path(dir, name).exists());
    assert!(
        !dir.join(name).exists(),
        "the failed pull left {name}/ behind"
    );
    assert!(list(dir).iter().all(|s| s.name != name));
}

#[test]
fn hf_pull_checks_the_published_sha256_and_records_a_manifest() {
    let body = tiny_gguf("qwen3", 1);
    let server = start(hub_routes("org/Tiny-GGUF", "Tiny-Q8_0.gguf", &body));
    let tmp = TempDir::new();
    let o = hub_opts(&server, None);

    let got = pull_text(
        &tmp.0,
        "hf:org/Tiny-GGUF/Tiny-Q8_0.gguf",
        &RefOptions::default(),
        &o,
    )
    .unwrap();

    assert_eq!(got.name, "tiny-q8_0");
    assert_eq!(
        (got.size, got.sha256.as_str()),
        (body.len() as u64, sha(&body).as_str())
    );
    assert_eq!(fs::read(&got.path).unwrap(), body);
    let log = server.log();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/api/models/org/Tiny-GGUF/paths-info/main");
    let asked: serde_json::Value = serde_json::from_str(&log[0].body).unwrap();
    assert_eq!(asked["paths"], serde_json::json!(["Tiny-Q8_0.gguf"]));
    assert_eq!(
        (log[1].method.as_str(), log[1].authorization.as_deref()),
        ("GET", None)
    );

    // The generated manifest is listed, found by name, and describes the GGUF.
    let m = find_in(&tmp.0, "tiny-q8_0").unwrap();
    assert_eq!(
        (m.family, m.context_window, m.kind),
        (Family::Qwen3, 4096, Kind::Llm)
    );
    assert_eq!(m.homepage, format!("{}/org/Tiny-GGUF", server.base()));
    let shape = m.shape.clone().unwrap();
    assert_eq!((shape.layers, shape.kv_heads, shape.head_dim), (2, 2, 16));
    assert_eq!(
        m.primary().unwrap().pinned(),
        Some((body.len() as u64, sha(&body).as_str()))
    );
    let ram = m
        .ram_estimate(EstimateOptions { requantize: true })
        .unwrap();
    assert!(ram.exact_weights && ram.weights == body.len() as u64);
    assert_eq!(
        installed_path(&tmp.0, "tiny-q8_0").as_deref(),
        Some(got.path.as_path())
    );
    let st = list(&tmp.0)
        .into_iter()
        .find(|s| s.name == "tiny-q8_0")
        .unwrap();
    assert!(st.installed, "{st:?}");

    // Pulled again by name: nothing is fetched, the Hub is not asked.
    let again = pull(&tmp.0, "tiny-q8_0", &o, &mut NoProgress).unwrap();
    assert_eq!(again, got.path);
    assert_eq!(server.log().len(), 2);
}

#[test]
fn a_catalogue_entry_gets_size_and_sha256_from_the_hub_at_pull_time() {
    let body = tiny_gguf("qwen3", 2);
    let server = start(hub_routes(
        "Qwen/Qwen3-0.6B-GGUF",
        "Qwen3-0.6B-Q8_0.gguf",
        &body,
    ));
    let tmp = TempDir::new();
    assert!(
        find_in(&tmp.0, "qwen3-0.6b")
            .unwrap()
            .primary()
            .unwrap()
            .pinned()
            .is_none()
    );

    let path = pull(
        &tmp.0,
        "qwen3-0.6b",
        &hub_opts(&server, None),
        &mut NoProgress,
    )
    .unwrap();

    assert_eq!(fs::read(&path).unwrap(), body);
    let m = find_in(&tmp.0, "qwen3-0.6b").unwrap();
    assert_eq!(
        m.primary().unwrap().pinned(),
        Some((body.len() as u64, sha(&body).as_str()))
    );
    // The catalogue's own facts stay; the estimate now uses the real size.
    assert_eq!(
        (m.context_window, m.licence.as_str()),
        (32768, "Apache-2.0")
    );
    let ram = m
        .ram_estimate(EstimateOptions { requantize: true })
        .unwrap();
    assert!(ram.exact_weights && ram.weights == body.len() as u64);
    assert!(record_path(&tmp.0, "qwen3-0.6b").exists());
    assert!(
        list(&tmp.0)
            .iter()
            .any(|s| s.name == "qwen3-0.6b" && s.installed)
    );
}

#[test]
fn a_corrupted_body_is_refused_and_nothing_is_installed() {
    let body = tiny_gguf("llama", 3);
    let mut corrupted = body.clone();
    corrupted[body.len() / 2] ^= 0xff;
    let [api, _] = hub_routes("org/R-GGUF", "R.gguf", &body);
    let server = start([
        api,
        (
            "/org/R-GGUF/resolve/main/R.gguf".into(),
            Route::new(corrupted),
        ),
    ]);
    let tmp = TempDir::new();

    let err = pull_text(
        &tmp.0,
        "hf:org/R-GGUF/R.gguf",
        &RefOptions::default(),
        &hub_opts(&server, None),
    )
    .unwrap_err();

    let fails = failures(err);
    assert!(
        matches!(fails[0].error, SourceError::Checksum { .. }),
        "{fails:?}"
    );
    assert!(fails[0].to_string().contains(&sha(&body)), "{}", fails[0]);
    assert_nothing_installed(&tmp.0, "r", "R.gguf");
}

#[test]
fn a_gated_repository_names_its_licence_page_and_takes_the_token() {
    let body = tiny_gguf("gemma3", 4);
    let repo = "google/gated-GGUF";
    let routes = hub_routes(repo, "g.gguf", &body).map(|(path, route)| {
        let route = Route {
            bearer: Some("hf_secret".into()),
            ..route
        };
        (path, route)
    });
    let server = start(routes);
    let tmp = TempDir::new();
    let reference = format!("hf:{repo}/g.gguf");

    let err = pull_text(
        &tmp.0,
        &reference,
        &RefOptions::default(),
        &hub_opts(&server, None),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ModelError::Gated { status: 401, .. }),
        "{err:?}"
    );
    let page = format!("{}/{repo}", server.base());
    assert!(
        text.contains(&page) && text.contains("accept its licence"),
        "{text}"
    );
    assert!(
        text.contains("HF_TOKEN") && text.contains("No token was sent"),
        "{text}"
    );
    assert_nothing_installed(&tmp.0, "g", "g.gguf");

    // With the token, the API call and the download both carry it.
    let got = pull_text(
        &tmp.0,
        &reference,
        &RefOptions::default(),
        &hub_opts(&server, Some("hf_secret")),
    )
    .unwrap();
    assert_eq!(fs::read(got.path).unwrap(), body);
    let log = server.log();
    let authorised: Vec<_> = log.iter().filter(|s| s.status != 401).collect();
    assert_eq!(authorised.len(), 2);
    assert!(
        authorised
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer hf_secret"))
    );
}

#[test]
fn a_refused_token_and_a_refused_download_say_so() {
    let body = tiny_gguf("llama", 5);
    let repo = "meta-llama/L-GGUF";
    let denied = Route {
        headers: vec![("X-Error-Code".into(), "GatedRepo".into())],
        ..Route::fixed(403, &b"{\"error\":\"gated\"}"[..])
    };
    let server = start([(format!("/api/models/{repo}/paths-info/main"), denied)]);
    let tmp = TempDir::new();
    let o = hub_opts(&server, Some("hf_other"));
    let reference = format!("hf:{repo}/l.gguf");

    let text = pull_text(&tmp.0, &reference, &RefOptions::default(), &o)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("HTTP 403") && text.contains("the repository is gated"),
        "{text}"
    );
    assert!(text.contains("A token was sent"), "{text}");

    // The API answers, but the download is refused: the failure carries the same advice.
    let [api, download] = hub_routes(repo, "l.gguf", &body);
    server.route(&api.0, api.1);
    server.route(
        &download.0,
        Route {
            bearer: Some("hf_right".into()),
            ..download.1
        },
    );
    let fails = failures(pull_text(&tmp.0, &reference, &RefOptions::default(), &o).unwrap_err());
    let text = fails[0].to_string();
    assert!(
        matches!(fails[0].error, SourceError::Denied { status: 401, .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}/{repo}", server.base())),
        "{text}"
    );
    assert_nothing_installed(&tmp.0, "l", "l.gguf");
}

#[test]
fn a_plain_url_needs_sha256_and_is_checked_against_it() {
    let body = tiny_gguf("qwen2", 6);
    let server = start([("/files/model.gguf".to_owned(), Route::new(body.clone()))]);
    let tmp = TempDir::new();
    let o = hub_opts(&server, Some("hf_never_sent"));
    let url = server.url("/files/model.gguf");

    let err = pull_text(&tmp.0, &url, &RefOptions::default(), &o).unwrap_err();
    assert!(matches!(err, ModelError::BadRequest { .. }), "{err:?}");
    assert!(err.to_string().contains("--sha256"), "{err}");
    assert!(
        server.log().is_empty(),
        "nothing is fetched without a checksum"
    );

    let wrong = RefOptions {
        sha256: Some(sha(b"other")),
        ..RefOptions::default()
    };
    let fails = failures(pull_text(&tmp.0, &url, &wrong, &o).unwrap_err());
    assert!(
        matches!(fails[0].error, SourceError::Checksum { .. }),
        "{fails:?}"
    );
    assert_nothing_installed(&tmp.0, "model", "model.gguf");

    let right = RefOptions {
        sha256: Some(sha(&body).to_uppercase()),
        name: Some("my-qwen".into()),
    };
    let got = pull_text(&tmp.0, &url, &right, &o).unwrap();
    assert_eq!(
        (got.name.as_str(), fs::read(&got.path).unwrap()),
        ("my-qwen", body.clone())
    );
    assert_eq!(find_in(&tmp.0, "my-qwen").unwrap().family, Family::Qwen2);
    let log = server.log();
    assert_eq!(log.last().unwrap().method, "GET");
    assert!(log.iter().any(|s| s.method == "HEAD"), "{log:?}");
    // The Hub token goes to the Hub only.
    assert!(log.iter().all(|s| s.authorization.is_none()), "{log:?}");

    // Another file under a taken name, or a catalogue name, is refused.
    let taken = pull_text(
        &tmp.0,
        &url,
        &RefOptions {
            sha256: Some(sha(&body)),
            name: Some("qwen3-4b".into()),
        },
        &o,
    );
    assert!(taken.unwrap_err().to_string().contains("catalogue model"));
}

#[test]
fn credentials_in_a_pulled_url_are_not_recorded() {
    let body = tiny_gguf("llama", 7);
    let signed = "/files/signed.gguf?X-Amz-Signature=s3cr3t";
    let server = start([(signed.to_owned(), Route::new(body.clone()))]);
    let tmp = TempDir::new();
    let o = hub_opts(&server, None);
    let right = RefOptions {
        sha256: Some(sha(&body)),
        name: None,
    };
    let got = pull_text(&tmp.0, &server.url(signed), &right, &o).unwrap();
    assert_eq!(
        fs::read(&got.path).unwrap(),
        body,
        "downloaded with the query"
    );
    assert!(got.note.unwrap().contains("pull the full URL again"));
    let record = fs::read_to_string(record_path(&tmp.0, "signed")).unwrap();
    assert!(!record.contains("s3cr3t"), "{record}");
    assert!(
        record.contains(&server.url("/files/signed.gguf")),
        "{record}"
    );
}

#[test]
fn files_hearth_cannot_run_are_refused_and_removed() {
    let html = b"<!DOCTYPE html><html>login</html>".to_vec();
    let phi = tiny_gguf("phi3", 7);
    let server = start([
        ("/a/page.gguf".to_owned(), Route::new(html.clone())),
        ("/a/phi.gguf".to_owned(), Route::new(phi.clone())),
        ("/a/model.bin".to_owned(), Route::new(phi.clone())),
    ]);
    let tmp = TempDir::new();
    let o = hub_opts(&server, None);
    let with_sha = |b: &[u8]| RefOptions {
        sha256: Some(sha(b)),
        ..RefOptions::default()
    };

    let err = pull_text(&tmp.0, &server.url("/a/page.gguf"), &with_sha(&html), &o).unwrap_err();
    assert!(matches!(err, ModelError::NotGguf { .. }), "{err:?}");
    assert!(err.to_string().contains("not a GGUF file"), "{err}");
    assert_nothing_installed(&tmp.0, "page", "page.gguf");

    let err = pull_text(&tmp.0, &server.url("/a/phi.gguf"), &with_sha(&phi), &o).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"phi3\" is not one Hearth's decoder runs"),
        "{err}"
    );
    assert_nothing_installed(&tmp.0, "phi", "phi.gguf");

    let err = pull_text(&tmp.0, &server.url("/a/model.bin"), &with_sha(&phi), &o).unwrap_err();
    assert!(err.to_string().contains("ending in .gguf"), "{err}");

    // A --sha256 that disagrees with the Hub is refused before anything is fetched.
    let body = tiny_gguf("qwen3", 8);
    let [api, dl] = hub_routes("org/Q-GGUF", "q.gguf", &body);
    server.route(&api.0, api.1);
    server.route(&dl.0, dl.1);
    let err = pull_text(&tmp.0, "hf:org/Q-GGUF/q.gguf", &with_sha(b"x"), &o).unwrap_err();
    assert!(
        err.to_string().contains("the Hub publishes sha256"),
        "{err}"
    );
    assert!(server.log().iter().all(|s| !s.path.contains("/resolve/")));
}
