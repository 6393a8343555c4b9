//! The training loop of the paper's `gan_language.py`: per generator iteration, one generator
//! step (none at iteration 0) then `critic_iters` critic steps, each on a fresh real batch and a
//! fresh, detached fake batch. A trainer is made of parts: the [`Networks`], their optimisers,
//! the [`Draws`] (every random draw of training, from the run's seed: [`crate::streams`]), the
//! [`Engine`] that runs the steps (chosen once), and what the run shows of itself
//! ([`super::showcase`], [`super::evaluation`]). Whichever engine computed a step's gradients,
//! the divergence check, the optimiser and the weight average below apply them the same way.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use super::draws::Draws;
use super::engine::Engine;
use super::events::{Control, Event, LossTally, RunInfo, StepStats, StopReason};
use super::networks::Networks;
use super::optim::Optimizer;
use super::settings::{lr_scale, RunConfig};
use super::showcase::Showcase;
use crate::data::batches::{curriculum_length, CURRICULUM_START};
use crate::data::corpus::Corpus;
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::kernels::Precision;
use crate::model::autograd::critic::Critic;
use crate::model::autograd::generator::Generator;
use crate::model::params::Params;
use crate::model::penalty::{CriticStats, Lipschitz};
use crate::model::FakeView;
use crate::run_dir::lock::RunLock;
use crate::run_dir::DIVERGED;

/// A live preview of the fixed-noise samples is sent every this many iterations …
pub const PREVIEW_EVERY: u64 = 5;
/// … and at most this often (seconds of training): the dashboard redraws 4 times a second,
/// and with fast iterations every fifth one would spend several percent on previews.
pub const PREVIEW_SECS: f64 = 0.25;

