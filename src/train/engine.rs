//! The execution path a run's steps take, chosen once when the trainer is built: the
//! hand-written CPU step ([`crate::cpu_step`]) where it applies, candle's autograd
//! ([`crate::model::autograd`]) otherwise. Both compute the same loss and gradients (tested
//! equal in `tests/hand_written.rs`); the trainer applies them the same way whichever ran.

use candle_core::{DType, Device, Tensor};

use super::networks::Networks;
use super::optim::Grads;
use super::settings::RunConfig;
use crate::cpu_step::adapter::{self, HandWritten, Split};
use crate::error::Result;
use crate::kernels::Precision;
use crate::model::penalty::{critic_loss, generator_loss, CriticStats, Penalty};
use crate::model::FakeView;

pub enum Engine {
    /// The hand-written CPU steps, with their buffers.
    HandWritten(Box<HandWritten>),
    /// candle's autograd, and why the hand-written step does not run.
    Autograd { reason: String },
}

impl Engine {
    /// The hand-written step where it applies to `config` on `device` in `dtype`, otherwise
    /// autograd with the reason.
    pub fn choose(
        config: &RunConfig,
        nets: &Networks,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        if let Some(why) = adapter::unsupported(&config.model, device, dtype) {
            return Ok(Engine::autograd(why));
        }
        // Pieces of the batch per thread of the pool (`--threads`), or in turn.
        let threads = rayon::current_num_threads();
        let split = Split::for_shape(&config.model, config.batch, threads);
        let hw = HandWritten::new(
            config.model,
            nets.gen_params(),
            nets.critic_params(),
            split,
            config.precision,
        )?;
        Ok(Engine::HandWritten(Box::new(hw)))
    }

    pub fn autograd(reason: impl Into<String>) -> Self {
        Engine::Autograd {
            reason: reason.into(),
        }
    }

    /// The hand-written step's product precision as this CPU runs it; `None` on autograd.
    pub fn precision(&self) -> Option<Precision> {
        match self {
            Engine::HandWritten(hw) => Some(hw.precision()),
            Engine::Autograd { .. } => None,
        }
    }

    /// Which path this is, and why when it is not the faster one (or not in the precision
    /// `asked` for).
    pub fn describe(&self, asked: Precision) -> String {
        match (self, self.precision()) {
            (Engine::Autograd { reason }, _) => format!("autograd ({reason})"),
            (_, Some(Precision::Bf16)) => "hand-written CPU step, bf16 products".into(),
            _ => match asked.on_this_cpu().1 {
                Some(why) => format!("hand-written CPU step, f32 products ({why})"),
                None => "hand-written CPU step".into(),
            },
        }
    }

    /// The critic loss with `penalty` on a real batch and the fake batch `G(z)` (detached),
    /// and its gradient w.r.t. the critic's parameters (WGAN-GP: Formula 9 of the paper). The
    /// fake is what `shown` says (a length curriculum pads the real batch alike).
    pub fn critic_step(
        &mut self,
        nets: &Networks,
        (real, z, penalty): (&Tensor, &Tensor, &Penalty<Tensor>),
        (lambda, shown): (f64, &FakeView<Tensor>),
    ) -> Result<(CriticStats, Grads<'_>)> {
        match self {
            Engine::HandWritten(hw) => {
                let params = (nets.gen_params(), nets.critic_params());
                // On a pool worker (`rayon::scope`), the step's many small parallel loops are
                // joins inside the pool, not a hand-off from this thread and back each time.
                let stats =
                    rayon::scope(|_| hw.critic_step(params, real, z, penalty, (lambda, shown)))?;
                let grads = Grads::Host {
                    order: &hw.critic_order,
                    grads: hw.critic_grads(),
                };
                Ok((stats, grads))
            }
            Engine::Autograd { .. } => {
                let fake = nets.generator().forward_shown(z, shown)?.detach();
                let loss = critic_loss(nets.critic(), real, &fake, penalty, lambda)?;
                let grads = Grads::Tensors(loss.total.backward()?);
                let stats = CriticStats {
                    loss: scalar(&loss.total)?,
                    wasserstein: scalar(&loss.wasserstein)?,
                    penalty: scalar(&loss.penalty)?,
                    grad_norm: loss.grad_norm.as_ref().map(scalar).transpose()?,
                };
                Ok((stats, grads))
            }
        }
    }

    /// The generator loss `−mean D(G(z))` and its gradient w.r.t. the generator's
    /// parameters, `G(z)` as `shown` says (as in [`critic_step`](Self::critic_step)).
    pub fn generator_step(
        &mut self,
        nets: &Networks,
        z: &Tensor,
        shown: &FakeView<Tensor>,
    ) -> Result<(f64, Grads<'_>)> {
        match self {
            Engine::HandWritten(hw) => {
                let (gp, cp) = (nets.gen_params(), nets.critic_params());
                // On a pool worker, as the critic step.
                let value = rayon::scope(|_| hw.generator_step(gp, cp, z, shown))?;
                let grads = Grads::Host {
                    order: &hw.generator_order,
                    grads: hw.generator_grads(),
                };
                Ok((value, grads))
            }
            Engine::Autograd { .. } => {
                let fake = nets.generator().forward_shown(z, shown)?;
                let loss = generator_loss(nets.critic(), &fake)?;
                Ok((scalar(&loss)?, Grads::Tensors(loss.backward()?)))
            }
        }
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
