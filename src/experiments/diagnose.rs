//! `textgan diagnose`: the paper's two diagnostics of weight clipping (its Figure 1b and the
//! weight histogram of §3), on this critic and corpus. Fresh critics are trained against a
//! fixed generator (a trained run's, or a new one), with clipping at several bounds `c` and
//! with the gradient penalty; then
//! * the histogram of each critic's weights: clipping piles them up at ±c, the penalty spreads
//!   them out;
//! * the gradient norm of the critic's score w.r.t. the activations of each layer, at points
//!   between real and fake: clipping makes it vanish or explode, the penalty keeps it near 1.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde::Serialize;

use crate::data::corpus::Corpus;
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::experiments::plot::{self, Series};
use crate::model::penalty::{per_sample_norm, Lipschitz};
use crate::train::optim::OptimConfig;
use crate::train::progress::{Part, Progress};
use crate::train::settings::RunConfig;
use crate::train::settings::TrainOptions;
use crate::train::start;
use crate::train::trainer::Trainer;

/// Clipping bounds of the paper's figure.
pub const CLIPS: [f64; 3] = [0.1, 0.01, 0.001];
/// Histogram bins.
const BINS: usize = 60;

/// The histogram of each variant's weights.
pub const WEIGHTS_SVG: &str = "weights.svg";
/// Each variant's gradient norm per layer (log scale).
pub const LAYER_GRADS_SVG: &str = "layer_grads.svg";
/// The numbers ([`DiagnosticsFile`]).
pub const DIAGNOSTICS_JSON: &str = "diagnostics.json";
/// The gradient norms per variant and layer, one row each.
pub const LAYER_GRADS_CSV: &str = "layer_grads.csv";
/// Every file `diagnose` writes into its output directory, the figures first.
pub const FILES: [&str; 4] = [
    WEIGHTS_SVG,
    LAYER_GRADS_SVG,
    DIAGNOSTICS_JSON,
    LAYER_GRADS_CSV,
];

/// What a critic looks like inside.
#[derive(Debug, Clone, Serialize)]
pub struct CriticDiagnostics {
    /// Mean per-sample `‖∂D/∂h‖` at interpolates, from the input (`layer_names()[0]`) to the
    /// last residual block.
    pub layer_grad_norms: Vec<f64>,
    /// Every weight (matrices, not biases or norm gains) of the critic.
    #[serde(skip)]
    pub weights: Vec<f64>,
}

/// Names of the layers of [`CriticDiagnostics::layer_grad_norms`], for `res_blocks` blocks.
pub fn layer_names(res_blocks: usize) -> Vec<String> {
    let mut names = vec!["one-hot input".to_string(), "input conv".to_string()];
    names.extend((1..=res_blocks).map(|k| format!("block {k}")));
    names
}

/// Weights and layer gradient norms of the trainer's critic, on a fresh interpolate batch.
pub fn inspect(trainer: &mut Trainer) -> Result<CriticDiagnostics> {
    let x_hat = trainer.probe_batch()?;
    let mut layer_grad_norms = trainer
        .critic()
        .layer_grads(&x_hat)?
        .iter()
        .map(|g| {
            Ok(per_sample_norm(g)?
                .mean_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?)
        })
        .collect::<Result<Vec<f64>>>()?;
    layer_grad_norms.reverse(); // input first
    let mut weights = Vec::new();
    for (name, var) in &trainer.critic_params().vars {
        if name.ends_with(".weight") {
            let v = var
                .as_tensor()
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            weights.extend(v);
        }
    }
    Ok(CriticDiagnostics {
        layer_grad_norms,
        weights,
    })
}

/// One critic variant of the diagnostic.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// "clip 0.01", "gp".
    pub name: String,
    /// The critic's Wasserstein estimate after each training step.
    pub wasserstein: Vec<f64>,
    pub diagnostics: CriticDiagnostics,
}

#[derive(Debug, Clone)]
pub struct DiagnoseOptions {
    /// Corpus (without `model`: a new generator, `dim` wide, is used).
    pub corpus: Option<PathBuf>,
    /// A run whose trained generator the critics are trained against.
    pub model: Option<PathBuf>,
    /// Where the figures and numbers go.
    pub out: PathBuf,
    /// Critic steps per variant.
    pub steps: usize,
    /// Width of a new generator and the critics (without `model`).
    pub dim: Option<usize>,
    pub seed: u64,
}

