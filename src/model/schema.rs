//! The parameter schema of both networks, stated once: every tensor's name, shape and order.
//!
//! The autograd networks ([`super::autograd`]) build their parameters under the names below
//! and are checked against [`Schema::of`] when they are made; the hand-written CPU step
//! ([`crate::cpu_step`]) takes its weights in the schema's order and sizes its buffers from it.
//! A network whose parameters differ from its schema is an error that names the tensor.
//!
//! Order, both networks: the input layer's weight and bias, each residual block's tensors
//! (layer norms first, if any, then `conv1` and `conv2`, weight before bias), the output
//! layer's weight and bias; last, the critic's local branch if it has one (`local.weight`,
//! `(d, 1)`: no bias, which would add the same to every score and cancel in the loss), or the
//! generator's self-attention if it has one (`attention.query.weight`, `attention.key.weight`,
//! `attention.value.weight`, each `(d, d)`), then its autoregressive read-out if it has one
//! (`autoregressive.embed.weight` `(K·V, d)`, `autoregressive.read.weight` `(d, V)`). Weights
//! are stored `(in, out)`; a convolution's `(k·C_in, C_out)`.

use super::{CriticNorm, ModelShape};
use crate::error::{Error, Result};

pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
/// The critic's local branch ([`ModelShape::local_critic`]).
pub const LOCAL: &str = "local";
/// The generator's self-attention ([`ModelShape::attention`]) and its three projections.
pub const ATTENTION: &str = "attention";
pub const QUERY: &str = "query";
pub const KEY: &str = "key";
pub const VALUE: &str = "value";
/// The generator's autoregressive read-out ([`ModelShape::autoregressive`]): the look-back's
/// embedding and the matrix that reads it out.
pub const AUTOREGRESSIVE: &str = "autoregressive";
pub const EMBED: &str = "embed";
pub const READ: &str = "read";
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
    /// Whether the last tensor is the critic's local branch.
    pub local: bool,
    /// Whether the generator has self-attention (three tensors after the output layer).
    pub attention: bool,
    /// Whether the last two tensors are the generator's autoregressive read-out.
    pub readout: bool,
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
                params.extend(dense(&format!("{b}.{conv}"), shape.kernel * d, d));
            }
        }
        params.extend(match net {
            // A 1×1 convolution to the vocabulary's logits.
            Net::Generator => dense(OUTPUT, d, v),
            // Flatten, then one score.
            Net::Critic => dense(OUTPUT, l * d, 1),
        });
        let local = net == Net::Critic && shape.local_critic.is_some();
        if local {
            params.push(spec(LOCAL, WEIGHT, &[d, 1]));
        }
        let attention = net == Net::Generator && shape.attention.is_some();
        if attention {
            for name in [QUERY, KEY, VALUE] {
                params.push(spec(&format!("{ATTENTION}.{name}"), WEIGHT, &[d, d]));
            }
        }
        let readout = net == Net::Generator && shape.autoregressive.is_some();
        if let (true, Some(k)) = (readout, shape.autoregressive) {
            params.push(spec(
                &format!("{AUTOREGRESSIVE}.{EMBED}"),
                WEIGHT,
                &[k * v, d],
            ));
            params.push(spec(&format!("{AUTOREGRESSIVE}.{READ}"), WEIGHT, &[d, v]));
        }
        Schema {
            net,
            params,
            local,
            attention,
            readout,
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

    /// Where each of the schema's tensors is in `have` (names and shapes, any order): exactly
    /// the schema's tensors, or an [`Error::Schema`] naming the first one missing, misshapen
    /// or extra.
    pub fn positions(&self, have: &[(String, Vec<usize>)]) -> Result<Vec<usize>> {
        let net = self.net.name();
        let mut order = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let i = have
                .iter()
                .position(|(n, _)| *n == p.name)
                .ok_or_else(|| Error::Schema(format!("the {net} has no tensor {}", p.name)))?;
            if have[i].1 != p.shape {
                return Err(Error::Schema(format!(
                    "the {net}'s tensor {} has shape {:?}, its schema says {:?}",
                    p.name, have[i].1, p.shape
                )));
            }
            order.push(i);
        }
        if let Some((extra, _)) = have
            .iter()
            .find(|(n, _)| !self.params.iter().any(|p| p.name == *n))
        {
            return Err(Error::Schema(format!(
                "the {net} has a tensor {extra} its schema does not list"
            )));
        }
        Ok(order)
    }

    /// `tensors` (one per parameter, in this schema's order: weights, their gradients, …) by
    /// name: what the hand-written step reads instead of positions.
    pub fn view<E: Copy>(&self, tensors: &[E]) -> Result<NetView<E>> {
        self.view_of(tensors.iter().copied())
    }

    /// [`view`](Self::view) of tensors to write (a step's gradients).
    pub fn view_mut<'a, E>(&self, tensors: &'a mut [E]) -> Result<NetView<&'a mut E>> {
        self.view_of(tensors.iter_mut())
    }

    fn view_of<E>(&self, tensors: impl ExactSizeIterator<Item = E>) -> Result<NetView<E>> {
        if tensors.len() != self.params.len() || self.per_block < CONV_BLOCK_TENSORS {
            return Err(Error::Internal(format!(
                "{} tensors where the {}'s schema has {}",
                tensors.len(),
                self.net.name(),
                self.params.len()
            )));
        }
        let mut it = tensors;
        let missing = || Error::Internal("a schema view ran out of tensors".into());
        let dense = |it: &mut dyn Iterator<Item = E>| -> Result<Dense<E>> {
            let weight = it.next().ok_or_else(missing)?;
            let bias = it.next().ok_or_else(missing)?;
            Ok(Dense { weight, bias })
        };
        let input = dense(&mut it)?;
        let mut blocks = Vec::with_capacity(self.blocks);
        for _ in 0..self.blocks {
            // Layer norms (autograd only) come first in a block; the convolutions last.
            it.by_ref()
                .take(self.per_block - CONV_BLOCK_TENSORS)
                .for_each(drop);
            let conv1 = dense(&mut it)?;
            let conv2 = dense(&mut it)?;
            blocks.push(ConvBlock { conv1, conv2 });
        }
        let output = dense(&mut it)?;
        let local = match self.local {
            true => Some(it.next().ok_or_else(missing)?),
            false => None,
        };
        let attention = match self.attention {
            true => Some(Attention {
                query: it.next().ok_or_else(missing)?,
                key: it.next().ok_or_else(missing)?,
                value: it.next().ok_or_else(missing)?,
            }),
            false => None,
        };
        let readout = match self.readout {
            true => Some(Readout {
                embed: it.next().ok_or_else(missing)?,
                read: it.next().ok_or_else(missing)?,
            }),
            false => None,
        };
        Ok(NetView {
            input,
            blocks,
            output,
            local,
            attention,
            readout,
        })
    }
}

