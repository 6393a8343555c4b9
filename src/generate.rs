//! Sampling from a trained generator: Gaussian noise in, argmax at each position out,
//! padding stripped.

use std::path::Path;

use candle_core::{DType, Device};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint;
use crate::config::RunConfig;
use crate::error::Result;
use crate::metrics::PAD_CHAR;
use crate::nn::generator::Generator;
use crate::nn::params::Store;
use crate::train::noise;
use crate::vocab::Vocab;

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
        let config = checkpoint::read_config(run_dir)?;
        let vocab = checkpoint::read_vocab(run_dir, &config)?;
        let (generator, params) = Generator::init(config.model, Store::new(0, DType::F32, device))?;
        checkpoint::load_params(&params, &run_dir.join(checkpoint::GENERATOR), device)?;
        // A file that parses can still be damaged or swapped: check the fingerprints too.
        let state = run_dir.join(checkpoint::STATE);
        if state.is_file() {
            checkpoint::verify(
                run_dir,
                &checkpoint::read_json::<checkpoint::TrainState>(&state)?,
            )?;
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