/// Train the variants and write the [`FILES`] into `opts.out`. `progress` hears one line per
/// finished variant and the share of critic steps taken.
pub fn diagnose(
    opts: &DiagnoseOptions,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<Vec<Variant>> {
    if opts.steps == 0 {
        return Err(Error::Config("--steps must be at least 1".into()));
    }
    let (base, corpus, vocab, generator) = setup(opts, device)?;
    let mut variants = Vec::new();
    let strategies = CLIPS
        .iter()
        .map(|&c| (format!("clip {c}"), Lipschitz::Clip, c))
        .chain([("gp".to_string(), Lipschitz::Gp, 0.0)]);
    let count = CLIPS.len() + 1;
    for (index, (name, strategy, c)) in strategies.enumerate() {
        let mut part = Part::of(progress, index, count);
        let mut config = base.clone();
        config.lipschitz = strategy;
        config.optim_critic = if strategy == Lipschitz::Clip {
            config.clip = c;
            OptimConfig::wgan()
        } else {
            OptimConfig::paper()
        };
        let mut trainer = Trainer::new(config, corpus.clone(), vocab.clone(), &opts.out, device)?;
        if let Some(g) = &generator {
            trainer.load_generator(g)?;
        }
        let mut wasserstein = Vec::with_capacity(opts.steps);
        for step in 0..opts.steps {
            wasserstein.push(trainer.critic_step()?.wasserstein);
            part.done((step + 1) as f64 / opts.steps as f64);
        }
        let diagnostics = inspect(&mut trainer)?;
        part.line(&format!(
            "{name}: {} critic steps, W estimate {:.4}, gradient norm at the input {:.3e}",
            opts.steps,
            wasserstein.last().copied().unwrap_or(f64::NAN),
            diagnostics.layer_grad_norms[0]
        ));
        variants.push(Variant {
            name,
            wasserstein,
            diagnostics,
        });
    }
    write_figures(&opts.out, &variants, base.model.res_blocks)?;
    let file = DiagnosticsFile {
        steps: opts.steps,
        dim: base.model.dim,
        corpus: base.corpus.display().to_string(),
        generator: generator.as_ref().map(|g| g.display().to_string()),
        layers: layer_names(base.model.res_blocks),
        variants: &variants,
    };
    crate::run_dir::atomic::write_json(&opts.out.join(DIAGNOSTICS_JSON), &file)?;
    Ok(variants)
}

/// The contents of [`DIAGNOSTICS_JSON`]: the settings and every variant in full. Paths are
/// displayed: one that is not UTF-8 would not serialise.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticsFile<'a> {
    /// Critic steps per variant.
    pub steps: usize,
    pub dim: usize,
    pub corpus: String,
    /// The generator weights the critics were trained against (`null`: a new generator).
    pub generator: Option<String>,
    /// [`layer_names`], the order of every variant's `layer_grad_norms`.
    pub layers: Vec<String>,
    pub variants: &'a [Variant],
}

/// What `textgan diagnose --format json` prints: each variant's last numbers and where the
/// files went.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnoseOutput {
    pub variants: Vec<VariantResult>,
    /// The [`FILES`] in the output directory, displayed (as [`DiagnosticsFile`]'s paths).
    pub files: Vec<String>,
}

/// One variant in [`DiagnoseOutput`].
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    /// The last Wasserstein estimate.
    pub wasserstein: Option<f64>,
    /// The mean gradient norm at the input, the first of its `layer_grad_norms`.
    pub input_grad_norm: Option<f64>,
}

impl DiagnoseOutput {
    /// The summary of `variants`, whose files [`diagnose`] wrote into `out`.
    pub fn new(variants: &[Variant], out: &Path) -> Self {
        DiagnoseOutput {
            variants: variants
                .iter()
                .map(|v| VariantResult {
                    name: v.name.clone(),
                    wasserstein: v.wasserstein.last().copied(),
                    input_grad_norm: v.diagnostics.layer_grad_norms.first().copied(),
                })
                .collect(),
            files: FILES
                .iter()
                .map(|f| out.join(f).display().to_string())
                .collect(),
        }
    }
}

/// The base settings, corpus, vocabulary and (with `--model`) the generator weights.
fn setup(
    opts: &DiagnoseOptions,
    device: &Device,
) -> Result<(RunConfig, Corpus, Vocab, Option<PathBuf>)> {
    match &opts.model {
        Some(dir) => {
            let config = crate::train::checkpoint::read_config(dir)?;
            let vocab = crate::train::checkpoint::read_vocab(dir, &config)?;
            let path = opts.corpus.clone().unwrap_or_else(|| config.corpus.clone());
            let corpus = Corpus::load(&path, config.seed, config.batch)?;
            Ok((
                config,
                corpus,
                vocab,
                Some(dir.join(crate::run_dir::GENERATOR)),
            ))
        }
        None => {
            let corpus = opts
                .corpus
                .clone()
                .ok_or_else(|| Error::Config("diagnose needs a corpus or --model DIR".into()))?;
            let train = TrainOptions {
                corpus: Some(corpus),
                dim: opts.dim,
                seed: Some(opts.seed),
                ..TrainOptions::default()
            };
            let (config, corpus, vocab) = start::new_run(&train, device)?;
            Ok((config, corpus, vocab, None))
        }
    }
}

/// [`WEIGHTS_SVG`] (one histogram panel per variant), [`LAYER_GRADS_SVG`] (log scale) and
/// [`LAYER_GRADS_CSV`] for some named critics.
pub fn write_figures(out: &Path, variants: &[Variant], res_blocks: usize) -> Result<()> {
    let groups: Vec<(String, Vec<f64>)> = variants
        .iter()
        .map(|v| (v.name.clone(), v.diagnostics.weights.clone()))
        .collect();
    plot::histograms(
        &out.join(WEIGHTS_SVG),
        "Critic weights",
        "weight value",
        &groups,
        BINS,
    )?;
    let series: Vec<Series> = variants
        .iter()
        .map(|v| Series {
            name: v.name.clone(),
            points: v
                .diagnostics
                .layer_grad_norms
                .iter()
                .enumerate()
                .map(|(i, &g)| (i as f64, g))
                .collect(),
        })
        .collect();
    let names = layer_names(res_blocks);
    plot::line_chart(
        &out.join(LAYER_GRADS_SVG),
        &format!(
            "‖∂D/∂activations‖ per layer (0 = {}, 1 = {}, then blocks)",
            names[0], names[1]
        ),
        "layer",
        "gradient norm (log scale)",
        &series,
        true,
    )?;
    let mut csv = String::from("variant,layer,name,grad_norm\n");
    for v in variants {
        for (i, g) in v.diagnostics.layer_grad_norms.iter().enumerate() {
            csv += &format!("{},{i},{},{g}\n", v.name, names.get(i).map_or("", |s| s));
        }
    }
    crate::run_dir::atomic::write_atomic(&out.join(LAYER_GRADS_CSV), csv.as_bytes())
}
