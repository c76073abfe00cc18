//! URL sources: full download, resume, restarts, checksum failures, fallback, mirror, skip.

use std::fs;

use super::super::layout::part_path;
use super::super::test_server::{Route, TestServer};
use super::*;

#[test]
fn url_source_full_download() {
    let body = data(SIZE, 1);
    let server = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let mut rec = Recorder::default();

    let path = pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(path, tmp.0.join("tiny").join("f.bin"));
    assert_eq!(fs::read(&path).unwrap(), body);
    assert!(!part_path(&path).exists());
    assert_eq!(rec.starts, [("f.bin".to_owned(), SIZE as u64, 0)]);
    assert_eq!((rec.advanced, rec.finishes), (SIZE as u64, 1));
    let log = server.log();
    assert_eq!(
        (log.len(), log[0].range.as_deref(), log[0].status),
        (1, None, 200)
    );
    let st = status(&tmp.0, &m);
    assert!(st.installed && st.missing.is_empty(), "{st:?}");
    assert_eq!(st.bytes_on_disk, SIZE as u64);
}

#[test]
fn resume_after_partial_part() {
    let body = data(SIZE, 2);
    let server = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let dest = tmp.0.join("tiny").join("f.bin");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), &body[..70_000]).unwrap();
    let mut rec = Recorder::default();

    pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(&dest).unwrap(), body);
    let log = server.log();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].range.as_deref(), log[0].status),
        (Some("bytes=70000-"), 206)
    );
    assert_eq!(rec.starts, [("f.bin".to_owned(), SIZE as u64, 70_000)]);
    assert_eq!(rec.advanced, (SIZE - 70_000) as u64);
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let body = data(SIZE, 3);
    let route = Route {
        ignore_range: true,
        ..Route::new(body.clone())
    };
    let server = TestServer::start([("/f.bin", route)]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let dest = tmp.0.join("tiny").join("f.bin");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), &body[..70_000]).unwrap();
    let mut rec = Recorder::default();

    pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(&dest).unwrap(), body);
    let log = server.log();
    assert_eq!(
        (log.len(), log[0].range.as_deref(), log[0].status),
        (1, Some("bytes=70000-"), 200)
    );
    assert!(
        rec.notes.iter().any(|n| n.contains("ignored the range")),
        "{:?}",
        rec.notes
    );
    assert_eq!(rec.starts, [("f.bin".to_owned(), SIZE as u64, 0)]);
}

#[test]
fn refused_range_416_restarts_without_range() {
    let body = data(SIZE, 4);
    let route = Route {
        refuse_range: true,
        ..Route::new(body.clone())
    };
    let server = TestServer::start([("/f.bin", route)]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let dest = tmp.0.join("tiny").join("f.bin");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), &body[..1000]).unwrap();

    pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap();

    assert_eq!(fs::read(&dest).unwrap(), body);
    let statuses: Vec<_> = server
        .log()
        .iter()
        .map(|s| (s.range.clone(), s.status))
        .collect();
    assert_eq!(
        statuses,
        [(Some("bytes=1000-".to_owned()), 416), (None, 200)]
    );
}

#[test]
fn body_cut_short_is_resumed_within_the_pull() {
    let body = data(SIZE, 5);
    let route = Route {
        cut_first_after: Some(50_000),
        ..Route::new(body.clone())
    };
    let server = TestServer::start([("/f.bin", route)]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let mut rec = Recorder::default();

    let path = pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(path).unwrap(), body);
    let statuses: Vec<_> = server
        .log()
        .iter()
        .map(|s| (s.range.clone(), s.status))
        .collect();
    assert_eq!(
        statuses,
        [(None, 200), (Some("bytes=50000-".to_owned()), 206)]
    );
    assert!(
        rec.notes.iter().any(|n| n.contains("resuming")),
        "{:?}",
        rec.notes
    );
}

#[test]
fn checksum_mismatch_fails_and_installs_nothing() {
    let body = data(SIZE, 6);
    let wrong = data(SIZE, 7);
    let server = TestServer::start([("/f.bin", Route::new(wrong.clone()))]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();

    let err = pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err();

    let text = err.to_string();
    assert!(
        text.contains(&sha(&body)) && text.contains(&sha(&wrong)),
        "{text}"
    );
    assert!(!err.is_retryable());
    let fails = failures(err);
    assert!(
        matches!(fails[0].error, SourceError::Checksum { .. }),
        "{fails:?}"
    );
    let dest = tmp.0.join("tiny").join("f.bin");
    assert!(!dest.exists() && !part_path(&dest).exists());
    assert!(!status(&tmp.0, &m).installed);
}

#[test]
fn first_source_404_then_second_source_used() {
    let body = data(SIZE, 8);
    let server = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let sources = vec![url(server.url("/gone.bin")), url(server.url("/f.bin"))];
    let m = manifest(vec![spec("f.bin", &body, sources)]);
    let tmp = TempDir::new();
    let mut rec = Recorder::default();

    let path = pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(path).unwrap(), body);
    let paths: Vec<_> = server
        .log()
        .iter()
        .map(|s| (s.path.clone(), s.status))
        .collect();
    assert_eq!(
        paths,
        [("/gone.bin".to_owned(), 404), ("/f.bin".to_owned(), 200)]
    );
    assert!(
        rec.notes.iter().any(|n| n.contains("HTTP status 404")),
        "{:?}",
        rec.notes
    );
}

