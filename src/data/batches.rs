//! What a training step draws: real batches in the epoch-by-epoch shuffled order of the
//! training lines (as the paper's data iterator), as one-hot `(B, L, V)`, and Gaussian noise.
//! All of it is drawn on the CPU from seeded ChaCha8 streams, so it is the same on every device.

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::corpus::SEQ_LEN;
use crate::error::Result;
use crate::streams::Stream;

/// The epoch-by-epoch shuffled order of training lines; `(epoch, pos)` is all a checkpoint
/// needs to continue it.
#[derive(Debug, Clone)]
pub struct DataOrder {
    seed: u64,
    pub epoch: u64,
    pub pos: usize,
    perm: Vec<usize>,
}

impl DataOrder {
    pub fn new(seed: u64, n: usize, epoch: u64, pos: usize) -> Self {
        let mut d = DataOrder {
            seed,
            epoch,
            pos,
            perm: (0..n).collect(),
        };
        d.shuffle();
        d
    }

    fn shuffle(&mut self) {
        self.perm.sort_unstable();
        let mut rng = Stream::DataOrder { epoch: self.epoch }.rng(self.seed);
        self.perm.shuffle(&mut rng);
    }

    /// The indices of the next `b` lines, starting a new epoch (a new order) when one ends.
    pub fn next_batch(&mut self, b: usize) -> Vec<usize> {
        (0..b)
            .map(|_| {
                if self.pos >= self.perm.len() {
                    self.epoch += 1;
                    self.pos = 0;
                    self.shuffle();
                }
                self.pos += 1;
                self.perm[self.pos - 1]
            })
            .collect()
    }
}

/// The lines `idx` of `ids` as one-hot rows `(B, L, V)`.
pub fn one_hot(
    ids: &[[u32; SEQ_LEN]],
    idx: &[usize],
    vocab: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut data = vec![0f32; idx.len() * SEQ_LEN * vocab];
    for (row, &i) in idx.iter().enumerate() {
        for (pos, &tok) in ids[i].iter().enumerate() {
            data[(row * SEQ_LEN + pos) * vocab + tok as usize] = 1.0;
        }
    }
    Ok(
        Tensor::from_vec(data, (idx.len(), SEQ_LEN, vocab), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?,
    )
}

/// `b` standard-normal noise vectors, drawn on the CPU (the same on every device).
pub fn noise(
    rng: &mut ChaCha8Rng,
    b: usize,
    dim: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<f32> = (0..b * dim).map(|_| rng.sample(StandardNormal)).collect();
    Ok(Tensor::from_vec(v, (b, dim), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// `b` uniform mixing weights in `[0, 1)`.
pub fn uniform(rng: &mut ChaCha8Rng, b: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let eps: Vec<f32> = (0..b).map(|_| rng.random::<f32>()).collect();
    Ok(Tensor::from_vec(eps, b, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}
