//! Choosing the next token from logits: repeat penalty, then top-k, top-p (nucleus), min-p and
//! temperature, then a seeded draw; or greedy (argmax after the penalty, deterministic) at
//! temperature 0. The order is llama.cpp's default sampler chain (`common/sampling.cpp`).
//!
//! Repeat penalty: CTRL's (<https://arxiv.org/abs/1909.05858>) as llama.cpp applies it — a
//! recent token's positive logit is divided by the penalty, a negative one multiplied. Top-p:
//! Holtzman et al. (<https://arxiv.org/abs/1904.09751>). Min-p: tokens below `min_p × p_max`
//! are dropped (<https://arxiv.org/abs/2407.01082>).

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Softmax temperature; 0 (or below) decodes greedily.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities add up to `top_p`; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the most likely one's probability; 0 keeps all.
    pub min_p: f32,
    /// Penalty for tokens among the last `repeat_last_n`; 1 disables it.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the draw.
    pub seed: u64,
}

impl Default for Sampling {
    /// llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat
    /// penalty 1.1 over 64 tokens, seed 0.
    fn default() -> Self {
        Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

/// A sampler: the settings plus the draw's random state (PCG-XSH-RR,
/// <https://www.pcg-random.org/>).
pub struct Sampler {
    cfg: Sampling,
    state: u64,
    cand: Vec<(u32, f32)>,
}

impl Sampler {
    /// A sampler seeded with `cfg.seed`.
    pub fn new(cfg: Sampling) -> Sampler {
        let mut s = Sampler {
            state: 0,
            cand: Vec::new(),
            cfg,
        };
        s.next_u32();
        s.state = s.state.wrapping_add(s.cfg.seed);
        s.next_u32();
        s
    }

    fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    /// A uniform draw in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Picks the next token from `logits` (modified in place by the penalty), given the
    /// tokens generated so far (`recent`, oldest first).
    pub fn pick(&mut self, logits: &mut [f32], recent: &[u32]) -> u32 {
        let c = &self.cfg;
        if c.repeat_penalty != 1.0 && c.repeat_last_n > 0 {
            let from = recent.len().saturating_sub(c.repeat_last_n);
            let mut seen: Vec<u32> = recent[from..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 {
                        *l / c.repeat_penalty
                    } else {
                        *l * c.repeat_penalty
                    };
                }
            }
        }
        if c.temperature <= 0.0 {
            return argmax(logits);
        }
        self.cand.clear();
        self.cand
            .extend(logits.iter().enumerate().map(|(i, l)| (i as u32, *l)));
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let k = if c.top_k == 0 {
            self.cand.len()
        } else {
            c.top_k.min(self.cand.len())
        };
        if k < self.cand.len() {
            self.cand.select_nth_unstable_by(k - 1, by_logit);
            self.cand.truncate(k);
        }
        self.cand.sort_unstable_by(by_logit);
        // Probabilities at temperature 1 for the top-p / min-p cuts, as llama.cpp does.
        let max = self.cand[0].1;
        let mut p: Vec<f32> = self.cand.iter().map(|(_, l)| (l - max).exp()).collect();
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        let mut keep = p.len();
        if c.top_p < 1.0 {
            let mut acc = 0.0;
            for (i, v) in p.iter().enumerate() {
                acc += v;
                if acc >= c.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        if c.min_p > 0.0 {
            keep = keep.min(
                p.iter()
                    .take_while(|v| **v >= c.min_p * p[0])
                    .count()
                    .max(1),
            );
        }
        self.cand.truncate(keep);
        let w: Vec<f32> = self
            .cand
            .iter()
            .map(|(_, l)| ((l - max) / c.temperature).exp())
            .collect();
        let total: f32 = w.iter().sum();
        let mut r = self.uniform() * total;
        for (i, v) in w.iter().enumerate() {
            if r < *v {
                return self.cand[i].0;
            }
            r -= v;
        }
        self.cand[keep - 1].0
    }
}

/// The index of the largest value (the first on ties).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy() -> Sampling {
        Sampling {
            temperature: 0.0,
            ..Sampling::default()
        }
    }

    #[test]
    fn greedy_is_argmax_after_the_penalty() {
        let mut s = Sampler::new(Sampling {
            repeat_penalty: 1.0,
            ..greedy()
        });
        assert_eq!(s.pick(&mut [0.1, 2.0, 1.9], &[1]), 1);
        let mut s = Sampler::new(greedy());
        // 2.0 / 1.1 < 1.9: the recent token loses.
        assert_eq!(s.pick(&mut [0.1, 2.0, 1.9], &[1]), 2);
        // A negative logit is multiplied, pushing it further down.
        let mut l = [-1.0, -1.05, -3.0];
        assert_eq!(s.pick(&mut l, &[0]), 1);
        assert!((l[0] + 1.1).abs() < 1e-6);
    }

    #[test]
    fn a_seed_repeats_and_the_cuts_hold() {
        let logits: Vec<f32> = (0..100).map(|i| (i as f32) / 10.0).collect();
        let cfg = Sampling {
            temperature: 1.0,
            top_k: 5,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            seed: 7,
            ..Sampling::default()
        };
        let draw = |cfg: &Sampling| {
            let mut s = Sampler::new(*cfg);
            (0..200)
                .map(|_| s.pick(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let a = draw(&cfg);
        assert_eq!(a, draw(&cfg), "same seed, same tokens");
        assert!(a.iter().all(|t| *t >= 95), "top-k 5 keeps the five largest");
        assert!(
            a.iter().collect::<std::collections::BTreeSet<_>>().len() > 1,
            "it does sample"
        );
        assert_ne!(a, draw(&Sampling { seed: 8, ..cfg }));
        // min-p 0.5: only tokens at least half as likely as the best (logit within ln 2).
        let b = draw(&Sampling {
            top_k: 0,
            min_p: 0.5,
            ..cfg
        });
        assert!(b.iter().all(|t| *t >= 93), "{b:?}");
        // top-p 0.1 of a peaked distribution keeps the single best token.
        let mut peaked = vec![0.0f32; 10];
        peaked[3] = 10.0;
        let mut s = Sampler::new(Sampling {
            top_k: 0,
            top_p: 0.1,
            ..cfg
        });
        assert!((0..50).all(|_| s.pick(&mut peaked.clone(), &[]) == 3));
    }
}
