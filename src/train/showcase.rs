//! What a run shows of itself, kept beside training and never drawing from it: the fixed
//! noise whose samples every evaluation writes, the live preview's noise, the reference the
//! samples are scored against (and the held-out floor), and the best score so far. What it
//! does with them is [`super::evaluation`].

use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::settings::RunConfig;
use crate::data::batches::sample_noise;
use crate::data::corpus::Corpus;
use crate::error::Result;
use crate::quality::metrics::{NgramTable, Reference};
use crate::streams::Stream;

/// Samples from the fixed noise batch written at each evaluation.
pub const SHOWN_SAMPLES: usize = 64;

/// What a run shows of itself: the trainer's part that never touches training's draws.
pub struct Showcase {
    /// The training lines, for scoring samples.
    pub(super) reference: Reference,
    /// JSD-1..4 of the held-out lines: the floor a perfect generator would reach.
    pub(super) floor_js: [f64; 4],
    /// The noise of the samples written at each evaluation ([`Stream::FixedNoise`]).
    pub(super) fixed_noise: Tensor,
    /// Noise of the live preview: the fixed noise until "new random samples" is asked for.
    pub(super) preview_noise: Tensor,
    /// Draws new preview noise ([`Stream::Preview`]); display only.
    pub(super) preview_rng: ChaCha8Rng,
    /// The lowest JSD-4 seen at an evaluation (its generator is kept as the best).
    pub(super) best_js4: Option<f64>,
    pub(super) dtype: DType,
    pub(super) device: Device,
}

impl Showcase {
    /// For a run of `config` on `corpus`: the fixed noise from the run's seed, the held-out
    /// floor scored once.
    pub fn new(config: &RunConfig, corpus: &Corpus, dtype: DType, device: &Device) -> Result<Self> {
        let reference = Reference::new(&corpus.train, corpus.words.clone());
        let floor_js = NgramTable::from_lines(&corpus.heldout).js_all(reference.ngrams());
        let fixed_noise = sample_noise(
            &mut Stream::FixedNoise.rng(config.seed),
            (SHOWN_SAMPLES, config.model.noise_dim),
            config.truncation,
            dtype,
            device,
        )?;
        Ok(Showcase {
            reference,
            floor_js,
            preview_noise: fixed_noise.clone(),
            fixed_noise,
            preview_rng: Stream::Preview.rng(config.seed),
            best_js4: None,
            dtype,
            device: device.clone(),
        })
    }
}
