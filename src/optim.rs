//! Adam (Kingma & Ba), as PyTorch writes it, with its moments exposed so that a checkpoint
//! can store them and a resumed run continues exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::error::Result;
use crate::nn::params::Params;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl AdamConfig {
    /// The paper's setting: lr 1e-4, β = (0.5, 0.9).
    pub fn paper() -> Self {
        AdamConfig {
            lr: 1e-4,
            beta1: 0.5,
            beta2: 0.9,
            eps: 1e-8,
        }
    }
}

pub struct Adam {
    pub config: AdamConfig,
    params: Params,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken so far.
    pub t: u64,
}

impl Adam {
    pub fn new(params: &Params, config: AdamConfig) -> Result<Self> {
        let zeros = |p: &Params| -> Result<Vec<Tensor>> {
            p.vars
                .iter()
                .map(|(_, v)| Ok(v.as_tensor().zeros_like()?))
                .collect()
        };
        Ok(Adam {
            config,
            params: params.clone(),
            m: zeros(params)?,
            v: zeros(params)?,
            t: 0,
        })
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdamConfig {
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
            let m = ((&self.m[i] * beta1)? + (g * (1.0 - beta1))?)?;
            let v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let denom = (v.affine(1.0 / bias2, 0.0)?.sqrt()? + eps)?;
            let update = (m.affine(lr / bias1, 0.0)? / denom)?;
            var.set(&(var.as_tensor().detach() - update)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moments as named tensors (`<param>.m`, `<param>.v`) for a checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.vars.iter().enumerate() {
            out.insert(format!("{name}.m"), self.m[i].clone());
            out.insert(format!("{name}.v"), self.v[i].clone());
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
        for (i, (name, var)) in self.params.vars.iter().enumerate() {
            for (suffix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{name}.{suffix}");
                *slot = crate::checkpoint::take_checked(&mut tensors, &key, var.as_tensor(), what)?;
            }
        }
        crate::checkpoint::reject_extra(&tensors, what)?;
        self.t = t;
        Ok(())
    }
}
