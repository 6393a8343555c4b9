//! Named, seeded parameters. Like candle-nn's `VarBuilder` over a `VarMap`, but the initial
//! values come from our own seeded RNG on the CPU, so a seed gives the same model on every
//! device, and the variables keep a fixed order (for the optimizer and for checkpoints).

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::schema::Schema;
use crate::error::{Error, Result};

/// The variables of one network, in creation order.
#[derive(Debug, Clone)]
pub struct Params {
    pub vars: Vec<(String, Var)>,
}

impl Params {
    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Names and shapes, in order.
    pub fn specs(&self) -> Vec<(String, Vec<usize>)> {
        self.vars
            .iter()
            .map(|(n, v)| (n.clone(), v.dims().to_vec()))
            .collect()
    }

    /// Where each of `schema`'s tensors is in these parameters; an error names the tensor
    /// that is missing, misshapen or extra.
    pub fn positions(&self, schema: &Schema) -> Result<Vec<usize>> {
        schema.positions(&self.specs())
    }

    /// These parameters are exactly `schema`'s, in its order.
    pub fn check(&self, schema: &Schema) -> Result<()> {
        let order = self.positions(schema)?;
        match order.iter().enumerate().find(|(j, &i)| *j != i) {
            Some((j, _)) => Err(Error::Schema(format!(
                "the {}'s tensor {} is out of its schema's order",
                schema.net.name(),
                schema.params[j].name
            ))),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Creates parameters under a name prefix (`blocks.0.conv1.weight`, ...).
pub struct ParamBuilder<'a> {
    store: &'a Store,
    prefix: String,
}

/// Shared state of a [`ParamBuilder`] tree.
pub struct Store {
    vars: RefCell<Vec<(String, Var)>>,
    rng: RefCell<ChaCha8Rng>,
    pub dtype: DType,
    pub device: Device,
}

impl Store {
    pub fn new(seed: u64, dtype: DType, device: &Device) -> Self {
        Store {
            vars: RefCell::new(Vec::new()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            dtype,
            device: device.clone(),
        }
    }

    pub fn root(&self) -> ParamBuilder<'_> {
        ParamBuilder {
            store: self,
            prefix: String::new(),
        }
    }

    pub fn into_params(self) -> Params {
        Params {
            vars: self.vars.into_inner(),
        }
    }
}

impl ParamBuilder<'_> {
    /// A builder whose names start with `self.prefix` + `name.`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        ParamBuilder {
            store: self.store,
            prefix: format!("{}{}.", self.prefix, name),
        }
    }

    pub fn dtype(&self) -> DType {
        self.store.dtype
    }

    /// A variable drawn from U(-stdev·√3, stdev·√3), i.e. with standard deviation `stdev`
    /// (the initialisation of the paper's `tflib`).
    pub fn uniform(&self, name: &str, shape: (usize, usize), stdev: f64) -> Result<Tensor> {
        let bound = stdev * 3f64.sqrt();
        let n = shape.0 * shape.1;
        let values: Vec<f64> = {
            let mut rng = self.store.rng.borrow_mut();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        };
        let t = Tensor::from_vec(values, shape, &Device::Cpu)?;
        self.register(name, t)
    }

    pub fn ones(&self, name: &str, len: usize) -> Result<Tensor> {
        self.register(name, Tensor::ones(len, DType::F64, &Device::Cpu)?)
    }

    pub fn zeros(&self, name: &str, len: usize) -> Result<Tensor> {
        self.register(name, Tensor::zeros(len, DType::F64, &Device::Cpu)?)
    }

    fn register(&self, name: &str, t: Tensor) -> Result<Tensor> {
        let t = t
            .to_dtype(self.store.dtype)?
            .to_device(&self.store.device)?;
        let var = Var::from_tensor(&t)?;
        let tensor = var.as_tensor().clone();
        self.store
            .vars
            .borrow_mut()
            .push((format!("{}{}", self.prefix, name), var));
        Ok(tensor)
    }
}
