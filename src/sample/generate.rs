//! Sampling from a trained generator: Gaussian noise in (scaled by the run's truncation ψ,
//! [`sample_noise`]), argmax at each position out (the paper's reading), or a draw from the
//! softmax at a temperature; padding stripped.

use std::path::Path;

use candle_core::{DType, Device, D};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::batches::{check_truncation, sample_noise};
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::model::autograd::generator::Generator;
use crate::model::params::Store;
use crate::quality::metrics::PAD_CHAR;
use crate::run_dir::tensors::load_params;
use crate::streams::Stream;
use crate::train::checkpoint::{generator_file, read_config, read_config_only, read_vocab, Which};
use crate::train::settings::RunConfig;

/// Samples are generated this many at a time, so memory stays flat for any `-n`.
pub const CHUNK: usize = 256;

/// Which generator of a run speaks, and how its samples are read (`generate`, `eval`,
/// `interpolate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub which: Which,
    /// 0: argmax at each position; above: draws at this temperature.
    pub temperature: f64,
    /// The noise's truncation ψ; `None`: the run's own (`config.json`).
    pub truncation: Option<f64>,
}

impl Reading {
    /// Refuse a truncation out of range before any file is read.
    pub fn check(&self) -> Result<()> {
        self.truncation.map(check_truncation).transpose()?;
        Ok(())
    }

    /// The generator `which` of the run in `run_dir`, reading so.
    pub fn load(&self, run_dir: &Path, device: &Device) -> Result<Sampler> {
        self.check()?;
        Sampler::load(run_dir, self.which, device)?
            .with_temperature(self.temperature)?
            .with_truncation(self.truncation)
    }
}

/// A generator and its vocabulary, loaded from a run directory.
pub struct Sampler {
    pub config: RunConfig,
    pub vocab: Vocab,
    pub generator: Generator,
    /// Which generator this is, in words ("the best generator of …").
    pub what: String,
    /// 0: argmax at each position; above: draw from `softmax(logits / temperature)`.
    pub temperature: f64,
    /// The noise's truncation ψ: the run's (`config.json`) unless asked otherwise.
    pub truncation: f64,
    device: Device,
}

impl Sampler {
    /// The generator `which` of the run in `run_dir` (checked against its fingerprint).
    pub fn load(run_dir: &Path, which: Which, device: &Device) -> Result<Self> {
        Self::open(read_config(run_dir)?, run_dir, which, device)
    }

    /// [`Sampler::load`] without writing anything into the directory (no crash recovery;
    /// an interrupted checkpoint then fails its fingerprint check instead).
    pub fn load_read_only(run_dir: &Path, which: Which, device: &Device) -> Result<Self> {
        Self::open(read_config_only(run_dir)?, run_dir, which, device)
    }

    fn open(config: RunConfig, run_dir: &Path, which: Which, device: &Device) -> Result<Self> {
        let vocab = read_vocab(run_dir, &config)?;
        let (generator, params) = Generator::init(config.model, Store::new(0, DType::F32, device))?;
        let generator = generator.trained_with_gumbel(config.gumbel);
        let file = generator_file(run_dir, &config, which)?;
        load_params(&params, &file.path, device)?;
        file.verify(run_dir)?;
        let what = file.what;
        Ok(Sampler {
            truncation: config.truncation,
            config,
            vocab,
            generator,
            what,
            temperature: 0.0,
            device: device.clone(),
        })
    }

    /// Read samples by drawing from the softmax at `temperature` (0: argmax).
    pub fn with_temperature(mut self, temperature: f64) -> Result<Self> {
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(Error::Config(format!(
                "--temperature must be 0 (argmax) or a positive number, got {temperature}"
            )));
        }
        self.temperature = temperature;
        Ok(self)
    }

    /// Read samples from noise truncated to `psi` instead of the run's own (`None`: the run's).
    pub fn with_truncation(mut self, psi: Option<f64>) -> Result<Self> {
        if let Some(psi) = psi {
            check_truncation(psi)?;
            self.truncation = psi;
        }
        Ok(self)
    }

    /// Token ids for noise `z`: argmax, or draws at the temperature from `rng`.
    fn ids(&self, z: &candle_core::Tensor, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u32>>> {
        if self.temperature == 0.0 {
            return self.generator.argmax_ids(z);
        }
        let logits = (self.generator.logits(z)? / self.temperature)?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec3::<f32>()?;
        Ok(probs
            .iter()
            .map(|sample| {
                sample
                    .iter()
                    .map(|p| {
                        // Inverse CDF: the first id whose cumulative probability passes u.
                        let u: f32 = rng.random();
                        let mut acc = 0.0;
                        let last = p.len() - 1;
                        p.iter()
                            .position(|&q| {
                                acc += q;
                                acc > u
                            })
                            .unwrap_or(last) as u32
                    })
                    .collect()
            })
            .collect())
    }

    /// Where the generator runs.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The text for each row of noise `z` `(B, noise_dim)`, read by argmax, padding stripped.
    pub fn argmax_lines(&self, z: &candle_core::Tensor) -> Result<Vec<String>> {
        let ids = self.generator.argmax_ids(z)?;
        Ok(ids.iter().map(|row| self.vocab.decode(row)).collect())
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
        let mut rng = Stream::SampleNoise.rng(seed);
        // Draws at a temperature come from their own stream: the noise stays that of argmax.
        let mut draws = Stream::SampleDraws.rng(seed);
        let mut left = n;
        while left > 0 {
            let b = left.min(CHUNK);
            let z = sample_noise(
                &mut rng,
                (b, self.config.model.noise_dim),
                self.truncation,
                DType::F32,
                &self.device,
            )?;
            let ids = self.ids(&z, &mut draws)?;
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
