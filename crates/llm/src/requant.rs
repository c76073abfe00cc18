//! Rewriting a GGUF file with its weight matrices in another block type (once per file: a
//! Q4_1 or Q5_1 file runs faster as Q8_0). The output follows the GGUF specification
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>): version 3, the source's
//! metadata entries copied byte for byte (only `general.file_type` is rewritten), tensor infos
//! in the source's data order, data aligned to the source's `general.alignment`.

use super::gguf::Gguf;
use super::quant::{QK, QType, dequantize_row};
use half::f16;
use std::io::{self, Write};

/// llama.cpp's `LLAMA_FTYPE_MOSTLY_Q8_0`, the `general.file_type` of a mostly-Q8_0 file.
const FTYPE_MOSTLY_Q8_0: u32 = 7;

/// The block types a file is requantised from (see [`requantize`]): Q5_1 has only the
/// portable kernel, and Q4_1's SIMD kernels run behind Q8_0's. (Q5_0 is portable-only too but
/// is kept as it is, as `hearth models recommend`'s memory estimate assumes.)
pub fn is_slow(t: QType) -> bool {
    matches!(t, QType::Q4_1 | QType::Q5_1)
}

/// Whether `g` stores a weight matrix in a slow type ([`is_slow`]).
pub fn has_slow_matrices(g: &Gguf) -> bool {
    g.tensors()
        .any(|(_, t)| t.dims.len() == 2 && QType::from_ggml(t.ggml_type).is_some_and(is_slow))
}

/// Writes `src` to `out` with every 2-D tensor (the weight matrices) stored as `to`, keeping
/// the metadata and the other tensors byte for byte. A matrix already in `to`, or whose rows
/// are not a whole number of `to`'s blocks, is copied as is. Rows are converted one at a time
/// through f32 (dequantised as ggml does, quantised as ggml's `quantize_row_q8_0_ref`), so
/// memory use is a row. Returns how many tensors were converted.
///
/// # Errors
/// `to` is not Q8_0 (the only target), a tensor's type is one Hearth cannot read (its size is
/// unknown, so it cannot be copied), or writing fails.
pub fn requantize(src: &Gguf, to: QType, out: &mut impl Write) -> io::Result<usize> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    if to != QType::Q8_0 {
        return Err(bad(format!(
            "requantising to {} is not supported (Q8_0 only)",
            to.name()
        )));
    }
    let mut tensors: Vec<_> = src.tensors().collect();
    tensors.sort_by_key(|(_, t)| t.start);
    // (name, dims, stored type, source type when converted).
    let mut plan = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        let from = QType::from_ggml(t.ggml_type).ok_or_else(|| {
            bad(format!(
                "tensor {name} has ggml type {}, which Hearth cannot read or copy",
                t.ggml_type
            ))
        })?;
        let convert = t.dims.len() == 2 && from != to && t.dims[0].is_multiple_of(QK);
        plan.push((
            *name,
            &t.dims,
            if convert { to } else { from },
            convert.then_some(from),
        ));
    }
    let converted = plan.iter().filter(|p| p.3.is_some()).count();
    let align = src.alignment();

    let mut w = Counting { inner: out, at: 0 };
    w.write_all(b"GGUF")?;
    w.write_all(&3u32.to_le_bytes())?;
    w.write_all(&(plan.len() as u64).to_le_bytes())?;
    w.write_all(&(src.meta_entries().count() as u64).to_le_bytes())?;
    for (key, bytes) in src.meta_entries() {
        if key == "general.file_type" && converted > 0 {
            write_str(&mut w, key)?;
            w.write_all(&4u32.to_le_bytes())?; // GGUF_TYPE_UINT32
            w.write_all(&FTYPE_MOSTLY_Q8_0.to_le_bytes())?;
        } else {
            w.write_all(bytes)?;
        }
    }
    let mut offset = 0u64;
    for (name, dims, t, _) in &plan {
        write_str(&mut w, name)?;
        w.write_all(&(dims.len() as u32).to_le_bytes())?;
        for d in dims.iter() {
            w.write_all(&(*d as u64).to_le_bytes())?;
        }
        w.write_all(&t.ggml().to_le_bytes())?;
        w.write_all(&offset.to_le_bytes())?;
        let bytes = t.row_bytes(dims.iter().product()).expect("whole blocks") as u64;
        offset = (offset + bytes).div_ceil(align as u64) * align as u64;
    }
    pad(&mut w, align)?;
    let mut row = Vec::new();
    let mut block = Vec::new();
    for ((name, dims, _, from), (_, t)) in plan.iter().zip(&tensors) {
        let data = &src.bytes()[t.start..t.start + t.len];
        match from {
            None => w.write_all(data)?,
            Some(from) => {
                let cols = dims[0];
                let rb = from
                    .row_bytes(cols)
                    .ok_or_else(|| bad(format!("tensor {name}: rows are not whole blocks")))?;
                row.resize(cols, 0f32);
                for r in data.chunks_exact(rb) {
                    dequantize_row(*from, r, &mut row);
                    block.clear();
                    quantize_q8_0(&row, &mut block);
                    w.write_all(&block)?;
                }
            }
        }
        pad(&mut w, align)?;
    }
    w.flush()?;
    Ok(converted)
}

/// `x` (whole 32-value blocks) as Q8_0 blocks, as ggml's `quantize_row_q8_0_ref`:
/// `d = max|x| / 127` stored as f16, `q = round(x / d)` (ties away from zero).
fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    for b in x.chunks_exact(QK) {
        let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16::from_f32(d).to_bits().to_le_bytes());
        out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
    }
}

/// A writer that knows its position (for alignment padding).
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    at: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// Zero bytes up to the next multiple of `align`.
fn pad<W: Write>(w: &mut Counting<'_, W>, align: usize) -> io::Result<()> {
    let to = w.at.div_ceil(align as u64) * align as u64;
    let zeros = vec![0u8; (to - w.at) as usize];
    w.write_all(&zeros)
}