/// A layer's weight `(in, out)` and bias `(out)`: a dense layer's or a convolution's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense<E> {
    pub weight: E,
    pub bias: E,
}

/// A residual block's two convolutions, by name (`conv1` reads the block's input).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvBlock<E> {
    pub conv1: Dense<E>,
    pub conv2: Dense<E>,
}

/// The generator's self-attention projections `(d, d)`, by name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attention<E> {
    pub query: E,
    pub key: E,
    pub value: E,
}

/// The generator's autoregressive read-out: `E` `(K·V, d)` and `M` `(d, V)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Readout<E> {
    pub embed: E,
    pub read: E,
}

/// One network's tensors by name ([`Schema::view`]): the input layer, the residual blocks in
/// order (their convolutions; layer norms are the autograd path's alone), the output layer,
/// the critic's local branch, or the generator's self-attention and autoregressive read-out,
/// if any.
#[derive(Debug, Clone, PartialEq)]
pub struct NetView<E> {
    pub input: Dense<E>,
    pub blocks: Vec<ConvBlock<E>>,
    pub output: Dense<E>,
    pub local: Option<E>,
    pub attention: Option<Attention<E>>,
    pub readout: Option<Readout<E>>,
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
    }

    #[test]
    fn the_generator_schema_has_its_own_input_and_output_shapes() {
        let s = Schema::of(Net::Generator, &shape(CriticNorm::Layer));
        // Layer norm is the critic's only.
        assert_eq!(s.per_block, CONV_BLOCK_TENSORS);
        assert_eq!(s.params[0].shape, [128, 32 * 4]);
        assert_eq!(s.params[s.params.len() - 2].shape, [4, 7]);
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
        let err = |have: &[(String, Vec<usize>)]| match s.positions(have) {
            Err(Error::Schema(e)) => e,
            other => panic!("expected a schema error, got {other:?}"),
        };
        let e = err(&have);
        assert!(e.contains("output.bias has shape [1, 2]"), "{e}");
        have[0].0 = "output.gain".into();
        let e = err(&have);
        assert!(e.contains("has no tensor output.bias"), "{e}");
        have[0] = ("output.bias".into(), vec![1]);
        have.push(("extra.weight".into(), vec![1]));
        let err = err(&have);
        assert!(
            err.contains("extra.weight its schema does not list"),
            "{err}"
        );
    }

    #[test]
    fn a_view_names_every_tensor_of_the_schema_with_or_without_layer_norm() {
        for norm in [CriticNorm::None, CriticNorm::Layer] {
            let s = Schema::of(Net::Critic, &shape(norm));
            let names = s.names();
            let v = s.view(&names).unwrap();
            assert_eq!(
                (v.input.weight, v.input.bias),
                ("input.weight", "input.bias")
            );
            assert_eq!(v.blocks.len(), 2);
            for (i, b) in v.blocks.iter().enumerate() {
                assert_eq!(b.conv1.weight, format!("blocks.{i}.conv1.weight"));
                assert_eq!(b.conv1.bias, format!("blocks.{i}.conv1.bias"));
                assert_eq!(b.conv2.weight, format!("blocks.{i}.conv2.weight"));
                assert_eq!(b.conv2.bias, format!("blocks.{i}.conv2.bias"));
            }
            assert_eq!(
                (v.output.weight, v.output.bias),
                ("output.weight", "output.bias")
            );
            // Writing through the mutable view reaches the tensor it names.
            let mut sizes = s.sizes();
            *s.view_mut(&mut sizes).unwrap().blocks[1].conv2.bias = 0;
            let at = names
                .iter()
                .position(|n| *n == "blocks.1.conv2.bias")
                .unwrap();
            assert_eq!(sizes[at], 0);
            // A list of another length is a bug, said as one.
            assert!(matches!(s.view(&names[1..]), Err(Error::Internal(_))));
        }
    }
}
