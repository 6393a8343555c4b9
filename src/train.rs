//! The training loop of the paper's `gan_language.py`: per generator iteration, one generator
//! step (none at iteration 0) then `critic_iters` critic steps, each on a fresh real batch and a
//! fresh, detached fake batch. All randomness comes from one seeded ChaCha8 stream on the CPU,
//! so a run is repeatable and a resumed run continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::checkpoint::{self, TrainState};
use crate::config::RunConfig;
use crate::corpus::{Corpus, SEQ_LEN};
pub use crate::critic_step::CriticStats;
use crate::critic_step::{param_names, CriticStep, StepBatch};
use crate::error::{Error, Result};
use crate::events::{Control, Event, MetricsRecord, RunInfo, StepStats, StopReason};
use crate::generator_step::GeneratorStep;
use crate::kernels::host_slice;
use crate::metrics::{NgramTable, Reference, PAD_CHAR};
use crate::nn::critic::Critic;
use crate::nn::generator::Generator;
use crate::nn::params::{Params, Store};
use crate::nn::CriticNorm;
use crate::optim::Optimizer;
use crate::penalty::{critic_loss, generator_loss, Lipschitz, Mix};
use crate::vocab::Vocab;
use candle_core::{Layout, StorageRef};

/// Samples drawn for each evaluation (10 batches of 64, as the paper's monitor).
pub const EVAL_SAMPLES: usize = 640;
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

/// The epoch-by-epoch shuffled order of training lines (as the paper's data iterator).
#[derive(Debug, Clone)]
struct DataOrder {
    seed: u64,
    epoch: u64,
    pos: usize,
    perm: Vec<usize>,
}

impl DataOrder {
    fn new(seed: u64, n: usize, epoch: u64, pos: usize) -> Self {
        let mut d = DataOrder {
            seed,
            epoch,
            pos,
            perm: (0..n).collect(),
        };
        d.shuffle();
        d
    }

    fn shuffle(&mut self) {
        self.perm.sort_unstable();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xDA7A_0000_0000_0000 ^ self.epoch);
        self.perm.shuffle(&mut rng);
    }

    fn next_batch(&mut self, b: usize) -> Vec<usize> {
        (0..b)
            .map(|_| {
                if self.pos >= self.perm.len() {
                    self.epoch += 1;
                    self.pos = 0;
                    self.shuffle();
                }
                self.pos += 1;
                self.perm[self.pos - 1]
            })
            .collect()
    }
}

