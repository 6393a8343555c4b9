//! The hand-written steps as the trainer calls them: on the networks' candle parameters (read
//! in place, in the [`Schema`]'s order), their gradients left here for the optimiser. Also the
//! one place that decides whether a run can take this path, and says why not.

use candle_core::{DType, Device, Layout, StorageRef, Tensor};

use super::critic::{CriticStep, StepBatch};
use super::generator::GeneratorStep;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::{self, host_slice, Precision};
use crate::model::params::Params;
use crate::model::penalty::{CriticStats, Penalty};
use crate::model::schema::{Net, Schema};
use crate::model::{CriticNorm, FakeView, ModelShape};

/// Why the hand-written step cannot train a run of `shape` on `device` in `dtype`, or `None`
/// where it can.
pub fn unsupported(shape: &ModelShape, device: &Device, dtype: DType) -> Option<&'static str> {
    if !device.is_cpu() {
        Some("the hand-written step runs on the CPU only")
    } else if dtype != DType::F32 {
        Some("the hand-written step computes in f32 only")
    } else if shape.critic_norm != CriticNorm::None {
        Some("the hand-written step has no normalisation layers (--critic-norm)")
    } else {
        None
    }
}

/// One shard's steps: both networks' buffers for its share of the batch.
struct Shard {
    critic: CriticStep<f32>,
    generator: GeneratorStep<f32>,
}

/// How the hand-written step splits its batch. Every term of both losses is a mean over the
/// batch's samples of something that depends on one sample only (the penalty too: Formula 9's
/// norm is per sample), so any split into pieces gives the same gradient: each piece adds its
/// share of the batch's mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// `n` pieces at once, one per thread, each on its own buffers with single-threaded
    /// kernels ([`kernels::serial`]); their gradients are summed. At small widths the products
    /// are too small to split well one by one: most of a split product's time went to
    /// handing work between threads.
    Parallel(usize),
    /// `n` pieces one after another on one set of buffers, each product and pass split across
    /// the pool ([`kernels::threaded`]), the gradients added in place: the memory of one piece.
    Sequential(usize),
}

/// From this width on, a step's products are large enough to split across the threads one
/// by one, and the activations' memory is worth saving: at 512, two pieces in turn took 0.72×
/// the memory of two shards at once (687 against 955 MB, bf16) for 4% more time (8% in f32).
/// At 128 one product at a time across two threads was 12% slower than shards (bf16).
const WIDE: usize = 256;

/// Samples per piece of a [`Split::Sequential`] step: a batch of 64 runs in two pieces, which
/// halves the activations' memory.
const PIECE: usize = 32;

impl Split {
    /// The split for networks of `shape`, batches of `batch` and `threads` threads.
    pub fn for_shape(shape: &ModelShape, batch: usize, threads: usize) -> Split {
        if shape.dim.max(shape.critic_width()) >= WIDE {
            Split::Sequential(batch.div_ceil(PIECE).max(1))
        } else {
            Split::Parallel(threads.clamp(1, batch.max(1)))
        }
    }

    fn pieces(self) -> usize {
        match self {
            Split::Parallel(n) | Split::Sequential(n) => n.max(1),
        }
    }
}

/// The hand-written CPU steps of both networks, and where their weights are in each network's
/// parameters.
pub struct HandWritten {
    /// One per piece for [`Split::Parallel`], else one.
    shards: Vec<Shard>,
    split: Split,
    /// The products' input precision, as this CPU runs it.
    precision: Precision,
    /// `order[j]`: index in the network's parameters of the schema's `j`-th tensor.
    pub critic_order: Vec<usize>,
    pub generator_order: Vec<usize>,
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

/// `shown`'s Gumbel noise made contiguous (free when it is), to be locked and read.
fn contiguous_noise(shown: &FakeView<Tensor>) -> Result<Option<(Tensor, f64)>> {
    shown
        .gumbel
        .as_ref()
        .map(|(g, tau)| Ok((g.contiguous()?, *tau)))
        .transpose()
}

/// The noise of [`contiguous_noise`] locked for reading.
type LockedNoise<'a> = Option<((StorageRef<'a>, &'a Layout), f64)>;

fn lock_noise(noise: &Option<(Tensor, f64)>) -> LockedNoise<'_> {
    noise
        .as_ref()
        .map(|(g, tau)| (g.storage_and_layout(), *tau))
}

/// The locked noise's values and τ.
fn host_noise<'a>(locked: &'a LockedNoise<'_>) -> Result<Option<(&'a [f32], f64)>> {
    match locked {
        Some(((s, l), tau)) => Ok(Some((host_slice(s, l)?, *tau))),
        None => Ok(None),
    }
}

/// The fake view of the samples `r` of a batch: the same positions, their rows of the noise
/// (`per` values per sample).
fn piece_view(
    visible: usize,
    gumbel: Option<(&[f32], f64)>,
    per: usize,
    r: std::ops::Range<usize>,
) -> FakeView<&[f32]> {
    FakeView {
        visible,
        gumbel: gumbel.map(|(g, tau)| (&g[r.start * per..r.end * per], tau)),
    }
}

