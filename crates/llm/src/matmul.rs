//! Matrix × activations for the decoder: a [`Matrix`] is a weight tensor read in place from
//! the mapped GGUF (`rows` rows of `cols` values, each row a whole number of blocks); the
//! input is a batch of token vectors, quantised once per form ([`Input`]) and shared by the
//! products that read the same vectors (q, k and v; gate and up).

use super::pool::{Pool, split};
use super::quant::{Acts, Isa, Q8Blocks, Q8KBlocks, QK, QK_K, QType, dot, dot4, dot4_f16};

/// A weight matrix in GGUF layout: `rows × cols`, row-major, in type `t`.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// Element type.
    pub t: QType,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// `rows × row_bytes` bytes, usually a slice of the mapped file.
    pub data: &'a [u8],
}

impl Matrix<'_> {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.data.len() / self.rows
    }

    /// Row `r`'s bytes.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
}

/// A batch of `n` input vectors of width `cols`, with the quantised forms computed on demand.
#[derive(Default)]
pub struct Input {
    /// Vectors, `n × cols`.
    pub x: Vec<f32>,
    /// Vectors in the batch.
    pub n: usize,
    /// Width of each vector.
    pub cols: usize,
    q8: Q8Blocks,
    q8k: Q8KBlocks,
    q8_ready: bool,
    q8k_ready: bool,
}

impl Input {
    /// Takes new values (`n × cols` in `x`), dropping the quantised forms of the old ones.
    pub fn set(&mut self, x: &[f32], n: usize, cols: usize) {
        self.x.clear();
        self.x.extend_from_slice(&x[..n * cols]);
        (self.n, self.cols) = (n, cols);
        self.q8_ready = false;
        self.q8k_ready = false;
    }

    /// Bytes the buffers hold now (their capacity): the values and both quantised forms.
    pub fn bytes(&self) -> usize {
        self.x.capacity() * 4
            + (self.q8.d.capacity() + self.q8.s.capacity() + self.q8k.d.capacity()) * 4
            + self.q8.qs.capacity()
            + self.q8k.qs.capacity()
            + self.q8k.bsums.capacity() * 2
    }

    /// Bytes [`Input::bytes`] reaches for `n` vectors of up to `cols` values: the f32 values,
    /// Q8 blocks (8 bytes of scales per 32 values plus one byte each) and Q8_K blocks (4 bytes
    /// per 256 values, one byte each, 2 bytes per 16).
    pub fn bytes_for(n: usize, cols: usize) -> usize {
        let v = n * cols;
        v * 4 + v / QK * 8 + v + v / QK_K * 4 + v + v / 16 * 2
    }

    /// Computes the form the weight type `t` dots with.
    fn prepare(&mut self, t: QType) {
        match t.block_values() {
            QK if !self.q8_ready => {
                self.q8.quantize(&self.x[..self.n * self.cols]);
                self.q8_ready = true;
            }
            QK_K if !self.q8k_ready => {
                self.q8k.quantize(&self.x[..self.n * self.cols]);
                self.q8k_ready = true;
            }
            _ => {}
        }
    }

    /// Vector `i` in the form `t` dots with.
    fn acts(&self, t: QType, i: usize) -> Acts<'_> {
        match t.block_values() {
            QK => Acts::Q8(&self.q8, i * self.cols / QK),
            QK_K => Acts::Q8K(&self.q8k, i * self.cols / QK_K),
            _ => Acts::F32(&self.x[i * self.cols..(i + 1) * self.cols]),
        }
    }
}

/// A raw output pointer shared by the pool's shares, each writing disjoint elements.
struct Out(*mut f32);
// SAFETY: shares write disjoint ranges (see `matmul`), and `Pool::run` joins them all before
// the borrow of `out` ends.
unsafe impl Sync for Out {}

/// Bytes of input vectors a share keeps hot while its rows pass over them (the L1 data cache
/// of the small cores Hearth runs on is 32 KiB; the rest is for the rows).
const TILE_BYTES: usize = 24 * 1024;

/// `out[i·rows + r] = w.row(r) · input[i]` for every vector `i` and row `r`, the rows split
/// across the pool's threads. In a batch (prefill, the embedder), each row meets four vectors
/// at a time where the kernels allow ([`dot4`], [`dot4_f16`]), so its blocks are loaded and
/// unpacked once per four; and the vectors are taken in groups of about 24 KiB
/// (`TILE_BYTES`), every row of the share passing over one group before the next, so that a
/// long batch is not streamed from the outer caches once per row.
///
/// # Panics
/// When `out` is shorter than `n × rows` or the widths differ.
pub fn matmul(pool: &Pool, isa: Isa, w: &Matrix<'_>, input: &mut Input, out: &mut [f32]) {
    assert_eq!(w.cols, input.cols, "matrix width");
    let n = input.n;
    assert!(out.len() >= n * w.rows, "output size");
    input.prepare(w.t);
    let input = &*input;
    let dst = Out(out.as_mut_ptr());
    let per_vector = match w.t.block_values() {
        1 => w.cols * 4,
        _ => w.cols + w.cols / QK * 8,
    };
    let group = (TILE_BYTES / per_vector.max(1)).max(4) / 4 * 4;
    pool.run(&|share, shares| {
        let dst = &dst;
        let per_block = w.cols / QK;
        let rows = split(w.rows, share, shares, 4);
        for g0 in (0..n).step_by(group) {
            let g1 = (g0 + group).min(n);
            for r in rows.clone() {
                let row = w.row(r);
                let mut i = g0;
                if w.t.block_values() == QK {
                    while i + 4 <= g1 {
                        let b0 = [i, i + 1, i + 2, i + 3].map(|k| k * per_block);
                        let Some(v) = dot4(isa, w.t, row, &input.q8, b0, w.cols) else {
                            break;
                        };
                        for (k, v) in v.into_iter().enumerate() {
                            // SAFETY: as below.
                            unsafe { *dst.0.add((i + k) * w.rows + r) = v };
                        }
                        i += 4;
                    }
                } else if w.t == QType::F16 {
                    while i + 4 <= g1 {
                        let x = [i, i + 1, i + 2, i + 3]
                            .map(|k| &input.x[k * w.cols..(k + 1) * w.cols]);
                        let Some(v) = dot4_f16(isa, row, x, w.cols) else {
                            break;
                        };
                        for (k, v) in v.into_iter().enumerate() {
                            // SAFETY: as below.
                            unsafe { *dst.0.add((i + k) * w.rows + r) = v };
                        }
                        i += 4;
                    }
                }
                for i in i..g1 {
                    let v = dot(isa, w.t, row, input.acts(w.t, i), w.cols);
                    // SAFETY: index i·rows + r < n·rows ≤ out.len(), and row r belongs to this
                    // share only.
                    unsafe { *dst.0.add(i * w.rows + r) = v };
                }
            }
        }
    });
}
