//! Merging vector and keyword results: weighted sum of normalised scores (the default,
//! OpenClaw's hybrid search: <https://docs.openclaw.ai/concepts/memory>) or reciprocal-rank
//! fusion (Cormack, Clarke, Büttcher 2009,
//! <https://plg.uwaterloo.ca/~gvcormac/cormacksigir09-rrf.pdf>); then temporal decay of
//! dated items and maximal marginal relevance (Carbonell & Goldstein 1998,
//! <https://www.cs.cmu.edu/~jgc/publication/The_Use_MMR_Diversity_Based_LTMIR_1998.pdf>).

use std::collections::HashMap;

/// RRF's rank constant (the paper's k = 60).
pub const RRF_K: f32 = 60.0;

/// How the two result lists are fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// `vector_weight × cosine⁺ + text_weight × bm25 / best_bm25`.
    Weighted,
    /// `Σ weight / (60 + rank)`, divided by its maximum so rank 1 in both lists scores 1.0.
    Rrf,
}

/// One fused candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    /// Chunk id.
    pub id: u64,
    /// Fused score, 0–1.
    pub score: f32,
    /// The vector part: cosine similarity, if the chunk was a vector candidate.
    pub vector: Option<f32>,
    /// The keyword part: BM25 normalised by the query's best BM25, if a keyword candidate.
    pub text: Option<f32>,
}

/// Fuses `vector` hits (id, cosine; best first) and `text` hits (id, BM25; best first).
/// The weights are normalised to sum to 1. Result is sorted best first.
pub fn fuse(
    vector: &[(u64, f32)],
    text: &[(u64, f32)],
    vector_weight: f32,
    text_weight: f32,
    fusion: Fusion,
) -> Vec<Fused> {
    let total = (vector_weight + text_weight).max(f32::EPSILON);
    let (wv, wt) = (vector_weight / total, text_weight / total);
    let best_bm25 = text.iter().map(|h| h.1).fold(0f32, f32::max);
    let mut by_id: HashMap<u64, Fused> = HashMap::new();
    for &(id, cos) in vector {
        by_id
            .entry(id)
            .or_insert(Fused {
                id,
                score: 0.0,
                vector: None,
                text: None,
            })
            .vector = Some(cos);
    }
    for &(id, s) in text {
        let norm = if best_bm25 > 0.0 { s / best_bm25 } else { 0.0 };
        by_id
            .entry(id)
            .or_insert(Fused {
                id,
                score: 0.0,
                vector: None,
                text: None,
            })
            .text = Some(norm);
    }
    let vrank: HashMap<u64, usize> = vector.iter().enumerate().map(|(r, h)| (h.0, r)).collect();
    let trank: HashMap<u64, usize> = text.iter().enumerate().map(|(r, h)| (h.0, r)).collect();
    let rrf_max = (wv + wt) / (RRF_K + 1.0);
    let mut out: Vec<Fused> = by_id
        .into_values()
        .map(|mut f| {
            f.score = match fusion {
                Fusion::Weighted => {
                    wv * f.vector.unwrap_or(0.0).max(0.0) + wt * f.text.unwrap_or(0.0)
                }
                Fusion::Rrf => {
                    let part = |rank: Option<&usize>, w: f32| {
                        rank.map_or(0.0, |&r| w / (RRF_K + 1.0 + r as f32))
                    };
                    (part(vrank.get(&f.id), wv) + part(trank.get(&f.id), wt)) / rrf_max
                }
            };
            f
        })
        .collect();
    sort_best_first(&mut out);
    out
}

/// Multiplies the score of each item with an age by `0.5^(age_days / half_life_days)`.
/// `age_days(id)` is `None` for evergreen items (MEMORY.md), which keep their score.
pub fn decay(items: &mut [Fused], half_life_days: f32, age_days: impl Fn(u64) -> Option<f32>) {
    for f in items.iter_mut() {
        if let Some(age) = age_days(f.id) {
            f.score *= 0.5f32.powf(age.max(0.0) / half_life_days);
        }
    }
    sort_best_first(items);
}

/// Picks `k` items greedily by `λ·score − (1−λ)·max similarity to those already picked`;
/// `sim(a, b)` is the cosine of two items (0 when unknown).
pub fn mmr(items: &[Fused], k: usize, lambda: f32, sim: impl Fn(u64, u64) -> f32) -> Vec<Fused> {
    let mut left: Vec<Fused> = items.to_vec();
    let mut picked: Vec<Fused> = Vec::with_capacity(k.min(items.len()));
    while picked.len() < k && !left.is_empty() {
        let (best, _) = left
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let redundancy = picked.iter().map(|p| sim(c.id, p.id)).fold(0f32, f32::max);
                (i, lambda * c.score - (1.0 - lambda) * redundancy)
            })
            .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        picked.push(left.remove(best));
    }
    picked
}

fn sort_best_first(v: &mut [Fused]) {
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_fusion_normalises_and_weights() {
        let v = [(1, 0.9), (2, 0.5)];
        let t = [(2, 12.0), (3, 6.0)];
        let f = fuse(&v, &t, 0.7, 0.3, Fusion::Weighted);
        let get = |id| f.iter().find(|x| x.id == id).expect("present").score;
        assert!((get(1) - 0.63).abs() < 1e-5);
        assert!((get(2) - (0.35 + 0.3)).abs() < 1e-5);
        assert!((get(3) - 0.15).abs() < 1e-5);
        assert_eq!(f[0].id, 2);
        // Only keyword results (no embedder): normalised BM25 still ranks.
        let f = fuse(&[], &t, 0.0, 1.0, Fusion::Weighted);
        assert_eq!((f[0].id, f[0].score), (2, 1.0));
    }

    #[test]
    fn rrf_tops_out_at_one() {
        let f = fuse(&[(5, 0.2), (6, 0.1)], &[(5, 3.0)], 0.5, 0.5, Fusion::Rrf);
        assert_eq!(f[0].id, 5);
        assert!((f[0].score - 1.0).abs() < 1e-6);
        assert!(f[1].score < 0.5);
    }

    #[test]
    fn decay_halves_at_half_life_and_spares_evergreen() {
        let mut f = vec![
            Fused {
                id: 1,
                score: 0.8,
                vector: None,
                text: None,
            },
            Fused {
                id: 2,
                score: 0.6,
                vector: None,
                text: None,
            },
        ];
        decay(&mut f, 30.0, |id| (id == 1).then_some(30.0));
        assert_eq!(f[0].id, 2);
        assert!((f[1].score - 0.4).abs() < 1e-6);
    }

    #[test]
    fn mmr_skips_near_duplicates() {
        let items: Vec<Fused> = [(1, 0.9), (2, 0.89), (3, 0.7)]
            .iter()
            .map(|&(id, score)| Fused {
                id,
                score,
                vector: None,
                text: None,
            })
            .collect();
        let sim = |a: u64, b: u64| {
            if a.min(b) == 1 && a.max(b) == 2 {
                0.99
            } else {
                0.1
            }
        };
        let ids: Vec<u64> = mmr(&items, 2, 0.5, sim).iter().map(|f| f.id).collect();
        assert_eq!(ids, [1, 3]);
        let ids: Vec<u64> = mmr(&items, 2, 1.0, sim).iter().map(|f| f.id).collect();
        assert_eq!(ids, [1, 2]);
    }
}
