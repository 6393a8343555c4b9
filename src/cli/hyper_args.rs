//! The model and optimiser flags shared by `train`, `compare` and a sweep's grid lines
//! ([`HyperArgs`]), mapped onto the library's [`TrainOptions`].

use clap::Parser;

use textgan::kernels::Precision;
use textgan::model::penalty::Lipschitz;
use textgan::model::CriticNorm;
use textgan::train::presets::Preset;
use textgan::train::settings::TrainOptions;

use super::choice::choice;

/// The model and optimiser flags of `train`, `compare` and a sweep's grid lines.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HyperArgs {
    /// Hyper-parameter bundle; the flags below override it [default: cpu on the CPU, paper on
    /// a GPU]
    #[arg(long, value_parser = choice::<Preset>(), long_help = preset_help())]
    pub preset: Option<Preset>,
    /// Width (channels) of every hidden layer; the paper used 512 [default: from preset; the
    /// cpu preset's 48, or 64 with --minutes 30 or more]
    #[arg(long)]
    pub dim: Option<usize>,
    /// Width of the critic's hidden layers, where it should differ from the generator's
    /// (more capacity for the critic alone) [default: --dim]
    #[arg(long)]
    pub critic_dim: Option<usize>,
    /// Residual blocks in each network; the paper used 5 [default: from preset]
    #[arg(long)]
    pub res_blocks: Option<usize>,
    /// Width of the residual blocks' convolutions in both networks, odd: each window is centred
    /// on its character. The paper used 5; 3 costs 3/5 of the products, so the same time buys
    /// a wider model [default: from preset; the cpu preset's 3]
    #[arg(long, value_name = "K")]
    pub kernel: Option<usize>,
    /// The critic's local branch (not in the paper): a score at every position read after the
    /// first N residual blocks (a window of 1 + 2(K − 1)·N characters for --kernel K: 9, about
    /// a word, for N = 1 at the paper's K = 5), their mean added to the critic's score; 0: none
    /// [default: from preset]
    #[arg(long, value_name = "N")]
    pub local_critic: Option<usize>,
    /// Self-attention in the generator after its first N residual blocks (SAGAN, Zhang et al.
    /// 2019; not in the paper): every position reads every other one, not only the (K − 1)/2
    /// characters either side a width-K convolution sees; 0: none [default: from preset]
    #[arg(long, value_name = "N")]
    pub attention: Option<usize>,
    /// An autoregressive read-out in the generator (Press et al. 2017's recurrent generators
    /// read their last output; not in the paper): each character's output also reads the
    /// generator's own output at the K positions before it, so a character can follow the ones
    /// written before it; 0: none, every position written at once [default: from preset]
    #[arg(long, value_name = "K")]
    pub autoregressive: Option<usize>,
    /// Critic steps per generator step [default: from preset]
    #[arg(long)]
    pub critic_iters: Option<usize>,
    /// Samples per batch [default: from preset]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate of both networks: Adam, or RMSProp with --lipschitz clip [default: from
    /// preset; 5e-5 with clip]
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Learning rate of the critic (overrides --lr) [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub lr_critic: Option<f64>,
    /// Learning rate of the generator (overrides --lr) [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub lr_gen: Option<f64>,
    /// Adam's β₁ for both networks (refused with --lipschitz clip: RMSProp has none)
    /// [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub beta1: Option<f64>,
    /// Adam's β₂ for both networks (RMSProp's α with --lipschitz clip) [default: from preset;
    /// 0.99 with clip]
    #[arg(long, allow_hyphen_values = true)]
    pub beta2: Option<f64>,
    /// Divide both learning rates by 1 + t/N at generator iteration t: half the rate after N
    /// iterations, a third after 2N; 0 keeps them constant (the paper) [default: from preset]
    #[arg(long, value_name = "N")]
    pub lr_decay: Option<u64>,
    /// A length curriculum (Press et al. 2017; not in the paper): train on the first 4
    /// characters of every line, the rest padding for real and fake alike, then one more
    /// character every N generator iterations until all 32; 0: none [default: from preset]
    #[arg(long, value_name = "N")]
    pub curriculum: Option<u64>,
    /// Show the critic the fakes as Gumbel-softmax samples at this temperature,
    /// softmax((logits + g)/τ) with fresh Gumbel noise g (Jang et al. 2017; not in the paper):
    /// near one-hot like real text, so softness alone does not tell them apart; with the
    /// read-out (--autoregressive) the later positions read these samples; samples still read
    /// the argmax; 0: the softmax itself [default: from preset]
    #[arg(long, value_name = "TAU", allow_hyphen_values = true)]
    pub gumbel: Option<f64>,
    /// Average the generator's weights with this decay (an exponential moving average, 0 =
    /// off; Yazıcı et al. 2019): samples, evaluation, `generate` and the best generator use
    /// the average [default: from preset]
    #[arg(long, value_name = "DECAY", allow_hyphen_values = true)]
    pub ema: Option<f64>,
    /// Read samples (evaluations, previews, and later `generate`, `eval`, `interpolate`) from
    /// the noise scaled by ψ, N(0, ψ²·I): below 1, samples from nearer the centre of the
    /// noise, fewer oddities for a little less variety (the truncation trick, Brock et al.
    /// 2019); 1: the noise as drawn (the paper). Training itself is unchanged; may change on
    /// --resume [default: from preset]
    #[arg(long, value_name = "PSI", allow_hyphen_values = true)]
    pub truncation: Option<f64>,
    /// Inputs of the hand-written step's matrix products: bf16 (AVX-512 BF16 CPUs; f32
    /// elsewhere, said at the start) or f32; may change on --resume [default: from preset]
    #[arg(long, value_parser = choice::<Precision>())]
    pub precision: Option<Precision>,
    /// Penalty weight λ of gp, lp and fd [default: 10]
    #[arg(long, allow_hyphen_values = true)]
    pub lambda: Option<f64>,
    /// Weight-clipping bound c of --lipschitz clip [default: 0.01]
    #[arg(long, allow_hyphen_values = true)]
    pub clip: Option<f64>,
    /// Normalisation in the critic's residual blocks (`batch` is refused with a penalty)
    /// [default: none]
    #[arg(long, value_parser = choice::<CriticNorm>())]
    pub critic_norm: Option<CriticNorm>,
}