#[test]
fn every_source_failing_lists_each_one() {
    let body = data(1000, 9);
    let server = TestServer::start([]);
    // A port with nothing listening: bind, note it, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/f.bin", l.local_addr().unwrap())
    };
    let sources = vec![url(server.url("/gone.bin")), url(closed.clone())];
    let m = manifest(vec![spec("f.bin", &body, sources)]);
    let tmp = TempDir::new();

    let err = pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err();

    let text = err.to_string();
    assert!(text.contains("could not fetch f.bin of tiny"), "{text}");
    assert!(
        text.contains(&format!("{}: HTTP status 404", server.url("/gone.bin"))),
        "{text}"
    );
    assert!(text.contains(&format!("{closed}: network error")), "{text}");
    assert!(err.is_retryable());
    assert!(!tmp.0.join("tiny").join("f.bin").exists());
}

#[test]
fn installed_files_are_skipped_unless_verification_finds_damage() {
    let body = data(SIZE, 13);
    let server = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let path = pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap();

    let mut rec = Recorder::default();
    pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();
    assert_eq!(server.log().len(), 1, "no request for an installed file");
    assert!(
        rec.notes.iter().any(|n| n.contains("already installed")),
        "{:?}",
        rec.notes
    );

    // Same size, other bytes: only a verifying pull notices.
    fs::write(&path, data(SIZE, 14)).unwrap();
    pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap();
    assert_eq!(server.log().len(), 1);
    let verify = PullOptions {
        verify_existing: true,
        ..opts()
    };
    let mut rec = Recorder::default();
    pull_manifest(&tmp.0, &m, &verify, &mut rec).unwrap();
    assert_eq!(server.log().len(), 2);
    assert_eq!(fs::read(&path).unwrap(), body);
    assert!(
        rec.notes.iter().any(|n| n.contains("damaged")),
        "{:?}",
        rec.notes
    );
}

#[test]
fn mirror_is_tried_before_the_manifest_sources() {
    let body = data(SIZE, 15);
    let upstream = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let mirror = TestServer::start([("/models/tiny/f.bin", Route::new(body.clone()))]);
    let m = manifest(vec![spec(
        "f.bin",
        &body,
        vec![url(upstream.url("/f.bin"))],
    )]);
    let tmp = TempDir::new();
    let with_mirror = PullOptions {
        mirror: Some(format!("{}/models/", mirror.base())),
        ..opts()
    };

    pull_manifest(&tmp.0, &m, &with_mirror, &mut NoProgress).unwrap();

    assert_eq!(mirror.log().len(), 1);
    assert!(upstream.log().is_empty());
}

#[test]
fn an_unreachable_host_is_skipped_for_later_files() {
    let one = data(1000, 20);
    let two = data(1000, 21);
    let server = TestServer::start([("/one.bin", Route::new(one.clone()))]);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let m = manifest(vec![
        spec(
            "one.bin",
            &one,
            vec![
                url(format!("{closed}/one.bin")),
                url(server.url("/one.bin")),
            ],
        ),
        spec(
            "two.bin",
            &two,
            vec![url(format!("{closed}/two.bin")), url(server.url("/gone"))],
        ),
    ]);
    let tmp = TempDir::new();

    let fails = failures(pull_manifest(&tmp.0, &m, &opts(), &mut NoProgress).unwrap_err());

    assert!(tmp.0.join("tiny/one.bin").exists());
    let text: Vec<_> = fails.iter().map(ToString::to_string).collect();
    assert!(
        text[0].contains("was unreachable earlier in this pull"),
        "{text:?}"
    );
    assert!(text[1].ends_with("HTTP status 404"), "{text:?}");
}

#[test]
fn a_complete_but_damaged_part_is_downloaded_again() {
    let body = data(SIZE, 22);
    let server = TestServer::start([("/f.bin", Route::new(body.clone()))]);
    let m = manifest(vec![spec("f.bin", &body, vec![url(server.url("/f.bin"))])]);
    let tmp = TempDir::new();
    let dest = tmp.0.join("tiny").join("f.bin");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(part_path(&dest), data(SIZE, 23)).unwrap();
    let mut rec = Recorder::default();

    pull_manifest(&tmp.0, &m, &opts(), &mut rec).unwrap();

    assert_eq!(fs::read(&dest).unwrap(), body);
    assert_eq!(server.log()[0].range, None);
    assert!(
        rec.notes.iter().any(|n| n.contains("damaged f.bin.part")),
        "{:?}",
        rec.notes
    );
}
