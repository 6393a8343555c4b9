//! An honest end-to-end signal: a short run on the tiny corpus makes the samples' character
//! distribution measurably closer to the corpus's.

use std::path::Path;

use candle_core::Device;
use textgan::config::{Preset, RunConfig};
use textgan::corpus::Corpus;
use textgan::optim::AdamConfig;
use textgan::train::Trainer;
use textgan::vocab::Vocab;

#[test]
fn a_short_run_on_the_tiny_corpus_brings_the_unigram_jsd_well_down() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt");
    let batch = 32;
    let corpus = Corpus::load(&path, 0, batch).unwrap();
    let vocab = Vocab::build(corpus.all_lines(), 2048).unwrap();
    let adam = AdamConfig {
        lr: 1e-3,
        ..AdamConfig::paper()
    };
    let config = RunConfig {
        textgan_version: "test".into(),
        corpus: path.clone(),
        corpus_hash: String::new(),
        preset: Preset::Cpu,
        model: RunConfig::shape_for(vocab.len(), 16),
        max_vocab: 2048,
        batch,
        critic_iters: 5,
        lambda: 10.0,
        adam_generator: adam,
        adam_critic: adam,
        seed: 0,
        iters: 200,
        minutes: None,
        save_every: 1000,
        sample_every: 1000,
        device: "cpu".into(),
        dtype: "f32".into(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(config, corpus, vocab, tmp.path(), &Device::Cpu).unwrap();
    let before = trainer.evaluate().unwrap();
    let mut wasserstein = Vec::new();
    for _ in 0..200 {
        wasserstein.push(trainer.train_iteration().unwrap().wasserstein);
    }
    let after = trainer.evaluate().unwrap();
    eprintln!(
        "unigram JSD {:.3} -> {:.3}; JSD-1..4 after {:?}",
        before.js[0], after.js[0], after.js
    );
    assert!(
        after.js[0] < 0.5 * before.js[0],
        "unigram JSD went from {:.3} to {:.3}: the generator did not learn the characters",
        before.js[0],
        after.js[0]
    );
    // Bigrams too, less strictly: the samples are not just the right letters in any order.
    assert!(
        after.js[1] < 0.8 * before.js[1],
        "bigram JSD {:.3} -> {:.3}",
        before.js[1],
        after.js[1]
    );
    assert!(wasserstein.iter().all(|w| w.is_finite()));
}
