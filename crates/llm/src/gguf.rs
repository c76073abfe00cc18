//! GGUF files memory-mapped and read in place: the header, metadata and tensor directory are
//! parsed once with bounds checks; tensor data and large metadata arrays (vocabularies,
//! merges) stay in the mapping as clean, shared file pages, never copied to the heap.
//!
//! Format per the GGUF spec (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>):
//! magic `GGUF`, version (2 or 3), tensor count (u64), metadata count (u64), the metadata
//! key/values (string key, u32 value type, value), the tensor infos (name, u32 rank, u64 dims
//! innermost first, u32 `ggml_type`, u64 offset), padding to `general.alignment` (default 32),
//! then the tensor data. All little-endian; strings are a u64 length and UTF-8 bytes.

use super::quant::QType;
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a GGUF file cannot be used: the file, the byte offset where reading failed (when it
/// is about the bytes), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {what}", .path.display(), .offset.map(|o| format!(": byte {o}")).unwrap_or_default())]
pub struct GgufError {
    /// The file.
    pub path: PathBuf,
    /// Where in the file, in bytes from its start.
    pub offset: Option<u64>,
    /// What is wrong, in words.
    pub what: String,
}

/// One metadata value. Strings and arrays are ranges of the mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Unsigned integer (u8, u16, u32, u64 in the file).
    Uint(u64),
    /// Signed integer (i8, i16, i32, i64 in the file).
    Int(i64),
    /// Float (f32, f64 in the file).
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string: byte range of the mapping.
    Str(usize, usize),
    /// Array: element type (GGUF value type), length, byte offset of the first element.
    Array(u32, usize, usize),
}

/// A tensor's entry in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Dimensions, innermost (contiguous) first: a matrix is `[cols, rows]`.
    pub dims: Vec<usize>,
    /// `ggml_type` number as stored (see [`QType::from_ggml`]).
    pub ggml_type: u32,
    /// Absolute byte offset of the data in the file.
    pub start: usize,
    /// Data length in bytes (0 when the type is not one Hearth runs).
    pub len: usize,
}

/// A mapped, parsed GGUF file.
pub struct Gguf {
    path: PathBuf,
    map: Mmap,
    /// Format version (2 or 3).
    pub version: u32,
    meta: BTreeMap<String, Value>,
    /// Each metadata entry's key and its bytes in the file (key, type, value), file order.
    entries: Vec<(String, std::ops::Range<usize>)>,
    /// Data alignment in bytes (`general.alignment`, default 32).
    align: usize,
    tensors: BTreeMap<String, TensorInfo>,
}

/// A bounds-checked little-endian reader over the mapping.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("file ends inside a {n}-byte field (truncated?)"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// A length or count, refused when it cannot fit in the file (corrupt or hostile input).
    fn len(&mut self, unit: usize) -> Result<usize, String> {
        let n = self.u64()?;
        let room = (self.b.len() - self.at) / unit.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= room)
            .ok_or_else(|| format!("length {n} is larger than the file"))
    }
    fn string(&mut self) -> Result<(usize, usize), String> {
        let n = self.len(1)?;
        let start = self.at;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("string is not UTF-8 ({e})"))?;
        Ok((start, start + n))
    }
    /// Reads one value of GGUF value type `ty`.
    fn value(&mut self, ty: u32, depth: u8) -> Result<Value, String> {
        let le = |s: &[u8]| {
            let mut b = [0u8; 8];
            b[..s.len()].copy_from_slice(s);
            u64::from_le_bytes(b)
        };
        let sign = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
        Ok(match ty {
            0 => Value::Uint(le(self.take(1)?)),
            2 => Value::Uint(le(self.take(2)?)),
            4 => Value::Uint(le(self.take(4)?)),
            10 => Value::Uint(le(self.take(8)?)),
            1 => Value::Int(sign(le(self.take(1)?), 8)),
            3 => Value::Int(sign(le(self.take(2)?), 16)),
            5 => Value::Int(sign(le(self.take(4)?), 32)),
            11 => Value::Int(le(self.take(8)?) as i64),
            6 => Value::Float(f32::from_bits(self.u32()?) as f64),
            12 => Value::Float(f64::from_bits(self.u64()?)),
            7 => match self.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("bool value {b} is neither 0 nor 1")),
            },
            8 => {
                let (s, e) = self.string()?;
                Value::Str(s, e)
            }
            9 if depth == 0 => {
                let elem = self.u32()?;
                let n = self.len(1)?;
                let start = self.at;
                for _ in 0..n {
                    self.value(elem, depth + 1)?;
                }
                Value::Array(elem, n, start)
            }
            9 => return Err("nested arrays are not supported".into()),
            t => return Err(format!("unknown metadata value type {t}")),
        })
    }
}

