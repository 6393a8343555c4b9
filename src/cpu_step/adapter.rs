//! The hand-written steps as the trainer calls them: on the networks' candle parameters (read
//! in place, in the [`Schema`]'s order), their gradients left here for the optimiser. Also the
//! one place that decides whether a run can take this path, and says why not.

use candle_core::{DType, Device, Layout, StorageRef, Tensor};

use super::critic::{CriticStep, StepBatch};
use super::generator::GeneratorStep;
use crate::error::Result;
use crate::kernels::host_slice;
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

/// The hand-written CPU steps of both networks, and where their weights are in each network's
/// parameters.
pub struct HandWritten {
    critic: CriticStep<f32>,
    generator: GeneratorStep<f32>,
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

impl HandWritten {
    /// The steps for networks of `shape` whose parameters are `gen_params` and
    /// `critic_params`. Parameters that differ from their [`Schema`] are an error naming the
    /// tensor (never a quiet fall-back to the slower path).
    pub fn new(shape: ModelShape, gen_params: &Params, critic_params: &Params) -> Result<Self> {
        Ok(HandWritten {
            critic_order: critic_params.positions(&Schema::of(Net::Critic, &shape))?,
            generator_order: gen_params.positions(&Schema::of(Net::Generator, &shape))?,
            critic: CriticStep::new(shape)?,
            generator: GeneratorStep::new(shape),
        })
    }

    /// The critic's gradient of the last [`critic_step`](Self::critic_step), in schema order.
    pub fn critic_grads(&self) -> &[Vec<f32>] {
        self.critic.grads()
    }

    /// The generator's gradient of the last [`generator_step`](Self::generator_step).
    pub fn generator_grads(&self) -> &[Vec<f32>] {
        self.generator.grads()
    }
    /// One critic step on the networks' current weights (generator, critic), with the fake
    /// batch `G(z)` made here; the gradients stay in `self.critic`.
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
        self.critic.step(&w, &batch, strategy, lambda)
    }

    /// The generator's loss `−mean D(G(z))`; its gradient stays in `self.generator`.
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