/// A run being trained: its settings and data, and the parts the module's header names.
pub struct Trainer {
    pub(super) config: RunConfig,
    pub(super) run_dir: PathBuf,
    pub(super) corpus: Corpus,
    pub(super) vocab: Vocab,
    pub(super) nets: Networks,
    pub(super) opt_g: Optimizer,
    pub(super) opt_d: Optimizer,
    pub(super) draws: Draws,
    engine: Engine,
    /// Fixed-noise samples, previews, the scoring reference and the best score so far.
    pub(super) show: Showcase,
    /// Generator iterations completed.
    pub(super) iteration: u64,
    /// Training seconds over all sessions.
    pub(super) elapsed_secs: f64,
    pub(super) resumed: bool,
    /// The run directory's lock while this trainer may write there ([`super::start::prepare`]).
    pub(super) lock: Option<RunLock>,
    /// Send `Preview` events (for a live view; off by default, it costs a forward pass).
    previews: bool,
    /// Extra evaluations when the run's training time first reaches each of these seconds.
    eval_marks: Vec<f64>,
    /// The losses since the last evaluation, which records their means.
    pub(super) losses: LossTally,
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
        check_curriculum(&config, &corpus)?;
        let dtype = DType::F32;
        let nets = Networks::init(&config, dtype, device)?;
        let opt_g = Optimizer::new(nets.gen_params(), config.optim_generator)?;
        let opt_d = Optimizer::new(nets.critic_params(), config.optim_critic)?;
        let lines = corpus.train.iter().map(|l| vocab.encode(l)).collect();
        let shape = (config.model.vocab, config.model.noise_dim);
        let draws = Draws::new(config.seed, lines, shape, dtype, device);
        let show = Showcase::new(&config, &corpus, dtype, device)?;
        let engine = Engine::choose(&config, &nets, device, dtype)?;
        Ok(Trainer {
            config,
            run_dir: run_dir.to_path_buf(),
            corpus,
            vocab,
            nets,
            opt_g,
            opt_d,
            draws,
            engine,
            show,
            iteration: 0,
            elapsed_secs: 0.0,
            resumed: false,
            lock: None,
            previews: false,
            eval_marks: Vec::new(),
            losses: LossTally::default(),
        })
    }

    /// The run's settings.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Where the run is saved.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Generator iterations completed.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Training seconds over all sessions.
    pub fn elapsed_secs(&self) -> f64 {
        self.elapsed_secs
    }

    /// The trained generator's parameters.
    pub fn gen_params(&self) -> &Params {
        self.nets.gen_params()
    }

    pub fn critic_params(&self) -> &Params {
        self.nets.critic_params()
    }

    /// The critic, as trained so far (to inspect it).
    pub fn critic(&self) -> &Critic {
        self.nets.critic()
    }

    /// Send `Preview` events while training (a live view); off by default.
    pub fn send_previews(&mut self, on: bool) {
        self.previews = on;
    }

    /// Evaluate also when the run's training time first reaches each of these seconds (a
    /// sweep reads its scores at fixed minutes this way).
    pub fn evaluate_at_secs(&mut self, marks: Vec<f64>) {
        self.eval_marks = marks;
    }

    /// Count iterations from `iteration` on, with the weights, optimiser state and draws as
    /// they are: the schedule of the rates and the weight average's decay (functions of the
    /// iteration) continue from there. [`Trainer::resume`] sets its checkpoint's iteration
    /// here, after restoring everything else.
    pub fn continue_from(&mut self, iteration: u64) {
        self.iteration = iteration;
    }

    /// Replace the generator's weights with those saved in `path` (a run's
    /// `generator.safetensors`), e.g. to study a fresh critic against a trained generator.
    pub fn load_generator(&self, path: &Path) -> Result<()> {
        let device = self.nets.device();
        crate::run_dir::tensors::load_params(self.nets.gen_params(), path, device)
    }

    /// Interpolates `x̂` between a fresh real and a fresh fake batch: where the penalty acts.
    pub fn probe_batch(&mut self) -> Result<Tensor> {
        let b = self.config.batch;
        // As the critic step sees them (a curriculum's padding, Gumbel noise).
        let real = self.draws.real_batch_of(b, self.visible())?;
        let z = self.draws.noise(b)?;
        let eps = self.draws.uniform(b)?;
        let view = self.fake_view(b)?;
        let fake = self.nets.generator().forward_shown(&z, &view)?.detach();
        crate::model::penalty::interpolate(&real, &fake, &eps)
    }

    /// One critic update with the run's Lipschitz strategy (WGAN-GP: Formula 9). Returns the
    /// step's numbers.
    pub fn critic_step(&mut self) -> Result<CriticStats> {
        let b = self.config.batch;
        let strategy = self.config.lipschitz;
        // Drawn in this order for every strategy (clipping draws its unused point too), so
        // that the stream, hence the data and noise, is the same whatever the strategy.
        let visible = self.visible();
        let real = self.draws.real_batch_of(b, visible)?;
        let z = self.draws.noise(b)?;
        let penalty = self.draws.penalty(strategy, b)?;
        let shown = self.fake_view(b)?;
        let batch = (&real, &z, &penalty);
        let (stats, grads) =
            self.engine
                .critic_step(&self.nets, batch, (self.config.lambda, &shown))?;
        finite(stats.loss, "critic loss", self.iteration, &self.run_dir)?;
        self.opt_d.apply(&grads)?;
        if strategy == Lipschitz::Clip {
            self.opt_d.clip(self.config.clip)?;
        }
        Ok(stats)
    }

    /// One generator update: minimise `−mean D(G(z))`.
    pub fn generator_step(&mut self) -> Result<f64> {
        let z = self.draws.noise(self.config.batch)?;
        let shown = self.fake_view(self.config.batch)?;
        let (value, grads) = self.engine.generator_step(&self.nets, &z, &shown)?;
        finite(value, "generator loss", self.iteration, &self.run_dir)?;
        self.opt_g.apply(&grads)?;
        self.nets.update_average(self.config.ema, self.iteration)?;
        Ok(value)
    }

    /// The positions this iteration trains on: all of them, or the length curriculum's
    /// (`--curriculum`): a function of the iteration alone, like the learning rates.
    fn visible(&self) -> usize {
        curriculum_length(
            self.config.curriculum,
            self.iteration,
            self.config.model.seq_len,
        )
    }

    /// What the critic is shown of a fake batch of `b` this iteration: the curriculum's
    /// positions, and with `--gumbel` fresh Gumbel noise from the training stream (drawn after
    /// the step's other draws, so runs without it draw exactly as before).
    fn fake_view(&mut self, b: usize) -> Result<FakeView<Tensor>> {
        let gumbel = match self.config.gumbel {
            0.0 => None,
            tau => Some((self.draws.gumbel(b)?, tau)),
        };
        Ok(FakeView {
            visible: self.visible(),
            gumbel,
        })
    }

    /// Train both networks through candle's autograd even where the hand-written steps apply
    /// (to compare the two; the result is the same up to rounding).
    pub fn use_autograd(&mut self) {
        self.engine = Engine::autograd("asked for");
    }

    /// Whether training steps use the hand-written CPU steps.
    pub fn hand_written(&self) -> bool {
        matches!(self.engine, Engine::HandWritten(_))
    }

    /// The hand-written step's product precision as this CPU runs it; `None` on autograd.
    pub fn precision(&self) -> Option<Precision> {
        self.engine.precision()
    }

    /// Which execution path trains this run, and why when it is not the faster one (or not
    /// in the precision asked for).
    pub fn engine(&self) -> String {
        self.engine.describe(self.config.precision)
    }

    /// The generator whose samples the run shows and scores: the average with `--ema`, the
    /// trained one otherwise.
    pub fn shown_generator(&self) -> (&Generator, &Params) {
        self.nets.shown()
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
        let stats = StepStats {
            iteration: self.iteration,
            critic_loss: last.loss,
            wasserstein: last.wasserstein,
            penalty: last.penalty,
            grad_norm: last.grad_norm,
            gen_loss,
            secs,
        };
        self.losses.add(&stats);
        Ok(stats)
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
            kernel: self.config.model.kernel,
            critic_iters: self.config.critic_iters,
            generator_params: self.nets.gen_params().count(),
            critic_params: self.nets.critic_params().count(),
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
        // Training again (a resume with a lower rate): the run is no longer diverged.
        let marker = self.run_dir.join(DIVERGED);
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        }
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
            let stats = match self.train_iteration() {
                Ok(stats) => stats,
                Err(e) => {
                    if matches!(e, Error::NonFinite(_)) {
                        self.mark_diverged(&e);
                    }
                    return Err(e);
                }
            };
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

    /// Leave `diverged.json` (the iteration, the training time and the message) beside the
    /// intact last checkpoint, so that whoever looks at the run later (`textgan serve`) sees
    /// how it ended. Best effort: the divergence itself is the error reported.
    fn mark_diverged(&self, e: &Error) {
        let note = Diverged {
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            message: e.to_string(),
        };
        if let Ok(json) = serde_json::to_vec_pretty(&note) {
            let _ = crate::run_dir::atomic::write_atomic(&self.run_dir.join(DIVERGED), &json);
        }
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

/// How a diverged run ended, as `diverged.json` records it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Diverged {
    /// The last iteration completed (the failing one is the next).
    pub iteration: u64,
    pub elapsed_secs: f64,
    pub message: String,
}

/// A length curriculum needs lines longer than where it starts: on a corpus whose lines are all
/// at most [`CURRICULUM_START`] characters it would change nothing but mislead.
fn check_curriculum(config: &RunConfig, corpus: &Corpus) -> Result<()> {
    if config.curriculum == 0 {
        return Ok(());
    }
    let longest = corpus
        .all_lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    if longest <= CURRICULUM_START {
        return Err(Error::Config(format!(
            "--curriculum {}: every line of {} is at most {longest} characters, and a length curriculum starts at {CURRICULUM_START}: it has nothing to grow into; train without --curriculum",
            config.curriculum,
            corpus.path.display()
        )));
    }
    Ok(())
}

/// A step's loss, or the error that says training diverged (nothing saved: the last
/// checkpoint stays intact).
fn finite(value: f64, what: &str, iteration: u64, run_dir: &Path) -> Result<f64> {
    if value.is_finite() {
        return Ok(value);
    }
    Err(Error::NonFinite(format!(
        "{what} became NaN or infinite at iteration {iteration}; nothing was saved, the last checkpoint in {} is intact. Try a lower --lr.",
        run_dir.display()
    )))
}
