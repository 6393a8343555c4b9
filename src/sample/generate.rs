//! Sampling from a trained generator: Gaussian noise in, argmax at each position out,
//! padding stripped.

use std::path::Path;

use candle_core::{DType, Device};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::batches::noise;
use crate::data::vocab::Vocab;
use crate::error::Result;
use crate::model::autograd::generator::Generator;
use crate::model::params::Store;
use crate::quality::metrics::PAD_CHAR;
use crate::run_dir::atomic::read_json;
use crate::run_dir::checksums::verify;
use crate::run_dir::tensors::load_params;
use crate::run_dir::{GENERATOR, STATE};
use crate::train::checkpoint::{read_config, read_vocab, TrainState};
use crate::train::settings::RunConfig;

/// Samples are generated this many at a time, so memory stays flat for any `-n`.
pub const CHUNK: usize = 256;

/// A generator and its vocabulary, loaded from a run directory.
pub struct Sampler {
    pub config: RunConfig,
    pub vocab: Vocab,
    pub generator: Generator,
    device: Device,
}

impl Sampler {
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self> {
        let config = read_config(run_dir)?;
        let vocab = read_vocab(run_dir, &config)?;
        let (generator, params) = Generator::init(config.model, Store::new(0, DType::F32, device))?;
        load_params(&params, &run_dir.join(GENERATOR), device)?;
        // A file that parses can still be damaged or swapped: check the fingerprints too.
        let state = run_dir.join(STATE);
        if state.is_file() {
            verify(run_dir, &read_json::<TrainState>(&state)?.checksums)?;
        }
        Ok(Sampler {
            config,
            vocab,
            generator,
            device: device.clone(),
        })
    }

    /// Generate `n` samples with noise from `seed`, handing each line to `emit`; stops early
    /// (without error) when `emit` returns `false`. A line ends at its first padding position,
    /// or with `keep_padding` is all `SEQ_LEN` positions, padding shown as `PAD_CHAR` (as the
    /// metrics read samples).
    pub fn generate(
        &self,
        n: usize,
        seed: u64,
        keep_padding: bool,
        mut emit: impl FnMut(String) -> bool,
    ) -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut left = n;
        while left > 0 {
            let b = left.min(CHUNK);
            let z = noise(
                &mut rng,
                b,
                self.config.model.noise_dim,
                DType::F32,
                &self.device,
            )?;
            let ids = self.generator.argmax_ids(&z)?;
            for row in &ids {
                let line = if keep_padding {
                    self.vocab.decode_padded(row, PAD_CHAR)
                } else {
                    self.vocab.decode(row)
                };
                if !emit(line) {
                    return Ok(());
                }
            }
            left -= b;
        }
        Ok(())
    }
}
