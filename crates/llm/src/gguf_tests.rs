//! GGUF parsing: a file written here byte by byte (the spec's layout), the errors for
//! truncated and corrupt files, and the real SmolLM2 file against candle's reader.

use super::*;

/// A minimal GGUF v3 writer for tests: metadata (u32, string, f32, string array) and tensors.
#[derive(Default)]
struct Writer {
    meta: Vec<u8>,
    n_meta: u64,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

impl Writer {
    fn u32(mut self, k: &str, v: u32) -> Self {
        put_str(&mut self.meta, k);
        self.meta.extend(4u32.to_le_bytes());
        self.meta.extend(v.to_le_bytes());
        self.n_meta += 1;
        self
    }
    fn f32(mut self, k: &str, v: f32) -> Self {
        put_str(&mut self.meta, k);
        self.meta.extend(6u32.to_le_bytes());
        self.meta.extend(v.to_le_bytes());
        self.n_meta += 1;
        self
    }
    fn str(mut self, k: &str, v: &str) -> Self {
        put_str(&mut self.meta, k);
        self.meta.extend(8u32.to_le_bytes());
        put_str(&mut self.meta, v);
        self.n_meta += 1;
        self
    }
    fn strs(mut self, k: &str, v: &[&str]) -> Self {
        put_str(&mut self.meta, k);
        self.meta.extend(9u32.to_le_bytes());
        self.meta.extend(8u32.to_le_bytes());
        self.meta.extend((v.len() as u64).to_le_bytes());
        for s in v {
            put_str(&mut self.meta, s);
        }
        self.n_meta += 1;
        self
    }
    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) -> Self {
        self.tensors.push((name.into(), dims.to_vec(), ty, data));
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend((self.tensors.len() as u64).to_le_bytes());
        b.extend(self.n_meta.to_le_bytes());
        b.extend(&self.meta);
        let mut off = 0u64;
        for (name, dims, ty, data) in &self.tensors {
            put_str(&mut b, name);
            b.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(ty.to_le_bytes());
            b.extend(off.to_le_bytes());
            off += (data.len() as u64).div_ceil(32) * 32;
        }
        b.resize(b.len().div_ceil(32) * 32, 0);
        for (_, _, _, data) in &self.tensors {
            b.extend(data);
            b.resize(b.len().div_ceil(32) * 32, 0);
        }
        b
    }
}

fn sample() -> Writer {
    let w: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    Writer::default()
        .str("general.architecture", "llama")
        .u32("llama.block_count", 2)
        .f32("llama.rope.freq_base", 10000.0)
        .strs("tokenizer.ggml.tokens", &["<s>", "a", "é"])
        .tensor("w", &[4, 2], 0, w)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "hearth-gguf-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

#[test]
fn reads_metadata_arrays_and_tensors_in_place() {
    let dir = tmp();
    let g = Gguf::open(&write(&dir, "ok.gguf", &sample().bytes())).expect("open");
    assert_eq!(g.version, 3);
    assert_eq!(g.str("general.architecture"), Some("llama"));
    assert_eq!(g.uint("llama.block_count"), Some(2));
    assert_eq!(g.float("llama.rope.freq_base"), Some(10000.0));
    let toks: Vec<&str> = g
        .array("tokenizer.ggml.tokens")
        .expect("array")
        .map(|v| g.text(v))
        .collect();
    assert_eq!(toks, ["<s>", "a", "é"]);
    let t = g.tensor("w").expect("tensor");
    assert_eq!(
        (t.dims.as_slice(), t.ggml_type, t.len, t.start % 32),
        (&[4, 2][..], 0, 32, 0)
    );
    let data = &g.bytes()[t.start..t.start + t.len];
    assert_eq!(f32::from_le_bytes(data[28..32].try_into().expect("4")), 7.0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn truncated_and_corrupt_files_say_what_and_where() {
    let dir = tmp();
    let good = sample().bytes();
    let e = Gguf::open(&write(&dir, "cut.gguf", &good[..good.len() - 8]))
        .err()
        .expect("cut data");
    assert!(
        e.to_string().contains("tensor w") && e.to_string().contains("outside the file"),
        "{e}"
    );
    let e = Gguf::open(&write(&dir, "cuthead.gguf", &good[..60]))
        .err()
        .expect("cut header");
    assert!(
        e.offset.is_some() && e.to_string().contains("truncated"),
        "{e}"
    );
    let mut bad = good.clone();
    bad[0] = b'X';
    let e = Gguf::open(&write(&dir, "magic.gguf", &bad))
        .err()
        .expect("magic");
    assert_eq!(e.offset, Some(0));
    assert!(
        e.to_string()
            .contains("magic.gguf: byte 0: not a GGUF file"),
        "{e}"
    );
    // A string length far beyond the file is refused before any allocation.
    let mut huge = good.clone();
    huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = Gguf::open(&write(&dir, "huge.gguf", &huge))
        .err()
        .expect("huge");
    assert!(e.to_string().contains("larger than the file"), "{e}");
    let e = Gguf::open(&dir.join("missing.gguf"))
        .err()
        .expect("missing");
    assert!(e.to_string().contains("cannot open"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

/// The shipped SmolLM2 file: the same tensors, shapes and metadata as candle's reader sees.
#[test]
fn real_model_matches_candles_reader() {
    let path = crate::test_model();
    let g = Gguf::open(&path).expect("open");
    let mut f = std::fs::File::open(&path).expect("file");
    let c = candle_core::quantized::gguf_file::Content::read(&mut f).expect("candle");
    assert_eq!(g.tensors().count(), c.tensor_infos.len());
    for (name, info) in &c.tensor_infos {
        let mine = g.tensor(name).expect("same tensors");
        let dims: Vec<usize> = info.shape.dims().iter().rev().copied().collect();
        assert_eq!(mine.dims, dims, "{name}");
        assert_eq!(
            mine.start,
            c.tensor_data_offset as usize + info.offset as usize,
            "{name}"
        );
    }
    assert_eq!(g.str("general.architecture"), Some("llama"));
    assert_eq!(
        g.array("tokenizer.ggml.tokens").expect("vocab").count(),
        49152
    );
}