pub struct Trainer {
    pub config: RunConfig,
    pub run_dir: PathBuf,
    pub corpus: Corpus,
    pub vocab: Vocab,
    pub generator: Generator,
    pub critic: Critic,
    pub gen_params: Params,
    pub critic_params: Params,
    opt_g: Optimizer,
    opt_d: Optimizer,
    train_ids: Vec<[u32; SEQ_LEN]>,
    data: DataOrder,
    rng: ChaCha8Rng,
    device: Device,
    dtype: DType,
    /// The training lines, for scoring samples.
    reference: Reference,
    floor_js: [f64; 4],
    fixed_noise: Tensor,
    /// Send `Preview` events (for a live view; off by default, it costs a forward pass).
    pub previews: bool,
    /// Noise of the live preview: the fixed noise until "new random samples" is asked for.
    preview_noise: Tensor,
    /// Draws new preview noise; display only, never touches training's stream.
    preview_rng: ChaCha8Rng,
    /// The hand-written steps, where they apply (CPU, f32, no critic normalisation);
    /// otherwise both networks are trained through candle's autograd.
    hand_written: Option<HandWritten>,
    /// Extra evaluations when the run's training time first reaches each of these seconds (a
    /// sweep reads its scores at fixed minutes this way).
    pub eval_marks: Vec<f64>,
    /// Generator iterations completed.
    pub iteration: u64,
    /// Training seconds over all sessions.
    pub elapsed_secs: f64,
    resumed: bool,
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
        let (critic, critic_params) = Critic::init(config.model, Store::new(cs, dtype, device))?;
        let opt_g = Optimizer::new(&gen_params, config.optim_generator)?;
        let opt_d = Optimizer::new(&critic_params, config.optim_critic)?;
        let train_ids: Vec<_> = corpus.train.iter().map(|l| vocab.encode(l)).collect();
        let data = DataOrder::new(config.seed, train_ids.len(), 0, 0);
        let reference = Reference::new(&corpus.train, corpus.words.clone());
        let floor_js = NgramTable::from_lines(&corpus.heldout).js_all(reference.ngrams());
        let fixed_noise = noise(
            &mut ChaCha8Rng::seed_from_u64(config.seed ^ 0xF1),
            SHOWN_SAMPLES,
            config.model.noise_dim,
            dtype,
            device,
        )?;
        let seed = config.seed;
        let hand_written = HandWritten::new(&config, &gen_params, &critic_params, device, dtype)?;
        Ok(Trainer {
            hand_written,
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            run_dir: run_dir.to_path_buf(),
            corpus,
            vocab,
            generator,
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

    /// Continue the run saved in `run_dir`. `config` is the saved config with the safe changes
    /// (budget, learning rate, intervals, device) already applied by the caller; `corpus` must
    /// be the run's corpus, read with the run's seed.
    pub fn resume(
        config: RunConfig,
        corpus: Corpus,
        run_dir: &Path,
        device: &Device,
    ) -> Result<Self> {
        let vocab = checkpoint::read_vocab(run_dir, &config)?;
        let state: TrainState = checkpoint::read_json(&run_dir.join(checkpoint::STATE))?;
        let mut t = Trainer::new(config, corpus, vocab, run_dir, device)?;
        checkpoint::load_params(&t.gen_params, &run_dir.join(checkpoint::GENERATOR), device)?;
        checkpoint::load_params(&t.critic_params, &run_dir.join(checkpoint::CRITIC), device)?;
        let opt_path = run_dir.join(checkpoint::OPTIMIZER);
        let mut moments = checkpoint::load_tensors(&opt_path, device)?;
        let take = |prefix: &str, all: &mut std::collections::HashMap<String, Tensor>| {
            let keys: Vec<String> = all
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| all.remove(&k).map(|v| (k[prefix.len()..].to_string(), v)))
                .collect::<std::collections::HashMap<_, _>>()
        };
        let g = take("generator.", &mut moments);
        let c = take("critic.", &mut moments);
        checkpoint::reject_extra(&moments, &opt_path)?;
        t.opt_g.load_state(g, state.adam_steps.0, &opt_path)?;
        t.opt_d.load_state(c, state.adam_steps.1, &opt_path)?;
        // Every file parsed and fits; the fingerprints catch a damaged or swapped one that does.
        checkpoint::verify(run_dir, &state)?;
        // Evaluations written after the last checkpoint (a crash between the two) would be
        // written again: keep only those up to the checkpoint's iteration.
        truncate_metrics(&run_dir.join(checkpoint::METRICS), state.iteration)?;
        let word_pos: u128 = state.rng_word_pos.parse().map_err(|_| {
            Error::checkpoint(
                run_dir.join(checkpoint::STATE),
                "rng_word_pos is not a number",
            )
        })?;
        t.rng.set_word_pos(word_pos);
        if state.data_pos > t.train_ids.len() {
            return Err(Error::checkpoint(
                run_dir.join(checkpoint::STATE),
                "data_pos is beyond the corpus",
            ));
        }
        t.data = DataOrder::new(
            t.config.seed,
            t.train_ids.len(),
            state.data_epoch,
            state.data_pos,
        );
        t.iteration = state.iteration;
        t.elapsed_secs = state.elapsed_secs;
        t.resumed = true;
        Ok(t)
    }

    fn real_batch(&mut self) -> Result<Tensor> {
        let idx = self.data.next_batch(self.config.batch);
        let v = self.config.model.vocab;
        let mut data = vec![0f32; idx.len() * SEQ_LEN * v];
        for (row, &i) in idx.iter().enumerate() {
            for (pos, &tok) in self.train_ids[i].iter().enumerate() {
                data[(row * SEQ_LEN + pos) * v + tok as usize] = 1.0;
            }
        }
        Ok(
            Tensor::from_vec(data, (idx.len(), SEQ_LEN, v), &Device::Cpu)?
                .to_dtype(self.dtype)?
                .to_device(&self.device)?,
        )
    }

    fn noise(&mut self, b: usize) -> Result<Tensor> {
        noise(
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
        checkpoint::load_params(&self.gen_params, path, &self.device)
    }

    /// Interpolates `x̂` between a fresh real and a fresh fake batch: where the penalty acts.
    pub fn probe_batch(&mut self) -> Result<Tensor> {
        let b = self.config.batch;
        let real = self.real_batch()?;
        let z = self.noise(b)?;
        let fake = self.generator.forward(&z)?.detach();
        let eps = self.mixing_weights(b)?;
        crate::penalty::interpolate(&real, &fake, &eps)
    }

    /// `b` uniform mixing weights from the training stream.
    fn mixing_weights(&mut self, b: usize) -> Result<Tensor> {
        let eps: Vec<f32> = (0..b).map(|_| self.rng.random::<f32>()).collect();
        Ok(Tensor::from_vec(eps, b, &Device::Cpu)?
            .to_dtype(self.dtype)?
            .to_device(&self.device)?)
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
                self.opt_d.step_host(&hw.critic_order, hw.critic.grads())?;
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
    }

    /// Whether training steps use the hand-written CPU steps.
    pub fn hand_written(&self) -> bool {
        self.hand_written.is_some()
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
                .step_host(&hw.generator_order, hw.generator.grads())?;
            return Ok(value);
        }
        let loss = generator_loss(&self.critic, &self.generator.forward(&z)?)?;
        let grads = loss.backward()?;
        let value = scalar(&loss)?;
        if !value.is_finite() {
            return Err(self.diverged("generator loss"));
        }
        self.opt_g.step(&grads)?;
        Ok(value)
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
        let scale = crate::config::lr_scale(self.config.lr_decay, self.iteration);
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

    /// Decoded samples for noise `z`: argmax at each position.
    pub fn decode(&self, z: &Tensor, keep_padding: bool) -> Result<Vec<String>> {
        let ids = self.generator.argmax_ids(z)?;
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
        self.decode(&self.fixed_noise, false)
    }

    /// JSD-1..4, valid-word, unique and novelty rates of 640 samples against the training
    /// lines. Uses its own RNG (seeded by the iteration), so evaluating never changes the
    /// training trajectory.
    pub fn evaluate(&self) -> Result<MetricsRecord> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.config.seed ^ 0xE7A1 ^ self.iteration.rotate_left(17));
        let mut lines = Vec::with_capacity(EVAL_SAMPLES);
        for _ in 0..EVAL_SAMPLES / 64 {
            let z = noise(
                &mut rng,
                64,
                self.config.model.noise_dim,
                self.dtype,
                &self.device,
            )?;
            lines.extend(self.decode(&z, true)?);
        }
        let scores = self.reference.score(&lines);
        Ok(MetricsRecord {
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            js: scores.js,
            floor_js: self.floor_js,
            valid_word_rate: scores.valid_word_rate,
            unique_rate: Some(scores.unique_rate),
            novelty: Some(scores.novelty),
        })
    }

