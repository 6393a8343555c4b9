//! The generator's self-attention layer (`--attention N`; not in the paper): every position
//! reads every other one, weighted by content, as in SAGAN (Zhang et al. 2019) and the
//! Transformer's scaled dot-product attention (Vaswani et al. 2017, eq. 1), one head, in a
//! residual branch like the convolutions':
//!
//! `h ← h + s · softmax(Q Kᵀ / √d) V`, `Q = h W_q`, `K = h W_k`, `V = h W_v`, per sample,
//! s = [`RESIDUAL_SCALE`].
//!
//! A convolution of width `k` sees `(k − 1)/2` characters either side; after the attention every position
//! can read what the generator is writing anywhere in the sequence. No biases: a key's bias
//! adds the same to a row of scores (the softmax cancels it), and the rows of the softmax sum
//! to 1, so a value's bias would be a bias on `h`, which the next convolution has.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::model::params::ParamBuilder;
use crate::model::schema::{KEY, QUERY, VALUE, WEIGHT};
use crate::model::RESIDUAL_SCALE;

#[derive(Debug, Clone)]
pub struct SelfAttention {
    /// `W_q`, `W_k`, `W_v`, each `(d, d)`.
    pub query: Tensor,
    pub key: Tensor,
    pub value: Tensor,
}

impl SelfAttention {
    pub fn new(pb: &ParamBuilder, dim: usize) -> Result<Self> {
        // Glorot's scale, as the paper's dense layers.
        let stdev = (2.0 / (2 * dim) as f64).sqrt();
        let weight = |name: &str| pb.pp(name).uniform(WEIGHT, (dim, dim), stdev);
        Ok(SelfAttention {
            query: weight(QUERY)?,
            key: weight(KEY)?,
            value: weight(VALUE)?,
        })
    }

    /// `h` `(B, L, d)` → `h + s·softmax(Q Kᵀ/√d) V`, the same shape.
    pub fn forward(&self, h: &Tensor) -> Result<Tensor> {
        let (b, l, d) = h.dims3()?;
        let rows = h.reshape((b * l, d))?;
        let project = |w: &Tensor| -> Result<Tensor> { Ok(rows.matmul(w)?.reshape((b, l, d))?) };
        let (q, k, v) = (
            project(&self.query)?,
            project(&self.key)?,
            project(&self.value)?,
        );
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let read = weights.matmul(&v)?;
        Ok((h + read.affine(RESIDUAL_SCALE, 0.0)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn layer(dim: usize, seed: u64) -> SelfAttention {
        let store = crate::model::params::Store::new(seed, DType::F64, &Device::Cpu);
        SelfAttention::new(&store.root(), dim).unwrap()
    }

    fn input(b: usize, l: usize, d: usize) -> Tensor {
        let v: Vec<f64> = (0..b * l * d)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        Tensor::from_vec(v, (b, l, d), &Device::Cpu).unwrap()
    }

    #[test]
    fn every_position_reads_the_whole_sequence_and_samples_stay_apart() {
        // A change at the first position of sample 0 moves the last position of sample 0
        // (a width-5 convolution would not reach it), and nothing of sample 1.
        let (l, d) = (12, 4);
        let a = layer(d, 1);
        let h = input(2, l, d);
        let mut v = h.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        v[0] += 1.0;
        let moved = Tensor::from_vec(v, (2, l, d), &Device::Cpu).unwrap();
        let diff = (a.forward(&moved).unwrap() - a.forward(&h).unwrap())
            .unwrap()
            .abs()
            .unwrap();
        let at = |s: usize, t: usize| {
            diff.get(s)
                .unwrap()
                .get(t)
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        assert!(
            at(0, l - 1) > 1e-6,
            "the last position did not see the first"
        );
        assert_eq!((0..l).map(|t| at(1, t)).fold(0.0, f64::max), 0.0);
    }

    #[test]
    fn with_zero_values_the_layer_is_the_identity() {
        let mut a = layer(4, 2);
        a.value = a.value.zeros_like().unwrap();
        let h = input(3, 7, 4);
        let out = a.forward(&h).unwrap();
        let diff = (out - &h).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f64>().unwrap(), 0.0);
    }
}
