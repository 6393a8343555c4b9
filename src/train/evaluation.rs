//! What a run shows of itself while it trains: samples decoded from the fixed noise batch,
//! live previews, and the evaluation written to `samples/` and `metrics.jsonl` (the n-gram
//! JSD-1..4 of 640 samples, as the paper's code monitors, and the word rates).

use candle_core::Tensor;

use super::events::{Event, MetricsRecord, RawScores};
use super::showcase::SHOWN_SAMPLES;
use super::trainer::Trainer;
use crate::data::batches::sample_noise;
use crate::error::{Error, Result};
use crate::model::autograd::generator::Generator;
use crate::quality::metrics::{Scores, PAD_CHAR};
use crate::run_dir::atomic::{append_line, write_atomic};
use crate::run_dir::{samples_file, METRICS, SAMPLES};
use crate::streams::Stream;

/// Samples drawn for each evaluation (10 batches of 64, as the paper's monitor).
pub const EVAL_SAMPLES: usize = 640;

impl Trainer {
    /// Decoded samples of the shown generator ([`Trainer::shown_generator`]) for noise `z`:
    /// argmax at each position.
    pub fn decode(&self, z: &Tensor, keep_padding: bool) -> Result<Vec<String>> {
        self.decode_with(self.shown_generator().0, z, keep_padding)
    }

    fn decode_with(&self, g: &Generator, z: &Tensor, keep_padding: bool) -> Result<Vec<String>> {
        let ids = g.argmax_ids(z)?;
        Ok(ids
            .iter()
            .map(|row| {
                if keep_padding {
                    self.vocab.decode_padded(row, PAD_CHAR)
                } else {
                    self.vocab.decode(row)
                }
            })
            .collect())
    }

    /// Samples from the fixed noise batch: the same inputs at every evaluation, so a viewer
    /// sees the same samples sharpen.
    pub fn fixed_samples(&self) -> Result<Vec<String>> {
        self.decode(&self.show.fixed_noise, false)
    }

    /// JSD-1..4, valid-word, unique and novelty rates of 640 samples against the training
    /// lines. Uses its own RNG (seeded by the iteration), so evaluating never changes the
    /// training trajectory.
    /// With `--ema` these are the averaged generator's, and the raw generator's JSD and
    /// valid-word rate on the same noise come with them.
    pub fn evaluate(&self) -> Result<MetricsRecord> {
        let scores = self.score(self.shown_generator().0)?;
        let raw = match self.nets.average() {
            Some(_) => {
                let s = self.score(self.nets.generator())?;
                Some(RawScores {
                    js: s.js,
                    valid_word_rate: s.valid_word_rate,
                })
            }
            None => None,
        };
        Ok(MetricsRecord {
            raw,
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            js: scores.js,
            floor_js: self.show.floor_js,
            valid_word_rate: scores.valid_word_rate,
            unique_rate: Some(scores.unique_rate),
            novelty: Some(scores.novelty),
            losses: None,
        })
    }

    /// The scores of 640 samples of `g` against the training lines.
    fn score(&self, g: &Generator) -> Result<Scores> {
        let iteration = self.iteration;
        let mut rng = Stream::Evaluation { iteration }.rng(self.config.seed);
        let mut lines = Vec::with_capacity(EVAL_SAMPLES);
        for _ in 0..EVAL_SAMPLES / 64 {
            let z = sample_noise(
                &mut rng,
                (64, self.config.model.noise_dim),
                self.config.truncation,
                self.show.dtype,
                &self.show.device,
            )?;
            lines.extend(self.decode_with(g, &z, true)?);
        }
        Ok(self.show.reference.score(&lines))
    }

    /// Write the fixed-noise samples and the evaluation, and tell `sink`.
    pub(super) fn record_eval(&mut self, sink: &mut dyn FnMut(Event)) -> Result<()> {
        let samples = self.fixed_samples()?;
        let dir = self.run_dir.join(SAMPLES);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut text = samples.join("\n");
        text.push('\n');
        write_atomic(
            &samples_file(&self.run_dir, self.iteration),
            text.as_bytes(),
        )?;
        sink(Event::Samples {
            iteration: self.iteration,
            lines: samples,
        });
        let mut m = self.evaluate()?;
        m.losses = self.losses.take();
        let path = self.run_dir.join(METRICS);
        let line =
            serde_json::to_string(&m).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
        append_line(&path, &line)?;
        self.keep_if_best(&m)?;
        sink(Event::Metrics(m));
        Ok(())
    }

    /// Send the live preview; with `new_noise`, switch it to fresh random noise first.
    pub(super) fn send_preview(
        &mut self,
        new_noise: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<()> {
        if new_noise {
            let (dim, psi) = (self.config.model.noise_dim, self.config.truncation);
            let show = &mut self.show;
            show.preview_noise = sample_noise(
                &mut show.preview_rng,
                (SHOWN_SAMPLES, dim),
                psi,
                show.dtype,
                &show.device,
            )?;
        }
        let lines = self.decode(&self.show.preview_noise, false)?;
        sink(Event::Preview {
            iteration: self.iteration,
            lines,
        });
        Ok(())
    }
}
