//! The optimisers, as PyTorch writes them: Adam (Kingma & Ba; the paper's, β = (0.5, 0.9)) and
//! RMSProp (the original WGAN's, with weight clipping). Their moments are exposed so that a
//! checkpoint can store them and a resumed run continues exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::{host_slice, Real};
use crate::model::params::Params;

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p − lr·m̂/(√v̂ + ε)` (bias-corrected).
    #[default]
    Adam,
    /// `v ← αv + (1−α)g²` with `α = beta2`, `p ← p − lr·g/(√v + ε)` (`beta1` unused).
    RmsProp,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimConfig {
    #[serde(default)]
    pub rule: Rule,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl OptimConfig {
    /// The paper's setting: Adam, lr 1e-4, β = (0.5, 0.9).
    pub fn paper() -> Self {
        OptimConfig {
            rule: Rule::Adam,
            lr: 1e-4,
            beta1: 0.5,
            beta2: 0.9,
            eps: 1e-8,
        }
    }

    /// The original WGAN's: RMSProp, lr 5e-5 (α 0.99, PyTorch's default).
    pub fn wgan() -> Self {
        OptimConfig {
            rule: Rule::RmsProp,
            lr: 5e-5,
            beta1: 0.0,
            beta2: 0.99,
            eps: 1e-8,
        }
    }
}

/// One step's gradients, as the engine that computed them holds them ([`super::engine`]).
pub enum Grads<'a> {
    /// candle's autograd: a gradient per variable.
    Tensors(GradStore),
    /// The hand-written step's host buffers: `grads[j]` is the gradient of parameter
    /// `order[j]`.
    Host {
        order: &'a [usize],
        grads: &'a [Vec<f32>],
    },
}

pub struct Optimizer {
    pub config: OptimConfig,
    params: Params,
    /// First moments (Adam only; zeros and unused for RMSProp, and not saved).
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken so far.
    pub t: u64,
}

impl Optimizer {
    pub fn new(params: &Params, config: OptimConfig) -> Result<Self> {
        let zeros = |p: &Params| -> Result<Vec<Tensor>> {
            p.vars
                .iter()
                .map(|(_, v)| Ok(v.as_tensor().zeros_like()?))
                .collect()
        };
        Ok(Optimizer {
            config,
            params: params.clone(),
            m: zeros(params)?,
            v: zeros(params)?,
            t: 0,
        })
    }

    /// One update from either engine's gradients.
    pub fn apply(&mut self, grads: &Grads) -> Result<()> {
        match grads {
            Grads::Tensors(g) => self.step(g),
            Grads::Host { order, grads } => self.step_host(order, grads),
        }
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let present: Vec<(usize, Tensor)> = (self.params.vars.iter().enumerate())
            .filter_map(|(i, (_, var))| grads.get(var.as_tensor()).map(|g| (i, g.detach())))
            .collect();
        let on_host = |dtype| {
            self.params
                .vars
                .iter()
                .all(|(_, v)| v.device().is_cpu() && v.dtype() == dtype)
                && present
                    .iter()
                    .all(|(_, g)| g.dtype() == dtype && g.is_contiguous())
        };
        if on_host(DType::F32) {
            self.step_from_tensors::<f32>(&present)
        } else if on_host(DType::F64) {
            self.step_from_tensors::<f64>(&present)
        } else {
            self.step_tensor_ops(grads)
        }
    }

    fn step_from_tensors<T: Real>(&mut self, grads: &[(usize, Tensor)]) -> Result<()> {
        let guards: Vec<_> = grads.iter().map(|(_, g)| g.storage_and_layout()).collect();
        let slices = guards
            .iter()
            .map(|(s, l)| host_slice::<T>(s, l))
            .collect::<Result<Vec<_>>>()?;
        let pairs: Vec<(usize, &[T])> = grads.iter().map(|(i, _)| *i).zip(slices).collect();
        self.update_host(&pairs)
    }

    /// The update as candle tensor ops (any device).
    fn step_tensor_ops(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let OptimConfig {
            rule,
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        let bias1 = 1.0 - beta1.powi(self.t as i32);
        let bias2 = 1.0 - beta2.powi(self.t as i32);
        for (i, (_, var)) in self.params.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // A parameter's gradient can still reference the graph it came from (candle
            // detaches only the gradients it propagates further); detached, the moments do not
            // keep every past step's graph alive.
            let g = g.detach();
            let g = &g;
            let v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let update = match rule {
                Rule::Adam => {
                    let m = ((&self.m[i] * beta1)? + (g * (1.0 - beta1))?)?;
                    let denom = (v.affine(1.0 / bias2, 0.0)?.sqrt()? + eps)?;
                    let update = (m.affine(lr / bias1, 0.0)? / denom)?;
                    self.m[i] = m;
                    update
                }
                Rule::RmsProp => (g.affine(lr, 0.0)? / (v.sqrt()? + eps)?)?,
            };
            var.set(&(var.as_tensor().detach() - update)?)?;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The same update from gradients in host memory (the hand-written CPU critic step's):
    /// `grads[j]` is the gradient of parameter `order[j]`.
    pub fn step_host<T: Real>(&mut self, order: &[usize], grads: &[Vec<T>]) -> Result<()> {
        let pairs: Vec<(usize, &[T])> = order
            .iter()
            .copied()
            .zip(grads.iter().map(|g| g.as_slice()))
            .collect();
        self.update_host(&pairs)
    }

    /// The update of parameter `i` by gradient `g` for every `(i, g)`, in one pass each over
    /// host memory (instead of one tensor op per term).
    fn update_host<T: Real>(&mut self, grads: &[(usize, &[T])]) -> Result<()> {
        self.t += 1;
        let c = self.config;
        let bias1 = 1.0 - c.beta1.powi(self.t as i32);
        let bias2 = 1.0 - c.beta2.powi(self.t as i32);
        let f = |x: f64| T::from_f64(x);
        let (beta1, beta2, eps) = (f(c.beta1), f(c.beta2), f(c.eps));
        let (one, step, inv_bias2) = (T::one(), f(c.lr / bias1), f(1.0 / bias2));
        let rms_lr = f(c.lr);
        for &(i, g) in grads {
            let var = &self.params.vars[i].1;
            let shape = var.shape().clone();
            let device = var.device().clone();
            let (p_new, m_new, v_new) = {
                let (p, pl) = var.as_tensor().storage_and_layout();
                let (m, ml) = self.m[i].storage_and_layout();
                let (v, vl) = self.v[i].storage_and_layout();
                let p = host_slice::<T>(&p, pl)?;
                let (m, v) = (host_slice::<T>(&m, ml)?, host_slice::<T>(&v, vl)?);
                if g.len() != p.len() {
                    return Err(Error::Internal(
                        "optimizer: gradient of the wrong size".into(),
                    ));
                }
                // Each output written once, in parallel and in order (no zero-filling first).
                let adam = c.rule == Rule::Adam;
                let update = |j: usize| {
                    let gj = g[j];
                    let vj = beta2 * v[j] + (one - beta2) * gj * gj;
                    let (mj, step) = if adam {
                        let mj = beta1 * m[j] + (one - beta1) * gj;
                        (mj, mj * step / ((vj * inv_bias2).sqrt() + eps))
                    } else {
                        (T::zero(), gj * rms_lr / (vj.sqrt() + eps))
                    };
                    (p[j] - step, (mj, vj))
                };
                let (p_new, (m_new, v_new)): (Vec<T>, (Vec<T>, Vec<T>)) = (0..p.len())
                    .into_par_iter()
                    .with_min_len(1 << 14)
                    .map(update)
                    .unzip();
                (p_new, m_new, v_new)
            };
            var.set(&Tensor::from_vec(p_new, &shape, &device)?)?;
            if c.rule == Rule::Adam {
                self.m[i] = Tensor::from_vec(m_new, &shape, &device)?;
            }
            self.v[i] = Tensor::from_vec(v_new, shape, &device)?;
        }
        Ok(())
    }

    /// Clip every parameter into `[−c, c]` (the original WGAN's critic constraint).
    pub fn clip(&self, c: f64) -> Result<()> {
        for (_, var) in &self.params.vars {
            var.set(&var.as_tensor().clamp(-c, c)?)?;
        }
        Ok(())
    }

    /// Names of the saved moments: `m` and `v` for Adam, `v` for RMSProp.
    fn slots(&self) -> &'static [&'static str] {
        match self.config.rule {
            Rule::Adam => &["m", "v"],
            Rule::RmsProp => &["v"],
        }
    }

    /// The moments as named tensors (`<param>.m`, `<param>.v`) for a checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.vars.iter().enumerate() {
            for &slot in self.slots() {
                let t = if slot == "m" { &self.m[i] } else { &self.v[i] };
                out.insert(format!("{name}.{slot}"), t.clone());
            }
        }
        out
    }

    /// Restore moments saved by [`state_tensors`](Self::state_tensors); `what` names the file
    /// in errors. Every moment must be present, with the parameter's shape.
    pub fn load_state(
        &mut self,
        mut tensors: HashMap<String, Tensor>,
        t: u64,
        what: &std::path::Path,
    ) -> Result<()> {
        let slots = self.slots();
        for (i, (name, var)) in self.params.vars.iter().enumerate() {
            for (suffix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                if !slots.contains(&suffix) {
                    continue;
                }
                let key = format!("{name}.{suffix}");
                *slot = crate::run_dir::tensors::take_checked(
                    &mut tensors,
                    &key,
                    var.as_tensor(),
                    what,
                )?;
            }
        }
        crate::run_dir::tensors::reject_extra(&tensors, what)?;
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::Store;
    use candle_core::{DType, Device};

    /// One parameter `[1.0, −2.0, 0.005]` and an optimiser over it.
    fn setup(config: OptimConfig) -> (Params, Optimizer) {
        let store = Store::new(0, DType::F64, &Device::Cpu);
        let t = Tensor::new(&[1.0f64, -2.0, 0.005], &Device::Cpu).unwrap();
        let pb = store.root();
        pb.zeros("w", 3).unwrap();
        let params = store.into_params();
        params.vars[0].1.set(&t).unwrap();
        let opt = Optimizer::new(&params, config).unwrap();
        (params, opt)
    }

    fn values(p: &Params) -> Vec<f64> {
        p.vars[0].1.as_tensor().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn rmsprop_and_adam_first_steps_on_known_gradients() {
        // Loss Σ g·w with g = (0.5, −0.25, 2): the gradient is g.
        let g = Tensor::new(&[0.5f64, -0.25, 2.0], &Device::Cpu).unwrap();
        for config in [OptimConfig::wgan(), OptimConfig::paper()] {
            let (params, mut opt) = setup(config);
            let before = values(&params);
            let loss = (params.vars[0].1.as_tensor() * &g)
                .unwrap()
                .sum_all()
                .unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            let after = values(&params);
            for i in 0..3 {
                let gi: f64 = [0.5, -0.25, 2.0][i];
                // RMSProp: v = (1 − α)·g², step lr·g/(√v + ε), about lr·sign(g)/0.1.
                // Adam: m̂ = g, v̂ = g², step lr·g/(|g| + ε), about lr·sign(g).
                let expected = match config.rule {
                    Rule::RmsProp => {
                        config.lr * gi / (((1.0 - config.beta2) * gi * gi).sqrt() + config.eps)
                    }
                    Rule::Adam => config.lr * gi / (gi.abs() + config.eps),
                };
                let step = before[i] - after[i];
                assert!(
                    (step - expected).abs() < 1e-9 * expected.abs().max(1e-12) + 1e-12,
                    "{:?} entry {i}: step {step} expected {expected}",
                    config.rule
                );
            }
            // RMSProp keeps no first moment in a checkpoint; Adam keeps both.
            let n = opt.state_tensors().len();
            assert_eq!(n, if config.rule == Rule::Adam { 2 } else { 1 });
        }
    }

    #[test]
    fn host_update_equals_the_tensor_update() {
        let g = [0.5f64, -0.25, 2.0];
        for config in [OptimConfig::wgan(), OptimConfig::paper()] {
            let (p1, mut o1) = setup(config);
            let (p2, mut o2) = setup(config);
            // Three steps, so the moments and bias corrections are exercised too.
            for k in 1..=3 {
                let gk: Vec<f64> = g.iter().map(|x| x * k as f64).collect();
                let gt = Tensor::new(gk.as_slice(), &Device::Cpu).unwrap();
                let loss = (p1.vars[0].1.as_tensor() * &gt).unwrap().sum_all().unwrap();
                o1.step_tensor_ops(&loss.backward().unwrap()).unwrap();
                o2.step_host(&[0], &[gk]).unwrap();
            }
            for (a, b) in values(&p1).iter().zip(values(&p2)) {
                assert!((a - b).abs() < 1e-14, "{:?}: {a} vs {b}", config.rule);
            }
            for (name, t) in o1.state_tensors() {
                let other = &o2.state_tensors()[&name];
                let diff = (t - other).unwrap().abs().unwrap().max_all().unwrap();
                assert!(diff.to_scalar::<f64>().unwrap() < 1e-14, "{name}");
            }
        }
    }

    #[test]
    fn clipping_clamps_every_weight_into_the_bound() {
        let (params, opt) = setup(OptimConfig::wgan());
        opt.clip(0.01).unwrap();
        assert_eq!(values(&params), vec![0.01, -0.01, 0.005]);
    }
}
