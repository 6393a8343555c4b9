//! The parameter schema of both networks, stated once: every tensor's name, shape and order.
//!
//! The autograd networks ([`super::autograd`]) build their parameters under the names below
//! and are checked against [`Schema::of`] when they are made; the hand-written CPU step
//! ([`crate::cpu_step`]) takes its weights in the schema's order and sizes its buffers from it.
//! A network whose parameters differ from its schema is an error that names the tensor.
//!
//! Order, both networks: the input layer's weight and bias, each residual block's tensors
//! (layer norms first, if any, then `conv1` and `conv2`, weight before bias), the output
//! layer's weight and bias. Weights are stored `(in, out)`; a convolution's `(k·C_in, C_out)`.

use std::ops::Range;

use super::{CriticNorm, ModelShape, KERNEL};

pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
pub const CONV1: &str = "conv1";
pub const CONV2: &str = "conv2";
pub const NORM1: &str = "norm1";
pub const NORM2: &str = "norm2";
pub const WEIGHT: &str = "weight";
pub const BIAS: &str = "bias";
/// A layer norm's scale.
pub const GAIN: &str = "gain";

/// The name prefix of residual block `i`.
pub fn block(i: usize) -> String {
    format!("blocks.{i}")
}

/// Tensors of a residual block without normalisation: the two convolutions' weight and bias.
pub const CONV_BLOCK_TENSORS: usize = 4;

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Generator,
    Critic,
}

impl Net {
    pub fn name(self) -> &'static str {
        match self {
            Net::Generator => "generator",
            Net::Critic => "critic",
        }
    }
}

/// One parameter tensor: its full name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamSpec {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Every parameter of one network, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub net: Net,
    pub params: Vec<ParamSpec>,
    /// Residual blocks, and tensors in each.
    pub blocks: usize,
    pub per_block: usize,
}

fn spec(prefix: &str, name: &str, shape: &[usize]) -> ParamSpec {
    ParamSpec {
        name: format!("{prefix}.{name}"),
        shape: shape.to_vec(),
    }
}

/// A dense layer's (or a convolution's) weight `(fan_in, out)` and bias `(out)`.
fn dense(prefix: &str, fan_in: usize, out: usize) -> [ParamSpec; 2] {
    [
        spec(prefix, WEIGHT, &[fan_in, out]),
        spec(prefix, BIAS, &[out]),
    ]
}