    /// Write the whole checkpoint. State goes last, so it never points past the weights.
    pub fn save(&self) -> Result<()> {
        for (name, p) in [
            ("generator", &self.gen_params),
            ("critic", &self.critic_params),
        ] {
            for (pname, var) in &p.vars {
                if !checkpoint::all_finite(var.as_tensor())? {
                    return Err(Error::NonFinite(format!(
                        "{name} weight {pname} is NaN or infinite at iteration {}; not saved, the last checkpoint is intact. Try a lower --lr.",
                        self.iteration
                    )));
                }
            }
        }
        self.write_checkpoint().map_err(|e| {
            // Discard what was staged (or finish a committed save); either way one whole
            // checkpoint remains.
            let _ = checkpoint::recover(&self.run_dir);
            Error::checkpoint(
                &self.run_dir,
                format!(
                    "could not save the checkpoint of iteration {} ({e}); the last complete checkpoint stays in place",
                    self.iteration
                ),
            )
        })
    }

    fn write_checkpoint(&self) -> Result<()> {
        let dir = &self.run_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Every file is staged, then all are committed together (see `checkpoint`).
        let staged = |name| checkpoint::staged(dir, name);
        checkpoint::write_json(&staged(checkpoint::CONFIG), &self.config)?;
        self.vocab.save(&staged(checkpoint::TOKENIZER))?;
        checkpoint::save_tensors(&staged(checkpoint::GENERATOR), &self.gen_params.tensors())?;
        checkpoint::save_tensors(&staged(checkpoint::CRITIC), &self.critic_params.tensors())?;
        let mut moments = std::collections::HashMap::new();
        for (k, v) in self.opt_g.state_tensors() {
            moments.insert(format!("generator.{k}"), v);
        }
        for (k, v) in self.opt_d.state_tensors() {
            moments.insert(format!("critic.{k}"), v);
        }
        checkpoint::save_tensors(&staged(checkpoint::OPTIMIZER), &moments)?;
        let state = TrainState {
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            adam_steps: (self.opt_g.t, self.opt_d.t),
            rng_word_pos: self.rng.get_word_pos().to_string(),
            data_epoch: self.data.epoch,
            data_pos: self.data.pos,
            saved_at: checkpoint::unix_now(),
            checksums: checkpoint::staged_checksums(dir)?,
        };
        checkpoint::write_json(&staged(checkpoint::STATE), &state)?;
        checkpoint::commit(dir, &checkpoint::CHECKPOINT_FILES)
    }

