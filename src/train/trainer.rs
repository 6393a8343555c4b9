//! The training loop of the paper's `gan_language.py`: per generator iteration, one generator
//! step (none at iteration 0) then `critic_iters` critic steps, each on a fresh real batch and a
//! fresh, detached fake batch. All randomness comes from one seeded ChaCha8 stream on the CPU,
//! so a run is repeatable and a resumed run continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::events::{Control, Event, RunInfo, StepStats, StopReason};
use super::optim::Optimizer;
use super::settings::{lr_scale, RunConfig};
use crate::cpu_step::adapter::{self, HandWritten, Split};
use crate::data::batches::{self, DataOrder};
use crate::data::corpus::{Corpus, SEQ_LEN};
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::kernels::Precision;
use crate::model::autograd::critic::Critic;
use crate::model::autograd::generator::Generator;
use crate::model::params::{Params, Store};
use crate::model::penalty::{critic_loss, generator_loss, CriticStats, Lipschitz, Mix};
use crate::quality::metrics::{NgramTable, Reference};
use crate::run_dir::lock::RunLock;

/// Samples from the fixed noise batch written at each evaluation.
pub const SHOWN_SAMPLES: usize = 64;
/// A live preview of the fixed-noise samples is sent every this many iterations …
pub const PREVIEW_EVERY: u64 = 5;
/// … and at most this often (seconds of training): the dashboard redraws 4 times a second,
/// and with fast iterations every fifth one would spend several percent on previews.
pub const PREVIEW_SECS: f64 = 0.25;

/// Seeds of the generator's and critic's initial weights, derived from the run's seed.
fn init_seeds(seed: u64) -> (u64, u64) {
    (
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 1,
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 2,
    )
}

pub struct Trainer {
    pub config: RunConfig,
    pub run_dir: PathBuf,
    pub corpus: Corpus,
    pub vocab: Vocab,
    pub generator: Generator,
    pub critic: Critic,
    pub gen_params: Params,
    /// The generator's weight average (`--ema`): a second generator whose parameters follow
    /// the trained one's ([`super::ema`]); what samples, evaluation and `generate` use.
    pub ema: Option<(Generator, Params)>,
    /// The lowest JSD-4 seen at an evaluation (its generator is kept as the best).
    pub(super) best_js4: Option<f64>,
    /// The run directory's lock while this trainer may write there ([`start::prepare`]).
    ///
    /// [`start::prepare`]: super::start::prepare
    pub(super) lock: Option<RunLock>,
    pub critic_params: Params,
    pub(super) opt_g: Optimizer,
    pub(super) opt_d: Optimizer,
    pub(super) train_ids: Vec<[u32; SEQ_LEN]>,
    pub(super) data: DataOrder,
    pub(super) rng: ChaCha8Rng,
    pub(super) device: Device,
    pub(super) dtype: DType,
    /// The training lines, for scoring samples.
    pub(super) reference: Reference,
    pub(super) floor_js: [f64; 4],
    pub(super) fixed_noise: Tensor,
    /// Send `Preview` events (for a live view; off by default, it costs a forward pass).
    pub previews: bool,
    /// Noise of the live preview: the fixed noise until "new random samples" is asked for.
    pub(super) preview_noise: Tensor,
    /// Draws new preview noise; display only, never touches training's stream.
    pub(super) preview_rng: ChaCha8Rng,
    /// The hand-written steps, where they apply (CPU, f32, no critic normalisation);
    /// otherwise both networks are trained through candle's autograd, for the reason in
    /// `autograd_reason`.
    hand_written: Option<HandWritten>,
    autograd_reason: Option<String>,
    /// Extra evaluations when the run's training time first reaches each of these seconds (a
    /// sweep reads its scores at fixed minutes this way).
    pub eval_marks: Vec<f64>,
    /// Generator iterations completed.
    pub iteration: u64,
    /// Training seconds over all sessions.
    pub elapsed_secs: f64,
    pub(super) resumed: bool,
}

