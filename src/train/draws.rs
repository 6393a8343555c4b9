//! What training draws, in the order it draws it: real batches in the data order
//! ([`Stream::DataOrder`]), and noise and mixing weights from the training stream
//! ([`Stream::Training`]). A checkpoint saves [`Draws::position`]; `--resume` restores it, so
//! a resumed run draws exactly what an uninterrupted one would.

use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use crate::data::batches::{self, DataOrder};
use crate::data::corpus::SEQ_LEN;
use crate::error::Result;
use crate::model::penalty::{Lipschitz, Penalty};
use crate::streams::Stream;

/// Where the training draws are: enough to continue them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawPosition {
    /// The training stream's word position.
    pub word_pos: u128,
    /// The data order's epoch and position within it.
    pub epoch: u64,
    pub pos: usize,
}

pub struct Draws {
    seed: u64,
    training: ChaCha8Rng,
    data: DataOrder,
    /// The training lines, encoded.
    lines: Vec<[u32; SEQ_LEN]>,
    vocab: usize,
    noise_dim: usize,
    dtype: DType,
    device: Device,
}

impl Draws {
    /// The draws of a new run with `seed` over the encoded training `lines`.
    pub fn new(
        seed: u64,
        lines: Vec<[u32; SEQ_LEN]>,
        (vocab, noise_dim): (usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Self {
        Draws {
            seed,
            training: Stream::Training.rng(seed),
            data: DataOrder::new(seed, lines.len(), 0, 0),
            lines,
            vocab,
            noise_dim,
            dtype,
            device: device.clone(),
        }
    }

    /// The number of training lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// The next `b` training lines as one-hot `(B, L, V)`.
    pub fn real_batch(&mut self, b: usize) -> Result<Tensor> {
        self.real_batch_of(b, SEQ_LEN)
    }

    /// [`real_batch`](Self::real_batch) with the positions from `visible` on padding (a length
    /// curriculum).
    pub fn real_batch_of(&mut self, b: usize, visible: usize) -> Result<Tensor> {
        let idx = self.data.next_batch(b);
        let on = (self.dtype, &self.device);
        batches::one_hot(&self.lines, &idx, self.vocab, visible, on)
    }

    /// `b` noise vectors from the training stream.
    pub fn noise(&mut self, b: usize) -> Result<Tensor> {
        let (dim, dtype) = (self.noise_dim, self.dtype);
        batches::noise(&mut self.training, b, dim, dtype, &self.device)
    }

    /// Gumbel noise `(b, L, V)` from the training stream (`--gumbel`).
    pub fn gumbel(&mut self, b: usize) -> Result<Tensor> {
        let shape = (b, SEQ_LEN, self.vocab);
        batches::gumbel(&mut self.training, shape, (self.dtype, &self.device))
    }

    /// `strategy`'s penalty with the mixing weights it needs for `b` samples, from the
    /// training stream ([`Penalty::draw`] says in which order).
    pub fn penalty(&mut self, strategy: Lipschitz, b: usize) -> Result<Penalty<Tensor>> {
        Penalty::draw(strategy, || self.uniform(b))
    }

    /// `b` uniform weights from the training stream (one point per sample).
    pub fn uniform(&mut self, b: usize) -> Result<Tensor> {
        batches::uniform(&mut self.training, b, self.dtype, &self.device)
    }

    pub fn position(&self) -> DrawPosition {
        DrawPosition {
            word_pos: self.training.get_word_pos(),
            epoch: self.data.epoch,
            pos: self.data.pos,
        }
    }

    /// Continue from a saved position (the caller has checked `pos` against the lines).
    pub fn restore(&mut self, at: DrawPosition) {
        self.training = Stream::Training.rng_at(self.seed, at.word_pos);
        self.data = DataOrder::new(self.seed, self.lines.len(), at.epoch, at.pos);
    }
}