    fn record_eval(&self, sink: &mut dyn FnMut(Event)) -> Result<()> {
        let samples = self.fixed_samples()?;
        let dir = self.run_dir.join(checkpoint::SAMPLES);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut text = samples.join("\n");
        text.push('\n');
        checkpoint::write_atomic(
            &dir.join(format!("{:06}.txt", self.iteration)),
            text.as_bytes(),
        )?;
        sink(Event::Samples {
            iteration: self.iteration,
            lines: samples,
        });
        let m = self.evaluate()?;
        let path = self.run_dir.join(checkpoint::METRICS);
        let line =
            serde_json::to_string(&m).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
        append_line(&path, &line)?;
        sink(Event::Metrics(m));
        Ok(())
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
            start_iteration: self.iteration,
            target_iters: self.config.iters,
            minutes: self.config.minutes,
            resumed: self.resumed,
        }
    }

    /// Train until `--iters`, `--minutes` or a stop request; checkpoint every `save_every`
    /// iterations and at the end; evaluate every `eval_every`.
    pub fn run(&mut self, control: &Control, sink: &mut dyn FnMut(Event)) -> Result<StopReason> {
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
            let due = self.iteration % PREVIEW_EVERY == 0
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
            if self.iteration % self.config.eval_every == 0 || marked {
                self.record_eval(sink)?;
            }
            if self.iteration % self.config.save_every == 0 || control.take_save_request() {
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

    /// Send the live preview; with `new_noise`, switch it to fresh random noise first.
    fn send_preview(&mut self, new_noise: bool, sink: &mut dyn FnMut(Event)) -> Result<()> {
        if new_noise {
            let dim = self.config.model.noise_dim;
            self.preview_noise = noise(
                &mut self.preview_rng,
                SHOWN_SAMPLES,
                dim,
                self.dtype,
                &self.device,
            )?;
        }
        let lines = self.decode(&self.preview_noise, false)?;
        sink(Event::Preview {
            iteration: self.iteration,
            lines,
        });
        Ok(())
    }
}

/// `b` standard-normal noise vectors, drawn on the CPU (the same on every device).
pub fn noise(
    rng: &mut ChaCha8Rng,
    b: usize,
    dim: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<f32> = (0..b * dim).map(|_| rng.sample(StandardNormal)).collect();
    Ok(Tensor::from_vec(v, (b, dim), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// The hand-written CPU steps of both networks, and where their gradients go in each
/// network's parameters.
struct HandWritten {
    critic: CriticStep<f32>,
    generator: GeneratorStep<f32>,
    /// `order[j]`: index in the network's parameters of the `j`-th tensor of [`param_names`].
    critic_order: Vec<usize>,
    generator_order: Vec<usize>,
}

/// Read locks on the named parameters' storage, in `order`.
fn lock_params<'a>(params: &'a Params, order: &[usize]) -> Vec<(StorageRef<'a>, &'a Layout)> {
    order
        .iter()
        .map(|&i| params.vars[i].1.as_tensor().storage_and_layout())
        .collect()
}

/// The `f32` slices behind locked tensors.
fn host_slices<'a>(locked: &'a [(StorageRef<'_>, &Layout)]) -> Result<Vec<&'a [f32]>> {
    locked.iter().map(|(s, l)| host_slice(s, l)).collect()
}

/// Positions of [`param_names`] in `params`, if `params` holds exactly those.
fn param_order(params: &Params, res_blocks: usize) -> Option<Vec<usize>> {
    let names = param_names(res_blocks);
    let order: Option<Vec<usize>> = names
        .iter()
        .map(|name| params.vars.iter().position(|(n, _)| n == name))
        .collect();
    order.filter(|o| o.len() == params.vars.len())
}

impl HandWritten {
    /// Where they apply: on the CPU, in f32, without normalisation in the critic.
    fn new(
        config: &RunConfig,
        gen_params: &Params,
        critic_params: &Params,
        device: &Device,
        dtype: DType,
    ) -> Result<Option<Self>> {
        let shape = config.model;
        if !device.is_cpu() || dtype != DType::F32 || shape.critic_norm != CriticNorm::None {
            return Ok(None);
        }
        let orders = (
            param_order(critic_params, shape.res_blocks),
            param_order(gen_params, shape.res_blocks),
        );
        let (Some(critic_order), Some(generator_order)) = orders else {
            return Ok(None);
        };
        Ok(Some(HandWritten {
            critic: CriticStep::new(shape)?,
            generator: GeneratorStep::new(shape),
            critic_order,
            generator_order,
        }))
    }

    /// One critic step on the networks' current weights (generator, critic), with the fake
    /// batch `G(z)` made here; the gradients stay in `self.critic`.
    fn critic_step(
        &mut self,
        (gen_params, critic_params): (&Params, &Params),
        real: &Tensor,
        z: &Tensor,
        mix: &Mix,
        strategy: Lipschitz,
        lambda: f64,
    ) -> Result<CriticStats> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let w = host_slices(&critic_locked)?;
        // (`contiguous` is free on these, which are already.)
        let (real, z, eps) = (real.contiguous()?, z.contiguous()?, mix.eps.contiguous()?);
        let eps2 = mix.eps2.as_ref().map(Tensor::contiguous).transpose()?;
        let (rs, rl) = real.storage_and_layout();
        let (zs, zl) = z.storage_and_layout();
        let fake = self
            .generator
            .forward(&host_slices(&gen_locked)?, host_slice(&zs, zl)?)?;
        let (es, el) = eps.storage_and_layout();
        let e2 = eps2.as_ref().map(Tensor::storage_and_layout);
        let batch = StepBatch {
            real: host_slice(&rs, rl)?,
            fake,
            eps: host_slice(&es, el)?,
            eps2: match &e2 {
                Some((s, l)) => Some(host_slice(s, l)?),
                None => None,
            },
        };
        self.critic.run(&w, &batch, strategy, lambda)
    }

    /// The generator's loss `−mean D(G(z))`; its gradient stays in `self.generator`.
    fn generator_step(
        &mut self,
        gen_params: &Params,
        critic_params: &Params,
        z: &Tensor,
    ) -> Result<f64> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let gw = host_slices(&gen_locked)?;
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let cw = host_slices(&critic_locked)?;
        let z = z.contiguous()?;
        let (zs, zl) = z.storage_and_layout();
        let probs = self.generator.forward(&gw, host_slice(&zs, zl)?)?;
        let (scores, input_grad) = self.critic.scores_and_input_grad(&cw, probs)?;
        let b = scores.len();
        let mean = scores.iter().map(|&s| s as f64).sum::<f64>() / b as f64;
        // ∂(−mean D(G(z)))/∂G(z) = −∇ₓD/B.
        let scale = -1.0 / b as f32;
        let dprobs: Vec<f32> = input_grad.iter().map(|&g| g * scale).collect();
        self.generator.backward(&gw, &dprobs)?;
        Ok(-mean)
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Keep the lines of `metrics.jsonl` whose iteration is at most `iteration`.
fn truncate_metrics(path: &Path, iteration: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let keep: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<MetricsRecord>(l).is_ok_and(|m| m.iteration <= iteration)
        })
        .collect();
    if keep.len() != text.lines().count() {
        let mut out = keep.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        checkpoint::write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}
