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
use crate::model::penalty::{CriticStats, Lipschitz, Mix};
use crate::model::schema::{Net, Schema};
use crate::model::{CriticNorm, ModelShape};

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

/// The hand-written CPU steps of both networks, and where their weights are in each network's
/// parameters.
///
/// Every term of both losses is a mean over the batch's samples of something that depends on
/// one sample only (the penalty too: Formula 9's norm is per sample), so the batch is split
/// into one shard per thread, each shard runs the whole step on its own thread with
/// single-threaded kernels ([`kernels::serial`]), and the gradients are the shards' weighted
/// sum. At the `cpu` preset's width the products are too small to split well one by one: most
/// of a split product's time went to handing work between threads.
pub struct HandWritten {
    shards: Vec<Shard>,
    /// The products' input precision, as this CPU runs it.
    precision: Precision,
    /// The summed gradients (with more than one shard), in schema order.
    critic_sum: Vec<Vec<f32>>,
    generator_sum: Vec<Vec<f32>>,
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

/// The samples of shard `i` of `n` in a batch of `b`: as equal as they come.
fn shard_range(b: usize, n: usize, i: usize) -> std::ops::Range<usize> {
    b * i / n..b * (i + 1) / n
}

/// `run(i, shard)` for every shard, each on a thread of the pool (in place when there is one),
/// the results in shard order.
fn on_shards<R: Send>(
    shards: &mut [Shard],
    run: impl Fn(usize, &mut Shard) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    match shards {
        [one] => Ok(vec![run(0, one)?]),
        _ => shards
            .par_iter_mut()
            .enumerate()
            .map(|(i, shard)| run(i, shard))
            .collect(),
    }
}

/// `sum ← Σ_s coef_s · grads_s` over the shards' gradients.
fn weighted_sum<'a>(sum: &mut Vec<Vec<f32>>, parts: impl Iterator<Item = (&'a [Vec<f32>], f32)>) {
    for (s, (grads, coef)) in parts.enumerate() {
        sum.resize(grads.len(), Vec::new());
        for (acc, g) in sum.iter_mut().zip(grads) {
            if s == 0 {
                acc.clear();
                acc.extend(g.iter().map(|&x| coef * x));
            } else {
                acc.iter_mut().zip(g).for_each(|(a, &x)| *a += coef * x);
            }
        }
    }
}