impl Gguf {
    /// Maps `path` and parses its header.
    ///
    /// # Errors
    /// [`GgufError`] when the file cannot be opened or mapped, is not GGUF (v2 or v3), is
    /// truncated, or has a tensor whose data lies outside the file or is misaligned.
    pub fn open(path: &Path) -> Result<Gguf, GgufError> {
        let err = |offset: Option<u64>, what: String| GgufError {
            path: path.to_path_buf(),
            offset,
            what,
        };
        let file = File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
        // SAFETY: the mapping is read-only. Hearth writes model files only by renaming a new
        // file into place (models/pull.rs), so a mapped file is never modified underneath;
        // another process truncating it would be a SIGBUS, as for any mapped reader.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| err(None, format!("cannot map: {e}")))?;
        let mut c = Cursor { b: &map, at: 0 };
        let at = |c: &Cursor<'_>| Some(c.at as u64);
        if c.take(4).ok() != Some(b"GGUF".as_slice()) {
            return Err(err(Some(0), "not a GGUF file (no GGUF magic)".into()));
        }
        let version = c.u32().map_err(|e| err(at(&c), e))?;
        if !(2..=3).contains(&version) {
            return Err(err(
                Some(4),
                format!("GGUF version {version} (Hearth reads 2 and 3)"),
            ));
        }
        let n_tensors = c.len(1).map_err(|e| err(at(&c), e))?;
        let n_meta = c.len(1).map_err(|e| err(at(&c), e))?;
        let mut meta = BTreeMap::new();
        let mut entries = Vec::with_capacity(n_meta.min(1 << 12));
        for _ in 0..n_meta {
            let here = at(&c);
            let begin = c.at;
            let (ks, ke) = c.string().map_err(|e| err(here, e))?;
            let key = std::str::from_utf8(&map[ks..ke])
                .expect("checked")
                .to_string();
            let ty = c.u32().map_err(|e| err(at(&c), format!("{key}: {e}")))?;
            let v = c
                .value(ty, 0)
                .map_err(|e| err(here, format!("metadata {key}: {e}")))?;
            entries.push((key.clone(), begin..c.at));
            meta.insert(key, v);
        }
        let mut infos = Vec::with_capacity(n_tensors.min(1 << 16));
        for _ in 0..n_tensors {
            let here = at(&c);
            let mut one = || -> Result<(String, Vec<usize>, u32, u64), String> {
                let (s, e) = c.string()?;
                let name = std::str::from_utf8(&map[s..e])
                    .expect("checked")
                    .to_string();
                let rank = c.u32()?;
                if rank == 0 || rank > 4 {
                    return Err(format!("tensor {name}: rank {rank} (1 to 4 expected)"));
                }
                let dims = (0..rank)
                    .map(|_| c.u64().map(|d| d as usize))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((name, dims, c.u32()?, c.u64()?))
            };
            infos.push(one().map_err(|e| err(here, e))?);
        }
        let align = match meta.get("general.alignment") {
            None => 32,
            Some(Value::Uint(a)) if a.is_power_of_two() => *a as usize,
            Some(v) => {
                return Err(err(
                    None,
                    format!("general.alignment is {v:?}, not a power of two"),
                ));
            }
        };
        let data_start = c.at.div_ceil(align) * align;
        let mut tensors = BTreeMap::new();
        for (name, dims, ggml_type, offset) in infos {
            let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let len = match (QType::from_ggml(ggml_type), count) {
                (Some(t), Some(n)) if n.is_multiple_of(t.block_values()) => {
                    n / t.block_values() * t.block_bytes()
                }
                (Some(t), _) => {
                    return Err(err(
                        None,
                        format!("tensor {name}: {dims:?} is not whole {} blocks", t.name()),
                    ));
                }
                (None, _) => 0,
            };
            let start = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(data_start));
            let fits = start
                .and_then(|s| s.checked_add(len))
                .is_some_and(|e| e <= map.len());
            let start = match start {
                Some(s) if fits && s % align == 0 => s,
                _ => {
                    return Err(err(
                        Some(offset.saturating_add(data_start as u64)),
                        format!(
                            "tensor {name}: data ({len} bytes) lies outside the file or is misaligned (truncated download?)"
                        ),
                    ));
                }
            };
            tensors.insert(
                name,
                TensorInfo {
                    dims,
                    ggml_type,
                    start,
                    len,
                },
            );
        }
        Ok(Gguf {
            path: path.to_path_buf(),
            map,
            version,
            meta,
            entries,
            align,
            tensors,
        })
    }

    /// Every metadata entry as its key and its bytes in the file (key, value type and value,
    /// as the format writes them), in file order: for copying metadata verbatim.
    pub fn meta_entries(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|(k, r)| (k.as_str(), &self.map[r.clone()]))
    }

    /// Alignment of tensor data in bytes (`general.alignment`, 32 when absent).
    pub fn alignment(&self) -> usize {
        self.align
    }

    /// The file this was mapped from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole mapping (tensor data is `bytes()[info.start..info.start + info.len]`).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Length of the mapping, in bytes.
    pub fn mapped_bytes(&self) -> usize {
        self.map.len()
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.meta.get(key).copied()
    }

    /// A string value, or `None` when missing or of another type.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s, e) => std::str::from_utf8(&self.map[s..e]).ok(),
            _ => None,
        }
    }

    /// An integer value (signed or unsigned, any width) as u64, `None` when missing, of
    /// another type, or negative.
    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::Uint(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A number value as f64, `None` when missing or not a number.
    pub fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Float(v) => Some(v),
            Value::Uint(v) => Some(v as f64),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// A boolean value.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array value, decoded one by one from the mapping (strings as
    /// [`Value::Str`] ranges; see [`Gguf::text`]). `None` when missing or not an array.
    pub fn array(&self, key: &str) -> Option<impl Iterator<Item = Value> + '_> {
        let Value::Array(elem, n, start) = self.get(key)? else {
            return None;
        };
        let mut c = Cursor {
            b: &self.map,
            at: start,
        };
        // Every element was decoded once when the file was opened, so this cannot fail.
        Some((0..n).map(move |_| c.value(elem, 1).expect("validated at open")))
    }

    /// The text of a [`Value::Str`] range (empty for other values).
    pub fn text(&self, v: Value) -> &str {
        match v {
            Value::Str(s, e) => std::str::from_utf8(&self.map[s..e]).unwrap_or(""),
            _ => "",
        }
    }

    /// A tensor's directory entry by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// Every tensor, by name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &TensorInfo)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Builds the error for this file at `offset` (or none).
    pub fn error(&self, offset: Option<u64>, what: impl Into<String>) -> GgufError {
        GgufError {
            path: self.path.clone(),
            offset,
            what: what.into(),
        }
    }
}

#[cfg(test)]
#[path = "gguf_tests.rs"]
mod tests;
