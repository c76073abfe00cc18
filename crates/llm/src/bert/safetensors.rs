//! A reader of the safetensors format (<https://github.com/huggingface/safetensors>, "Format"):
//! an 8-byte little-endian header length `N`, `N` bytes of JSON naming each tensor's `dtype`,
//! `shape` and `data_offsets` (`[begin, end)` in bytes after the header), then the data,
//! little-endian and row-major. The file is memory-mapped while the weights are copied out.

use half::{bf16, f16};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Element types: the float ones Hearth reads, and the others by their element size (a
/// tensor of those, such as BERT's I64 `position_ids`, is skipped, and refused by name if
/// asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F16,
    BF16,
    Other(&'static str, usize),
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other(_, n) => n,
        }
    }

    /// The format's dtype names (`safetensors::Dtype`).
    fn parse(name: &str) -> Option<Dtype> {
        const OTHERS: [(&str, usize); 12] = [
            ("BOOL", 1),
            ("U8", 1),
            ("I8", 1),
            ("F8_E4M3", 1),
            ("F8_E5M2", 1),
            ("I16", 2),
            ("U16", 2),
            ("I32", 4),
            ("U32", 4),
            ("I64", 8),
            ("U64", 8),
            ("F64", 8),
        ];
        match name {
            "F32" => Some(Dtype::F32),
            "F16" => Some(Dtype::F16),
            "BF16" => Some(Dtype::BF16),
            _ => OTHERS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(n, size)| Dtype::Other(n, size)),
        }
    }
}

/// Where one tensor is.
struct Info {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Byte range in the file.
    range: std::ops::Range<usize>,
}

/// An open safetensors file.
pub struct SafeTensors {
    map: memmap2::Mmap,
    tensors: HashMap<String, Info>,
}

impl SafeTensors {
    /// Maps `path` and parses its header.
    ///
    /// # Errors
    /// What is wrong and where: an unreadable file, a header that is not the format's JSON, a
    /// tensor whose bytes lie outside the file or do not match its shape, an unknown dtype.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        // SAFETY: the map is read only while the weights are copied out (the caller drops it
        // then), and Hearth never writes model files in place: `hearth models pull` renames a
        // new file over the old one, which leaves the mapped inode intact. Another program
        // truncating the file meanwhile could fault the read.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
        let n = map
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or("shorter than the 8-byte header length")?;
        let data_start = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(8))
            .filter(|&end| end <= map.len())
            .ok_or_else(|| format!("the header length {n} runs past the end of the file"))?;
        let header: Value = serde_json::from_slice(&map[8..data_start])
            .map_err(|e| format!("the header is not JSON: {e}"))?;
        let Value::Object(entries) = header else {
            return Err("the header is not a JSON object".into());
        };
        let mut tensors = HashMap::new();
        for (name, v) in entries {
            if name == "__metadata__" {
                continue;
            }
            let info = parse_info(&v, data_start, map.len())
                .map_err(|e| format!("tensor {name:?}: {e}"))?;
            tensors.insert(name, info);
        }
        Ok(SafeTensors { map, tensors })
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor's values as f32.
    ///
    /// # Errors
    /// When it is missing or its shape is not `shape`.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let (info, bytes) = self.get(name, shape)?;
        Ok(match info.dtype {
            Dtype::Other(t, _) => {
                return Err(format!(
                    "tensor {name:?} is {t}, not a float type Hearth reads"
                ));
            }
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            Dtype::F16 => halves(bytes).map(|h| f16::from_bits(h).to_f32()).collect(),
            Dtype::BF16 => halves(bytes).map(|h| bf16::from_bits(h).to_f32()).collect(),
        })
    }

    /// The tensor's values as little-endian f16 (f32 rounded to nearest, ties to even), 2
    /// bytes each.
    ///
    /// # Errors
    /// As [`SafeTensors::f32`].
    pub fn f16_bytes(&self, name: &str, shape: &[usize]) -> Result<Vec<u8>, String> {
        let (info, bytes) = self.get(name, shape)?;
        Ok(match info.dtype {
            Dtype::F16 => bytes.to_vec(),
            _ => self
                .f32(name, shape)?
                .iter()
                .flat_map(|v| f16::from_f32(*v).to_bits().to_le_bytes())
                .collect(),
        })
    }

    fn get(&self, name: &str, shape: &[usize]) -> Result<(&Info, &[u8]), String> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("no tensor {name:?}"))?;
        if info.shape != shape {
            return Err(format!(
                "tensor {name:?} has shape {:?}, expected {shape:?}",
                info.shape
            ));
        }
        Ok((info, &self.map[info.range.clone()]))
    }
}

fn halves(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// One header entry: `{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}`.
fn parse_info(v: &Value, data_start: usize, file_len: usize) -> Result<Info, String> {
    let dtype = match v["dtype"].as_str() {
        Some(name) => Dtype::parse(name).ok_or_else(|| format!("unknown dtype {name}"))?,
        None => return Err("no dtype".into()),
    };
    let usizes = |key: &str| -> Result<Vec<usize>, String> {
        v[key]
            .as_array()
            .ok_or_else(|| format!("no {key}"))?
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| format!("{key} holds {x}, not a size"))
            })
            .collect()
    };
    let shape = usizes("shape")?;
    let offsets = usizes("data_offsets")?;
    let [begin, end] = offsets[..] else {
        return Err("data_offsets is not [begin, end]".into());
    };
    let elems = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("the shape overflows")?;
    let (start, stop) = (data_start + begin, data_start.saturating_add(end));
    if begin > end || stop > file_len {
        return Err(format!(
            "its bytes {begin}..{end} lie outside the file's {} data bytes",
            file_len - data_start
        ));
    }
    if end - begin != elems * dtype.size() {
        return Err(format!(
            "{} bytes for shape {shape:?} of {dtype:?}",
            end - begin
        ));
    }
    Ok(Info {
        dtype,
        shape,
        range: start..stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hearth-st-{}-{n}", std::process::id()));
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    #[test]
    fn reads_tensors_and_names_what_is_wrong() {
        let data: Vec<u8> = [1.0f32, -2.0, 0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain(f16::from_f32(3.0).to_bits().to_le_bytes())
            .collect();
        let p = file(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F16","shape":[1,1],"data_offsets":[12,14]}}"#,
            &data,
        );
        let st = SafeTensors::open(&p).expect("open");
        assert_eq!(st.f32("a", &[3]).expect("a"), [1.0, -2.0, 0.5]);
        assert_eq!(st.f32("b", &[1, 1]).expect("b"), [3.0]);
        assert_eq!(
            st.f16_bytes("a", &[3]).expect("a as f16")[2..4],
            f16::from_f32(-2.0).to_bits().to_le_bytes()
        );
        assert!(st.f32("a", &[1, 3]).unwrap_err().contains("shape [3]"));
        assert!(st.f32("c", &[1]).unwrap_err().contains("no tensor"));
        let _ = std::fs::remove_file(&p);

        let bad = file(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            &data,
        );
        let err = SafeTensors::open(&bad).err().expect("past the end");
        assert!(
            err.contains("tensor \"a\"") && err.contains("outside"),
            "{err}"
        );
        let _ = std::fs::remove_file(&bad);
        let half_written = file(r#"{"a":{"dtype":"F32""#, &[]);
        let err = SafeTensors::open(&half_written).err().expect("not JSON");
        assert!(err.contains("not JSON"), "{err}");
        let _ = std::fs::remove_file(&half_written);
    }
}