/// The samples of shard `i` of `n` in a batch of `b`: as equal as they come.
fn shard_range(b: usize, n: usize, i: usize) -> std::ops::Range<usize> {
    b * i / n..b * (i + 1) / n
}

/// `first ← first + Σ_s grads_s`: the parallel pieces' gradients summed into the first
/// shard's, in place (a separate sum would be one more copy of every gradient).
fn sum_into_first<'a>(first: &mut [Vec<f32>], rest: impl Iterator<Item = &'a [Vec<f32>]>) {
    for grads in rest {
        for (acc, g) in first.iter_mut().zip(grads) {
            acc.iter_mut().zip(g).for_each(|(a, &x)| *a += x);
        }
    }
}

impl HandWritten {
    /// The steps for networks of `shape` whose parameters are `gen_params` and
    /// `critic_params`, the batch split as `split` says ([`Split::for_shape`] chooses).
    /// Parameters that differ from their [`Schema`] are an error naming the tensor (never a
    /// quiet fall-back to the slower path).
    pub fn new(
        shape: ModelShape,
        gen_params: &Params,
        critic_params: &Params,
        split: Split,
        precision: Precision,
    ) -> Result<Self> {
        let buffers = match split {
            Split::Parallel(n) => n.max(1),
            Split::Sequential(_) => 1,
        };
        let shards = (0..buffers)
            .map(|_| {
                Ok(Shard {
                    critic: CriticStep::new(shape)?,
                    generator: GeneratorStep::new(shape),
                })
            })
            .collect::<Result<_>>()?;
        Ok(HandWritten {
            critic_order: critic_params.positions(&Schema::of(Net::Critic, &shape))?,
            generator_order: gen_params.positions(&Schema::of(Net::Generator, &shape))?,
            shards,
            split,
            precision: precision.on_this_cpu().0,
        })
    }

    /// How the batch is split.
    pub fn split(&self) -> Split {
        self.split
    }

    /// `run(shard, samples, add)` for every piece of a batch of `b` samples, as the split
    /// says; `add` is set where the shard already holds an earlier piece's gradient. The
    /// results in piece order.
    fn each_piece<R: Send>(
        &mut self,
        b: usize,
        run: impl Fn(&mut Shard, std::ops::Range<usize>, bool) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let (precision, n) = (self.precision, self.split.pieces());
        match (self.split, self.shards.as_mut_slice()) {
            (Split::Sequential(_), [shard, ..]) => (0..n)
                .map(|i| kernels::threaded(precision, || run(shard, shard_range(b, n, i), i > 0)))
                .collect(),
            (_, [one]) => Ok(vec![kernels::serial(precision, || run(one, 0..b, false))?]),
            (_, shards) => shards
                .par_iter_mut()
                .enumerate()
                .map(|(i, shard)| {
                    kernels::serial(precision, || run(shard, shard_range(b, n, i), false))
                })
                .collect(),
        }
    }

    /// The precision the products run in (bf16 only where the CPU has it).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The critic's gradient of the last [`critic_step`](Self::critic_step), in schema order
    /// (the pieces' sum is left in the first shard's).
    pub fn critic_grads(&self) -> &[Vec<f32>] {
        self.shards[0].critic.grads()
    }

    /// The generator's gradient of the last [`generator_step`](Self::generator_step).
    pub fn generator_grads(&self) -> &[Vec<f32>] {
        self.shards[0].generator.grads()
    }