impl Trainer {
    /// A new run: fresh weights from the seed, vocabulary built from the corpus.
    pub fn new(
        config: RunConfig,
        corpus: Corpus,
        vocab: Vocab,
        run_dir: &Path,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let dtype = DType::F32;
        let (gs, cs) = init_seeds(config.seed);
        let (generator, gen_params) = Generator::init(config.model, Store::new(gs, dtype, device))?;
        // The same seed: the average starts at the generator's initial weights.
        let ema = if config.ema > 0.0 {
            Some(Generator::init(
                config.model,
                Store::new(gs, dtype, device),
            )?)
        } else {
            None
        };
        let (critic, critic_params) = Critic::init(config.model, Store::new(cs, dtype, device))?;
        let opt_g = Optimizer::new(&gen_params, config.optim_generator)?;
        let opt_d = Optimizer::new(&critic_params, config.optim_critic)?;
        let train_ids: Vec<_> = corpus.train.iter().map(|l| vocab.encode(l)).collect();
        let data = DataOrder::new(config.seed, train_ids.len(), 0, 0);
        let reference = Reference::new(&corpus.train, corpus.words.clone());
        let floor_js = NgramTable::from_lines(&corpus.heldout).js_all(reference.ngrams());
        let fixed_noise = batches::noise(
            &mut ChaCha8Rng::seed_from_u64(config.seed ^ 0xF1),
            SHOWN_SAMPLES,
            config.model.noise_dim,
            dtype,
            device,
        )?;
        let seed = config.seed;
        let (hand_written, autograd_reason) =
            match adapter::unsupported(&config.model, device, dtype) {
                None => {
                    // Pieces of the batch per thread of the pool (`--threads`), or in turn.
                    let threads = rayon::current_num_threads();
                    let split = Split::for_shape(&config.model, config.batch, threads);
                    let hw = HandWritten::new(
                        config.model,
                        &gen_params,
                        &critic_params,
                        split,
                        config.precision,
                    )?;
                    (Some(hw), None)
                }
                Some(why) => (None, Some(why.to_string())),
            };
        Ok(Trainer {
            hand_written,
            autograd_reason,
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            run_dir: run_dir.to_path_buf(),
            corpus,
            vocab,
            generator,
            ema,
            best_js4: None,
            lock: None,
            critic,
            gen_params,
            critic_params,
            opt_g,
            opt_d,
            train_ids,
            data,
            device: device.clone(),
            dtype,
            reference,
            floor_js,
            previews: false,
            preview_noise: fixed_noise.clone(),
            fixed_noise,
            preview_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9E7),
            eval_marks: Vec::new(),
            iteration: 0,
            elapsed_secs: 0.0,
            resumed: false,
        })
    }

    fn real_batch(&mut self) -> Result<Tensor> {
        let idx = self.data.next_batch(self.config.batch);
        let v = self.config.model.vocab;
        batches::one_hot(&self.train_ids, &idx, v, self.dtype, &self.device)
    }

    fn noise(&mut self, b: usize) -> Result<Tensor> {
        batches::noise(
            &mut self.rng,
            b,
            self.config.model.noise_dim,
            self.dtype,
            &self.device,
        )
    }

    /// Replace the generator's weights with those saved in `path` (a run's
    /// `generator.safetensors`), e.g. to study a fresh critic against a trained generator.
    pub fn load_generator(&self, path: &Path) -> Result<()> {
        crate::run_dir::tensors::load_params(&self.gen_params, path, &self.device)
    }

    /// Interpolates `x̂` between a fresh real and a fresh fake batch: where the penalty acts.
    pub fn probe_batch(&mut self) -> Result<Tensor> {
        let b = self.config.batch;
        let real = self.real_batch()?;
        let z = self.noise(b)?;
        let fake = self.generator.forward(&z)?.detach();
        let eps = self.mixing_weights(b)?;
        crate::model::penalty::interpolate(&real, &fake, &eps)
    }

    /// `b` uniform mixing weights from the training stream.
    fn mixing_weights(&mut self, b: usize) -> Result<Tensor> {
        batches::uniform(&mut self.rng, b, self.dtype, &self.device)
    }

    /// One critic update with the run's Lipschitz strategy (WGAN-GP: Formula 9). Returns the
    /// step's numbers.
    pub fn critic_step(&mut self) -> Result<CriticStats> {
        let b = self.config.batch;
        let real = self.real_batch()?;
        let z = self.noise(b)?;
        let strategy = self.config.lipschitz;
        // Drawn for every strategy, so that the stream (hence the data and noise) is the same
        // whatever the strategy; fd draws a second point on the line.
        let eps = self.mixing_weights(b)?;
        let eps2 = match strategy {
            Lipschitz::Fd => Some(self.mixing_weights(b)?),
            _ => None,
        };
        let mix = Mix { eps, eps2 };
        let lambda = self.config.lambda;
        let stats = if let Some(hw) = self.hand_written.as_mut() {
            let params = (&self.gen_params, &self.critic_params);
            // On a pool worker (`rayon::scope`), the step's many small parallel loops are
            // joins inside the pool, not a hand-off from this thread and back each time.
            let stats =
                rayon::scope(|_| hw.critic_step(params, &real, &z, &mix, strategy, lambda))?;
            if stats.loss.is_finite() {
                self.opt_d.step_host(&hw.critic_order, hw.critic_grads())?;
            }
            stats
        } else {
            let fake = self.generator.forward(&z)?.detach();
            let loss = critic_loss(&self.critic, &real, &fake, &mix, strategy, lambda)?;
            let grads = loss.total.backward()?;
            let stats = CriticStats {
                loss: scalar(&loss.total)?,
                wasserstein: scalar(&loss.wasserstein)?,
                penalty: scalar(&loss.penalty)?,
                grad_norm: loss.grad_norm.as_ref().map(scalar).transpose()?,
            };
            if stats.loss.is_finite() {
                self.opt_d.step(&grads)?;
            }
            stats
        };
        if !stats.loss.is_finite() {
            return Err(self.diverged("critic loss"));
        }
        if strategy == Lipschitz::Clip {
            self.opt_d.clip(self.config.clip)?;
        }
        Ok(stats)
    }

    /// Train both networks through candle's autograd even where the hand-written steps apply
    /// (to compare the two; the result is the same up to rounding).
    pub fn use_autograd(&mut self) {
        self.hand_written = None;
        self.autograd_reason = Some("asked for".into());
    }

    /// Whether training steps use the hand-written CPU steps.
    pub fn hand_written(&self) -> bool {
        self.hand_written.is_some()
    }

    /// The hand-written step's product precision as this CPU runs it; `None` on autograd.
    pub fn precision(&self) -> Option<Precision> {
        self.hand_written.as_ref().map(HandWritten::precision)
    }

    /// Which execution path trains this run, and why when it is not the faster one (or not
    /// in the precision asked for).
    pub fn engine(&self) -> String {
        match (&self.autograd_reason, self.precision()) {
            (Some(why), _) => format!("autograd ({why})"),
            (None, Some(Precision::Bf16)) => "hand-written CPU step, bf16 products".into(),
            (None, _) => match self.config.precision.on_this_cpu().1 {
                Some(why) => format!("hand-written CPU step, f32 products ({why})"),
                None => "hand-written CPU step".into(),
            },
        }
    }

    /// One generator update: minimise `−mean D(G(z))`.
    pub fn generator_step(&mut self) -> Result<f64> {
        let z = self.noise(self.config.batch)?;
        if let Some(hw) = self.hand_written.as_mut() {
            let (gp, cp) = (&self.gen_params, &self.critic_params);
            // On a pool worker, as the critic step.
            let value = rayon::scope(|_| hw.generator_step(gp, cp, &z))?;
            if !value.is_finite() {
                return Err(self.diverged("generator loss"));
            }
            self.opt_g
                .step_host(&hw.generator_order, hw.generator_grads())?;
            self.update_average()?;
            return Ok(value);
        }
        let loss = generator_loss(&self.critic, &self.generator.forward(&z)?)?;
        let grads = loss.backward()?;
        let value = scalar(&loss)?;
        if !value.is_finite() {
            return Err(self.diverged("generator loss"));
        }
        self.opt_g.step(&grads)?;
        self.update_average()?;
        Ok(value)
    }

    /// Move the generator's weight average toward the weights just updated.
    fn update_average(&self) -> Result<()> {
        if let Some((_, avg)) = &self.ema {
            let b = super::ema::decay_at(self.config.ema, self.iteration);
            super::ema::update(avg, &self.gen_params, b)?;
        }
        Ok(())
    }

    /// The generator whose samples the run shows and scores: the average with `--ema`, the
    /// trained one otherwise.
    pub fn shown_generator(&self) -> (&Generator, &Params) {
        match &self.ema {
            Some((g, p)) => (g, p),
            None => (&self.generator, &self.gen_params),
        }
    }

    fn diverged(&self, what: &str) -> Error {
        Error::NonFinite(format!(
            "{what} became NaN or infinite at iteration {}; nothing was saved, the last checkpoint in {} is intact. Try a lower --lr.",
            self.iteration,
            self.run_dir.display()
        ))
    }

    /// One generator iteration: a generator step (except at iteration 0), then the critic steps.
    pub fn train_iteration(&mut self) -> Result<StepStats> {
        let start = Instant::now();
        // The rates of this iteration: a function of the iteration alone, so a resumed run
        // continues on the same schedule.
        let scale = lr_scale(self.config.lr_decay, self.iteration);
        self.opt_g.config.lr = self.config.optim_generator.lr * scale;
        self.opt_d.config.lr = self.config.optim_critic.lr * scale;
        let gen_loss = if self.iteration > 0 {
            Some(self.generator_step()?)
        } else {
            None
        };
        let mut last = CriticStats::default();
        for _ in 0..self.config.critic_iters {
            last = self.critic_step()?;
        }
        self.iteration += 1;
        let secs = start.elapsed().as_secs_f64();
        self.elapsed_secs += secs;
        Ok(StepStats {
            iteration: self.iteration,
            critic_loss: last.loss,
            wasserstein: last.wasserstein,
            penalty: last.penalty,
            grad_norm: last.grad_norm,
            gen_loss,
            secs,
        })
    }

    pub fn info(&self) -> RunInfo {
        RunInfo {
            run_dir: self.run_dir.clone(),
            corpus: self.corpus.path.clone(),
            train_lines: self.corpus.train.len(),
            heldout_lines: self.corpus.heldout.len(),
            vocab: self.vocab.len(),
            preset: self.config.preset.name().to_string(),
            dim: self.config.model.dim,
            res_blocks: self.config.model.res_blocks,
            critic_iters: self.config.critic_iters,
            generator_params: self.gen_params.count(),
            critic_params: self.critic_params.count(),
            device: self.config.device.clone(),
            engine: self.engine(),
            start_iteration: self.iteration,
            target_iters: self.config.iters,
            minutes: self.config.minutes,
            resumed: self.resumed,
        }
    }

    /// Train until `--iters`, `--minutes` or a stop request; checkpoint every `save_every`
    /// iterations and at the end; evaluate every `eval_every`.
    pub fn train(&mut self, control: &Control, sink: &mut dyn FnMut(Event)) -> Result<StopReason> {
        sink(Event::Started(self.info()));
        std::fs::create_dir_all(&self.run_dir).map_err(|e| Error::io(&self.run_dir, e))?;
        if self.iteration == 0 {
            self.save()?;
            self.record_eval(sink)?;
        }
        if self.previews {
            self.send_preview(false, sink)?;
        }
        // The time budget counts training time only: a paused run does not use it up.
        let session_start = self.elapsed_secs;
        let budget = self.config.minutes.map(|m| m * 60.0);
        let mut saved_at = self.iteration;
        let mut previewed_at = self.elapsed_secs;
        let reason = loop {
            if self.iteration >= self.config.iters {
                break StopReason::Done;
            }
            if control.stop_requested() {
                break StopReason::Stopped;
            }
            if budget.is_some_and(|b| self.elapsed_secs - session_start >= b) {
                break StopReason::TimeUp;
            }
            if control.paused() {
                // Saving and resampling still work while paused.
                if control.take_save_request() {
                    self.save_and_report(sink)?;
                    saved_at = self.iteration;
                }
                if control.take_resample_request() {
                    self.send_preview(true, sink)?;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
            let stats = self.train_iteration()?;
            sink(Event::Step(stats));
            let resample = control.take_resample_request();
            let due = self.iteration.is_multiple_of(PREVIEW_EVERY)
                && self.elapsed_secs - previewed_at >= PREVIEW_SECS;
            if self.previews && (resample || due) {
                self.send_preview(resample, sink)?;
                previewed_at = self.elapsed_secs;
            }
            let marked = self
                .eval_marks
                .first()
                .is_some_and(|&t| self.elapsed_secs >= t);
            self.eval_marks.retain(|&t| self.elapsed_secs < t);
            if self.iteration.is_multiple_of(self.config.eval_every) || marked {
                self.record_eval(sink)?;
            }
            if self.iteration.is_multiple_of(self.config.save_every) || control.take_save_request()
            {
                self.save_and_report(sink)?;
                saved_at = self.iteration;
            }
        };
        if saved_at != self.iteration || self.iteration == 0 {
            self.save_and_report(sink)?;
        }
        sink(Event::Finished {
            iteration: self.iteration,
            reason,
        });
        Ok(reason)
    }

    fn save_and_report(&self, sink: &mut dyn FnMut(Event)) -> Result<()> {
        self.save()?;
        sink(Event::Saved {
            iteration: self.iteration,
            dir: self.run_dir.clone(),
        });
        Ok(())
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