impl HandWritten {
    /// The steps for networks of `shape` whose parameters are `gen_params` and
    /// `critic_params`, the batch split into `shards` (one per thread that will run them).
    /// Parameters that differ from their [`Schema`] are an error naming the tensor (never a
    /// quiet fall-back to the slower path).
    pub fn new(
        shape: ModelShape,
        gen_params: &Params,
        critic_params: &Params,
        shards: usize,
        precision: Precision,
    ) -> Result<Self> {
        let shards = (0..shards.max(1))
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
            precision: precision.on_this_cpu().0,
            critic_sum: Vec::new(),
            generator_sum: Vec::new(),
        })
    }

    /// The precision the products run in (bf16 only where the CPU has it).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The critic's gradient of the last [`critic_step`](Self::critic_step), in schema order.
    pub fn critic_grads(&self) -> &[Vec<f32>] {
        match self.shards.as_slice() {
            [one] => one.critic.grads(),
            _ => &self.critic_sum,
        }
    }

    /// The generator's gradient of the last [`generator_step`](Self::generator_step).
    pub fn generator_grads(&self) -> &[Vec<f32>] {
        match self.shards.as_slice() {
            [one] => one.generator.grads(),
            _ => &self.generator_sum,
        }
    }

    /// One critic step on the networks' current weights (generator, critic), with the fake
    /// batch `G(z)` made here; the gradients stay here ([`critic_grads`](Self::critic_grads)).
    pub fn critic_step(
        &mut self,
        (gen_params, critic_params): (&Params, &Params),
        real: &Tensor,
        z: &Tensor,
        mix: &Mix,
        strategy: Lipschitz,
        lambda: f64,
    ) -> Result<CriticStats> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let gw = host_slices(&gen_locked)?;
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let cw = host_slices(&critic_locked)?;
        // (`contiguous` is free on these, which are already.)
        let (real, z, eps) = (real.contiguous()?, z.contiguous()?, mix.eps.contiguous()?);
        let eps2 = mix.eps2.as_ref().map(Tensor::contiguous).transpose()?;
        let (rs, rl) = real.storage_and_layout();
        let (zs, zl) = z.storage_and_layout();
        let (es, el) = eps.storage_and_layout();
        let e2 = eps2.as_ref().map(Tensor::storage_and_layout);
        let (real, z, eps) = (
            host_slice(&rs, rl)?,
            host_slice(&zs, zl)?,
            host_slice(&es, el)?,
        );
        let eps2 = match &e2 {
            Some((s, l)) => Some(host_slice(s, l)?),
            None => None,
        };
        let b = eps.len();
        if b == 0 || real.len() % b != 0 || z.len() % b != 0 {
            return Err(Error::Runtime(
                "critic step: batch sizes do not match".into(),
            ));
        }
        let (per, nz, n) = (real.len() / b, z.len() / b, self.shards.len());
        let precision = self.precision;
        let run = |i: usize, shard: &mut Shard| {
            let r = shard_range(b, n, i);
            kernels::serial(precision, || {
                let fake = shard.generator.forward(&gw, &z[r.start * nz..r.end * nz])?;
                let batch = StepBatch {
                    real: &real[r.start * per..r.end * per],
                    fake,
                    eps: &eps[r.clone()],
                    eps2: eps2.map(|e| &e[r.clone()]),
                };
                let stats = shard.critic.step(&cw, &batch, strategy, lambda)?;
                Ok((stats, r.len() as f64 / b as f64))
            })
        };
        let parts = on_shards(&mut self.shards, run)?;
        if n > 1 {
            let grads = self.shards.iter().map(|s| s.critic.grads());
            let coefs = parts.iter().map(|(_, w)| *w as f32);
            weighted_sum(&mut self.critic_sum, grads.zip(coefs));
        }
        // Each shard's numbers are means over its samples: their mean weighted by its share.
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
    ) -> Result<f64> {
        let gen_locked = lock_params(gen_params, &self.generator_order);
        let gw = host_slices(&gen_locked)?;
        let critic_locked = lock_params(critic_params, &self.critic_order);
        let cw = host_slices(&critic_locked)?;
        let z = z.contiguous()?;
        let (zs, zl) = z.storage_and_layout();
        let z = host_slice(&zs, zl)?;
        let (n, precision) = (self.shards.len(), self.precision);
        let nz = noise_width(z.len(), &self.shards[0])?;
        let b = z.len() / nz;
        // ∂(−mean D(G(z)))/∂G(z) = −∇ₓD/B, B the whole batch's size.
        let scale = -1.0 / b as f32;
        let run = |i: usize, shard: &mut Shard| {
            let r = shard_range(b, n, i);
            kernels::serial(precision, || {
                let probs = shard.generator.forward(&gw, &z[r.start * nz..r.end * nz])?;
                let (scores, input_grad) = shard.critic.scores_and_input_grad(&cw, probs)?;
                let sum = scores.iter().map(|&s| s as f64).sum::<f64>();
                let dprobs: Vec<f32> = input_grad.iter().map(|&g| g * scale).collect();
                shard.generator.backward(&gw, &dprobs)?;
                Ok(sum)
            })
        };
        let sums = on_shards(&mut self.shards, run)?;
        if n > 1 {
            let grads = self.shards.iter().map(|s| s.generator.grads());
            weighted_sum(&mut self.generator_sum, grads.zip(std::iter::repeat(1.0)));
        }
        Ok(-sums.iter().sum::<f64>() / b as f64)
    }
}

/// The noise width of `shard`'s generator, checked against a noise batch of `len` values.
fn noise_width(len: usize, shard: &Shard) -> Result<usize> {
    let nz = shard.generator.noise_dim();
    if len == 0 || !len.is_multiple_of(nz) {
        return Err(Error::Runtime(
            "generator step: noise of the wrong size".into(),
        ));
    }
    Ok(nz)
}
