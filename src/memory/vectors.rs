//! Chunk vectors: their encoding in the store, and the in-memory int8 scan.
//!
//! Stored value of one chunk (little-endian): `dims` × f32 (the unit-length embedding),
//! then `dims` × i8 (the same vector quantised symmetrically, `x ≈ code × scale`), then the
//! f32 `scale`. The int8 codes of every chunk are held in one contiguous array
//! (`dims` bytes per chunk: 38 MB at 100k chunks of 384 dims) and scanned with integer dot
//! products; the best candidates are then re-scored exactly with the f32 vectors from LMDB.

use std::collections::HashMap;

/// Bytes of one stored vector of `dims` dimensions.
pub fn encoded_len(dims: usize) -> usize {
    dims * 4 + dims + 4
}

/// Quantises `v` to int8 with one scale: `scale = max|x| / 127`, `code = round(x / scale)`.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let codes = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, scale)
}

/// Encodes a vector for the store.
pub fn encode(v: &[f32]) -> Vec<u8> {
    let (codes, scale) = quantize(v);
    let mut out = Vec::with_capacity(encoded_len(v.len()));
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend(codes.iter().map(|&c| c as u8));
    out.extend_from_slice(&scale.to_le_bytes());
    out
}

/// The f32 vector of a stored value, or `None` if the value is not `dims` long.
pub fn decode_f32(bytes: &[u8], dims: usize) -> Option<Vec<f32>> {
    if bytes.len() != encoded_len(dims) {
        return None;
    }
    Some(
        bytes[..dims * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// The int8 codes and scale of a stored value.
pub fn decode_i8(bytes: &[u8], dims: usize) -> Option<(&[u8], f32)> {
    if bytes.len() != encoded_len(dims) {
        return None;
    }
    let codes = &bytes[dims * 4..dims * 5];
    let s = &bytes[dims * 5..];
    Some((codes, f32::from_le_bytes([s[0], s[1], s[2], s[3]])))
}

/// Dot product of two f32 vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Integer dot product of int8 codes (written so LLVM vectorises it).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// The in-memory int8 copy of every chunk vector, for a brute-force scan.
#[derive(Debug, Default)]
pub struct VectorScan {
    dims: usize,
    ids: Vec<u64>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    row: HashMap<u64, usize>,
}

impl VectorScan {
    /// An empty scan of `dims`-dimensional vectors.
    pub fn new(dims: usize) -> Self {
        Self {
            dims,
            ..Self::default()
        }
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes held (codes, scales, ids and the id map, approximately).
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity()
            + self.scales.capacity() * 4
            + self.ids.capacity() * 8
            + self.row.capacity() * 24
    }

    /// Adds or replaces the vector of `id` from its int8 codes (as stored) and scale.
    pub fn upsert(&mut self, id: u64, codes: &[u8], scale: f32) {
        debug_assert_eq!(codes.len(), self.dims);
        let codes = codes.iter().map(|&c| c as i8);
        match self.row.get(&id) {
            Some(&r) => {
                let at = r * self.dims;
                for (dst, c) in self.codes[at..at + self.dims].iter_mut().zip(codes) {
                    *dst = c;
                }
                self.scales[r] = scale;
            }
            None => {
                self.row.insert(id, self.ids.len());
                self.ids.push(id);
                self.codes.extend(codes);
                self.scales.push(scale);
            }
        }
    }

    /// Removes the vector of `id`, if present (the last row moves into its place).
    pub fn remove(&mut self, id: u64) {
        let Some(r) = self.row.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if r != last {
            let moved = self.ids[last];
            self.ids[r] = moved;
            self.scales[r] = self.scales[last];
            self.codes
                .copy_within(last * self.dims..(last + 1) * self.dims, r * self.dims);
            self.row.insert(moved, r);
        }
        self.ids.pop();
        self.scales.pop();
        self.codes.truncate(last * self.dims);
    }

    /// The `k` ids whose vectors have the highest approximate cosine with the unit-length
    /// `query`, best first, with that approximate score.
    pub fn top_k(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if k == 0 || self.ids.is_empty() || query.len() != self.dims {
            return Vec::new();
        }
        let (q, qs) = quantize(query);
        // A min-heap of the best k (score bits are ordered for finite f32 ≥ -2 via i64 map).
        let mut best: std::collections::BinaryHeap<std::cmp::Reverse<(i64, usize)>> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        for (r, row) in self.codes.chunks_exact(self.dims).enumerate() {
            let approx = dot_i8(&q, row) as f32 * qs * self.scales[r];
            let key = (approx * 1e6) as i64;
            if best.len() < k {
                best.push(std::cmp::Reverse((key, r)));
            } else if let Some(std::cmp::Reverse((min, _))) = best.peek()
                && key > *min
            {
                best.pop();
                best.push(std::cmp::Reverse((key, r)));
            }
        }
        let mut out: Vec<(u64, f32)> = best
            .into_iter()
            .map(|std::cmp::Reverse((key, r))| (self.ids[r], key as f32 / 1e6))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn encoding_round_trips() {
        let v = unit(
            (0..384)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect(),
        );
        let b = encode(&v);
        assert_eq!(b.len(), encoded_len(384));
        assert_eq!(decode_f32(&b, 384).as_deref(), Some(&v[..]));
        let (codes, scale) = decode_i8(&b, 384).expect("i8");
        let approx: Vec<f32> = codes.iter().map(|&c| c as i8 as f32 * scale).collect();
        assert!(dot(&approx, &v) > 0.999);
        assert!(decode_f32(&b[1..], 384).is_none());
    }

    #[test]
    fn scan_finds_nearest_and_survives_removal() {
        let dims = 8;
        let mut s = VectorScan::new(dims);
        let vecs: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                unit(
                    (0..dims)
                        .map(|d| ((i + 1) as f32 * (d as f32 + 1.3)).sin())
                        .collect(),
                )
            })
            .collect();
        for (i, v) in vecs.iter().enumerate() {
            let b = encode(v);
            let (c, sc) = decode_i8(&b, dims).expect("i8");
            s.upsert(i as u64, c, sc);
        }
        assert_eq!(s.len(), 50);
        let top = s.top_k(&vecs[17], 3);
        assert_eq!(top[0].0, 17, "{top:?}");
        assert!(top[0].1 > 0.98);
        s.remove(17);
        s.remove(49);
        s.remove(1000);
        assert_eq!(s.len(), 48);
        assert!(s.top_k(&vecs[17], 50).iter().all(|(id, _)| *id != 17));
        let top = s.top_k(&vecs[3], 1);
        assert_eq!(top[0].0, 3);
    }
}