impl Schema {
    /// The schema of `net` for `shape`.
    pub fn of(net: Net, shape: &ModelShape) -> Self {
        let (l, v) = (shape.seq_len, shape.vocab);
        let d = match net {
            Net::Generator => shape.dim,
            Net::Critic => shape.critic_width(),
        };
        let layer_norm = net == Net::Critic && shape.critic_norm == CriticNorm::Layer;
        let mut params = Vec::new();
        params.extend(match net {
            Net::Generator => dense(INPUT, shape.noise_dim, l * d),
            // A 1×1 convolution from the one-hot input.
            Net::Critic => dense(INPUT, v, d),
        });
        for i in 0..shape.res_blocks {
            let b = block(i);
            if layer_norm {
                for norm in [NORM1, NORM2] {
                    let p = format!("{b}.{norm}");
                    params.push(spec(&p, GAIN, &[d]));
                    params.push(spec(&p, BIAS, &[d]));
                }
            }
            for conv in [CONV1, CONV2] {
                params.extend(dense(&format!("{b}.{conv}"), KERNEL * d, d));
            }
        }
        params.extend(match net {
            // A 1×1 convolution to the vocabulary's logits.
            Net::Generator => dense(OUTPUT, d, v),
            // Flatten, then one score.
            Net::Critic => dense(OUTPUT, l * d, 1),
        });
        Schema {
            net,
            params,
            blocks: shape.res_blocks,
            per_block: if layer_norm {
                CONV_BLOCK_TENSORS + 4
            } else {
                CONV_BLOCK_TENSORS
            },
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// Element counts, in order.
    pub fn sizes(&self) -> Vec<usize> {
        self.params.iter().map(ParamSpec::size).collect()
    }

    /// Position of the input layer's weight (its bias follows).
    pub const INPUT_WEIGHT: usize = 0;

    /// Positions of the residual blocks' tensors.
    pub fn stack(&self) -> Range<usize> {
        2..2 + self.per_block * self.blocks
    }

    /// Position of the output layer's weight (its bias follows).
    pub fn output_weight(&self) -> usize {
        self.stack().end
    }

    /// Where each of the schema's tensors is in `have` (names and shapes, any order): exactly
    /// the schema's tensors, or an error naming the first one missing, misshapen or extra.
    pub fn positions(&self, have: &[(String, Vec<usize>)]) -> Result<Vec<usize>, String> {
        let net = self.net.name();
        let mut order = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let i = have
                .iter()
                .position(|(n, _)| *n == p.name)
                .ok_or_else(|| format!("the {net} has no tensor {}", p.name))?;
            if have[i].1 != p.shape {
                return Err(format!(
                    "the {net}'s tensor {} has shape {:?}, its schema says {:?}",
                    p.name, have[i].1, p.shape
                ));
            }
            order.push(i);
        }
        if let Some((extra, _)) = have
            .iter()
            .find(|(n, _)| !self.params.iter().any(|p| p.name == *n))
        {
            return Err(format!(
                "the {net} has a tensor {extra} its schema does not list"
            ));
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(norm: CriticNorm) -> ModelShape {
        ModelShape::new(7, 4, 2, norm)
    }

    #[test]
    fn the_critic_schema_lists_input_blocks_output_in_order() {
        let s = Schema::of(Net::Critic, &shape(CriticNorm::None));
        assert_eq!(
            s.names(),
            [
                "input.weight",
                "input.bias",
                "blocks.0.conv1.weight",
                "blocks.0.conv1.bias",
                "blocks.0.conv2.weight",
                "blocks.0.conv2.bias",
                "blocks.1.conv1.weight",
                "blocks.1.conv1.bias",
                "blocks.1.conv2.weight",
                "blocks.1.conv2.bias",
                "output.weight",
                "output.bias",
            ]
        );
        assert_eq!(s.sizes(), [28, 4, 80, 4, 80, 4, 80, 4, 80, 4, 128, 1]);
        assert_eq!((s.stack(), s.output_weight()), (2..10, 10));
    }

    #[test]
    fn the_generator_schema_has_its_own_input_and_output_shapes() {
        let s = Schema::of(Net::Generator, &shape(CriticNorm::Layer));
        // Layer norm is the critic's only.
        assert_eq!(s.per_block, CONV_BLOCK_TENSORS);
        assert_eq!(s.params[0].shape, [128, 32 * 4]);
        assert_eq!(s.params[s.output_weight()].shape, [4, 7]);
        let c = Schema::of(Net::Critic, &shape(CriticNorm::Layer));
        assert_eq!(c.per_block, 8);
        assert_eq!(c.params[2].name, "blocks.0.norm1.gain");
    }

    #[test]
    fn positions_name_the_missing_misshapen_or_extra_tensor() {
        let s = Schema::of(Net::Critic, &shape(CriticNorm::None));
        let mut have: Vec<(String, Vec<usize>)> = s
            .params
            .iter()
            .rev()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect();
        let n = have.len();
        assert_eq!(
            s.positions(&have).unwrap(),
            (0..n).rev().collect::<Vec<_>>()
        );
        have[0].1 = vec![1, 2];
        let err = s.positions(&have).unwrap_err();
        assert!(err.contains("output.bias has shape [1, 2]"), "{err}");
        have[0].0 = "output.gain".into();
        let err = s.positions(&have).unwrap_err();
        assert!(err.contains("has no tensor output.bias"), "{err}");
        have[0] = ("output.bias".into(), vec![1]);
        have.push(("extra.weight".into(), vec![1]));
        let err = s.positions(&have).unwrap_err();
        assert!(
            err.contains("extra.weight its schema does not list"),
            "{err}"
        );
    }
}