/// `--preset`'s long help: what each preset sets, from the presets themselves.
fn preset_help() -> String {
    format!(
        "Hyper-parameter bundle; the flags below override it. Default: cpu on the CPU, paper on a GPU.\n  \
         cpu:   {}\n  \
         paper: {}\n\
         Both: λ = 10, noise dimension 128.",
        Preset::Cpu.describe(),
        Preset::Paper.describe()
    )
}

impl HyperArgs {
    /// `opts` with these settings filled in.
    pub fn apply(self, opts: TrainOptions) -> TrainOptions {
        TrainOptions {
            preset: self.preset,
            dim: self.dim,
            critic_dim: self.critic_dim,
            res_blocks: self.res_blocks,
            kernel: self.kernel,
            local_critic: self.local_critic,
            attention: self.attention,
            autoregressive: self.autoregressive,
            critic_iters: self.critic_iters,
            batch: self.batch,
            lr: self.lr,
            lr_critic: self.lr_critic,
            lr_gen: self.lr_gen,
            beta1: self.beta1,
            beta2: self.beta2,
            lr_decay: self.lr_decay,
            curriculum: self.curriculum,
            gumbel: self.gumbel,
            ema: self.ema,
            truncation: self.truncation,
            precision: self.precision,
            lambda: self.lambda,
            clip: self.clip,
            critic_norm: self.critic_norm,
            ..opts
        }
    }
}

/// The flags a sweep's grid line may use: `train`'s model and optimiser flags and
/// `--lipschitz`.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct GridLine {
    #[command(flatten)]
    hyper: HyperArgs,
    #[arg(long, value_parser = choice::<Lipschitz>())]
    lipschitz: Option<Lipschitz>,
}

/// A grid line's flags as settings, or clap's first line of complaint.
pub fn parse_grid_flags(words: &[&str]) -> Result<TrainOptions, String> {
    match GridLine::try_parse_from(words) {
        Ok(line) => Ok(line.hyper.apply(TrainOptions {
            lipschitz: line.lipschitz,
            ..TrainOptions::default()
        })),
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default().trim();
            Err(first.strip_prefix("error: ").unwrap_or(first).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use textgan::experiments::sweep::grid::parse_grid;

    #[test]
    fn grid_lines_parse_with_train_flags_and_groups() {
        let text = "# a comment\n\nbase: --dim 32\n[depth]\nd64-b3: --dim 64  --res-blocks 3 --lr-critic 4e-4 --lipschitz lp\n";
        let g = parse_grid(Path::new("grid.txt"), text, parse_grid_flags).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].name.as_str(), g[0].group.as_str()), ("base", ""));
        assert_eq!(g[0].options.dim, Some(32));
        assert_eq!(g[1].group, "depth");
        assert_eq!(
            g[1].flags,
            "--dim 64 --res-blocks 3 --lr-critic 4e-4 --lipschitz lp"
        );
        assert_eq!(g[1].options.res_blocks, Some(3));
        assert_eq!(g[1].options.lr_critic, Some(4e-4));
        assert_eq!(g[1].options.lipschitz, Some(Lipschitz::Lp));
    }

    #[test]
    fn bad_grid_lines_name_the_file_and_line() {
        for (text, needle) in [
            (
                "a: --dim 32\nb --dim 64\n",
                "grid.txt:2: expected `name: --flag value",
            ),
            (
                "a: --dim 32\na: --dim 64\n",
                "grid.txt:2: configuration \"a\" is named twice",
            ),
            ("a b: --dim 32\n", "grid.txt:1: configuration name"),
            ("a: --dimm 32\n", "grid.txt:1: unexpected argument '--dimm'"),
            ("a: --dim x\n", "grid.txt:1: invalid value 'x'"),
            ("[depth\na: --dim 3\n", "grid.txt:1: a group heading"),
            ("# nothing\n", "lists no configuration"),
        ] {
            let e = parse_grid(Path::new("grid.txt"), text, parse_grid_flags)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