    /// One critic step on the networks' current weights (generator, critic), with the fake
    /// batch `G(z)` made here; the gradients stay here ([`critic_grads`](Self::critic_grads)).
    pub fn critic_step(
        &mut self,
        (gen_params, critic_params): (&Params, &Params),
        real: &Tensor,
        z: &Tensor,
        penalty: &Penalty<Tensor>,
        (lambda, shown): (f64, &FakeView<Tensor>),
    ) -> Result<CriticStats> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let gw = host_slices(&gen_locked)?;
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let cw = host_slices(&critic_locked)?;
        // (`contiguous` is free on these, which are already.)
        let (real, z) = (real.contiguous()?, z.contiguous()?);
        let penalty = penalty.map(Tensor::contiguous)?;
        let (rs, rl) = real.storage_and_layout();
        let (zs, zl) = z.storage_and_layout();
        let locked = penalty.map(|e| Ok::<_, Error>(e.storage_and_layout()))?;
        let (real, z) = (host_slice(&rs, rl)?, host_slice(&zs, zl)?);
        let penalty: Penalty<&[f32]> = locked.map(|(s, l)| host_slice(s, l))?;
        let noise = contiguous_noise(shown)?;
        let locked = lock_noise(&noise);
        let gumbel = host_noise(&locked)?;
        // The batch: the noise's rows (every strategy has noise; clipping has no points).
        let b = z.len() / self.shards[0].generator.noise_dim();
        let points_fit = penalty.points().iter().all(|p| p.len() == b);
        if b == 0 || real.len() % b != 0 || z.len() % b != 0 || !points_fit {
            return Err(Error::Internal(
                "critic step: batch sizes do not match".into(),
            ));
        }
        let (per, nz) = (real.len() / b, z.len() / b);
        let run = |shard: &mut Shard, r: std::ops::Range<usize>, add: bool| {
            let piece = piece_view(shown.visible, gumbel, per, r.clone());
            let fake = shard
                .generator
                .forward_shown(&gw, &z[r.start * nz..r.end * nz], piece)?;
            let batch = StepBatch {
                real: &real[r.start * per..r.end * per],
                fake,
                penalty: penalty.map(|&e| Ok::<_, Error>(&e[r.clone()]))?,
                mean_over: b,
                add,
            };
            let stats = shard.critic.step(&cw, &batch, lambda)?;
            Ok((stats, r.len() as f64 / b as f64))
        };
        let parts = self.each_piece(b, run)?;
        if let Some((first, rest)) = self.shards.split_first_mut() {
            sum_into_first(
                first.critic.grads_mut(),
                rest.iter().map(|s| s.critic.grads()),
            );
        }
        // Each piece's numbers are means over its samples: their mean weighted by its share.
        let mean = |f: &dyn Fn(&CriticStats) -> f64| parts.iter().map(|(s, w)| w * f(s)).sum();
        Ok(CriticStats {
            loss: mean(&|s| s.loss),
            wasserstein: mean(&|s| s.wasserstein),
            penalty: mean(&|s| s.penalty),
            grad_norm: parts[0]
                .0
                .grad_norm
                .map(|_| mean(&|s| s.grad_norm.unwrap_or(0.0))),
        })
    }

    /// The generator's loss `−mean D(G(z))`; its gradient stays here
    /// ([`generator_grads`](Self::generator_grads)).
    pub fn generator_step(
        &mut self,
        gen_params: &Params,
        critic_params: &Params,
        z: &Tensor,
        shown: &FakeView<Tensor>,
    ) -> Result<f64> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let gw = host_slices(&gen_locked)?;
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let cw = host_slices(&critic_locked)?;
        let z = z.contiguous()?;
        let (zs, zl) = z.storage_and_layout();
        let z = host_slice(&zs, zl)?;
        let nz = noise_width(z.len(), &self.shards[0])?;
        let b = z.len() / nz;
        let noise = contiguous_noise(shown)?;
        let locked = lock_noise(&noise);
        let gumbel = host_noise(&locked)?;
        let per = gumbel.map_or(0, |(g, _)| g.len() / b);
        // ∂(−mean D(G(z)))/∂G(z) = −∇ₓD/B, B the whole batch's size.
        let scale = -1.0 / b as f32;
        let run = |shard: &mut Shard, r: std::ops::Range<usize>, add: bool| {
            let piece = piece_view(shown.visible, gumbel, per, r.clone());
            let probs = shard
                .generator
                .forward_shown(&gw, &z[r.start * nz..r.end * nz], piece)?;
            let (scores, input_grad) = shard.critic.scores_and_input_grad(&cw, probs)?;
            let sum = scores.iter().map(|&s| s as f64).sum::<f64>();
            let dprobs: Vec<f32> = input_grad.iter().map(|&g| g * scale).collect();
            shard.generator.backward(&gw, &dprobs, add)?;
            Ok(sum)
        };
        let sums = self.each_piece(b, run)?;
        if let Some((first, rest)) = self.shards.split_first_mut() {
            let rest = rest.iter().map(|s| s.generator.grads());
            sum_into_first(first.generator.grads_mut(), rest);
        }
        Ok(-sums.iter().sum::<f64>() / b as f64)
    }
}

/// The noise width of `shard`'s generator, checked against a noise batch of `len` values.
fn noise_width(len: usize, shard: &Shard) -> Result<usize> {
    let nz = shard.generator.noise_dim();
    if len == 0 || !len.is_multiple_of(nz) {
        return Err(Error::Internal(
            "generator step: noise of the wrong size".into(),
        ));
    }
    Ok(nz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::presets::Preset;

    #[test]
    fn small_widths_split_per_thread_and_wide_ones_in_turn() {
        let cpu = Preset::Cpu.values();
        let mut shape = ModelShape::new(80, cpu.dim, cpu.res_blocks, CriticNorm::None);
        assert_eq!(Split::for_shape(&shape, 64, 2), Split::Parallel(2));
        assert_eq!(Split::for_shape(&shape, 64, 1), Split::Parallel(1));
        // Never more pieces than samples.
        assert_eq!(Split::for_shape(&shape, 3, 8), Split::Parallel(3));
        shape.dim = 512;
        assert_eq!(Split::for_shape(&shape, 64, 2), Split::Sequential(2));
        assert_eq!(Split::for_shape(&shape, 65, 2), Split::Sequential(3));
        assert_eq!(Split::for_shape(&shape, 8, 2), Split::Sequential(1));
        // A wide critic alone is enough.
        shape.dim = cpu.dim;
        shape.critic_dim = Some(512);
        assert_eq!(Split::for_shape(&shape, 64, 2), Split::Sequential(2));
    }
}
