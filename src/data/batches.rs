//! What a training step draws: real batches in the epoch-by-epoch shuffled order of the
//! training lines (as the paper's data iterator), as one-hot `(B, L, V)`, and Gaussian noise.
//! All of it is drawn on the CPU from seeded ChaCha8 streams, so it is the same on every device.

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::corpus::SEQ_LEN;
use super::vocab::PAD;
use crate::error::{Error, Result};
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

/// The lines `idx` of `ids` as one-hot rows `(B, L, V)`, the positions from `visible` on
/// padding (a length curriculum, [`curriculum_length`]; `SEQ_LEN`: the whole lines).
pub fn one_hot(
    ids: &[[u32; SEQ_LEN]],
    idx: &[usize],
    vocab: usize,
    visible: usize,
    (dtype, device): (DType, &Device),
) -> Result<Tensor> {
    let mut data = vec![0f32; idx.len() * SEQ_LEN * vocab];
    for (row, &i) in idx.iter().enumerate() {
        for (pos, &tok) in ids[i].iter().enumerate() {
            let tok = if pos < visible { tok } else { PAD };
            data[(row * SEQ_LEN + pos) * vocab + tok as usize] = 1.0;
        }
    }
    Ok(
        Tensor::from_vec(data, (idx.len(), SEQ_LEN, vocab), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?,
    )
}

/// The characters a length curriculum trains on first (`--curriculum`).
pub const CURRICULUM_START: usize = 4;

/// The positions trained on at generator iteration `t` under a length curriculum growing by
/// one character every `every` iterations (Press et al. 2017, "Language Generation with
/// Recurrent Generative Adversarial Networks without Pre-training", §3): the first
/// [`CURRICULUM_START`] characters, then one more every `every` iterations, up to all `len`;
/// `every` 0 (no curriculum): all of them from the start.
pub fn curriculum_length(every: u64, t: u64, len: usize) -> usize {
    match every {
        0 => len,
        n => (CURRICULUM_START as u64 + t / n).min(len as u64) as usize,
    }
}

/// The rows `(B·L, V)` of `x` at positions from `visible` on (of `len` per sample) set to the
/// pad token's one-hot: what a length curriculum does to the generator's output.
pub fn pad_from<T: Copy>(
    x: &mut [T],
    len: usize,
    vocab: usize,
    visible: usize,
    (zero, one): (T, T),
) {
    if visible >= len {
        return;
    }
    for sample in x.chunks_mut(len * vocab) {
        for row in sample[visible * vocab..].chunks_mut(vocab) {
            row.fill(zero);
            row[PAD as usize] = one;
        }
    }
}

/// [`pad_from`] on a tensor `(B, L, V)`: the first `visible` positions of `x` (its gradient
/// flows through them) followed by pad one-hots (constants).
pub fn pad_tensor_from(x: &Tensor, visible: usize) -> Result<Tensor> {
    let (b, len, vocab) = x.dims3()?;
    if visible >= len {
        return Ok(x.clone());
    }
    let rows = b * (len - visible);
    let mut pad = vec![0f32; rows * vocab];
    pad_from(&mut pad, 1, vocab, 0, (0.0, 1.0));
    let pad = Tensor::from_vec(pad, (b, len - visible, vocab), &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?;
    Ok(Tensor::cat(&[&x.narrow(1, 0, visible)?, &pad], 1)?)
}

/// `b` standard-normal noise vectors, drawn on the CPU (the same on every device): the noise
/// training draws, [`sample_noise`] at ψ = 1.
pub fn noise(
    rng: &mut ChaCha8Rng,
    b: usize,
    dim: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    sample_noise(rng, (b, dim), 1.0, dtype, device)
}

/// `b` noise vectors for samples read from a trained generator: standard-normal draws scaled by
/// the truncation `psi`, so drawn from N(0, ψ²·I). Below 1 the samples come from nearer the centre
/// of the noise the generator was trained on, where its output is most typical: fewer
/// oddities for a little less variety (the truncation trick, Brock et al. 2019, "Large Scale
/// GAN Training"; as a reduced temperature of the prior, Kingma & Dhariwal 2018, "Glow").
/// ψ = 1 leaves the noise exactly as drawn. The training steps never use it, only what
/// reads samples (evaluations, previews, `generate`, `eval`, `interpolate`).
pub fn sample_noise(
    rng: &mut ChaCha8Rng,
    (b, dim): (usize, usize),
    psi: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut v: Vec<f32> = (0..b * dim).map(|_| rng.sample(StandardNormal)).collect();
    truncate(&mut v, psi);
    Ok(Tensor::from_vec(v, (b, dim), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// Standard-normal noise scaled to truncation `psi` in place (nothing changes at 1).
pub fn truncate(z: &mut [f32], psi: f64) {
    if psi != 1.0 {
        let psi = psi as f32;
        z.iter_mut().for_each(|x| *x *= psi);
    }
}

/// Refuse a truncation that is not in (0, 1]: 0 would give every sample the same noise, and
/// above 1 the noise leaves the region the generator was trained on.
pub fn check_truncation(psi: f64) -> Result<()> {
    if psi.is_finite() && psi > 0.0 && psi <= 1.0 {
        return Ok(());
    }
    Err(Error::Config(format!(
        "--truncation must be above 0 and at most 1 (1: the noise as drawn), got {psi}"
    )))
}

/// Standard Gumbel noise `−ln(−ln u)` of `shape` ([`gumbel_of`]).
pub fn gumbel(
    rng: &mut ChaCha8Rng,
    shape: (usize, usize, usize),
    (dtype, device): (DType, &Device),
) -> Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2;
    // The bits in the stream's order, then their logarithms across the threads (most of the
    // cost): the same values as one draw after another.
    let bits: Vec<u64> = (0..n).map(|_| rng.random::<u64>()).collect();
    let g: Vec<f32> = bits.par_iter().map(|&b| gumbel_of(b)).collect();
    Ok(Tensor::from_vec(g, shape, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// One standard Gumbel draw `−ln(−ln u)` from 64 random bits: `u` is their top 52 and a half
/// step over 2⁵², in the open interval (0, 1) and exact in f64 (the largest, 1 − 2⁻⁵³, is the
/// f64 just below 1), so the draw is finite: between −3.6 and 36.7. (With 53 bits, or 24 in
/// f32, the top value rounds to `u` = 1 and the draw is infinite.)
pub fn gumbel_of(bits: u64) -> f32 {
    let u = ((bits >> 12) as f64 + 0.5) / (1u64 << 52) as f64;
    -(-u.ln()).ln() as f32
}

/// `b` uniform mixing weights in `[0, 1)`.
pub fn uniform(rng: &mut ChaCha8Rng, b: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let eps: Vec<f32> = (0..b).map(|_| rng.random::<f32>()).collect();
    Ok(Tensor::from_vec(eps, b, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sample_noise_is_the_training_noise_scaled_by_the_truncation() {
        let dev = Device::Cpu;
        let drawn = |psi: Option<f64>| -> Vec<f32> {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let z = match psi {
                None => noise(&mut rng, 3, 8, DType::F32, &dev),
                Some(psi) => sample_noise(&mut rng, (3, 8), psi, DType::F32, &dev),
            };
            z.unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        // The stream's own standard-normal draws, in order.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let plain: Vec<f32> = (0..24).map(|_| rng.sample(StandardNormal)).collect();
        // ψ = 1: the same bits, so runs without a truncation read what they always read, and
        // training draws its noise as it always did.
        assert_eq!(drawn(Some(1.0)), plain);
        assert_eq!(drawn(None), plain);
        let half = drawn(Some(0.5));
        assert_eq!(half.len(), plain.len());
        for (h, p) in half.iter().zip(&plain) {
            assert_eq!(*h, p * 0.5);
        }
        assert!(plain.iter().any(|&x| x != 0.0));
        for bad in [0.0, -0.7, 1.01, f64::NAN, f64::INFINITY] {
            let e = check_truncation(bad).unwrap_err().to_string();
            assert!(
                e.contains("--truncation must be above 0 and at most 1"),
                "{e}"
            );
        }
        for good in [1e-3, 0.7, 1.0] {
            check_truncation(good).unwrap();
        }
    }

    #[test]
    fn the_curriculum_grows_one_character_every_n_iterations_to_the_whole_line() {
        assert_eq!(curriculum_length(0, 0, SEQ_LEN), SEQ_LEN);
        assert_eq!(curriculum_length(100, 0, SEQ_LEN), CURRICULUM_START);
        assert_eq!(curriculum_length(100, 99, SEQ_LEN), CURRICULUM_START);
        assert_eq!(curriculum_length(100, 100, SEQ_LEN), CURRICULUM_START + 1);
        let full = (SEQ_LEN - CURRICULUM_START) as u64 * 100;
        assert_eq!(curriculum_length(100, full - 1, SEQ_LEN), SEQ_LEN - 1);
        assert_eq!(curriculum_length(100, full, SEQ_LEN), SEQ_LEN);
        assert_eq!(curriculum_length(100, u64::MAX, SEQ_LEN), SEQ_LEN);
    }

    #[test]
    fn real_and_fake_are_padded_alike_from_the_visible_position() {
        // Two lines of four tokens (ids 2..), vocabulary 6, visible 2.
        let mut ids = [[PAD; SEQ_LEN]; 2];
        ids[0][..4].copy_from_slice(&[2, 3, 4, 5]);
        ids[1][..4].copy_from_slice(&[5, 4, 3, 2]);
        let cpu = (DType::F32, &Device::Cpu);
        let real = one_hot(&ids, &[0, 1], 6, 2, cpu).unwrap();
        let tokens = real.argmax(2).unwrap().to_vec2::<u32>().unwrap();
        assert_eq!(&tokens[0][..4], &[2, 3, PAD, PAD]);
        assert_eq!(&tokens[1][..4], &[5, 4, PAD, PAD]);
        // A softmax-like fake: its first two positions kept, the rest the pad one-hot.
        let fake = Tensor::full(1.0f32 / 6.0, (2, SEQ_LEN, 6), &Device::Cpu).unwrap();
        let padded = pad_tensor_from(&fake, 2).unwrap().to_vec3::<f32>().unwrap();
        let mut host = fake.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        pad_from(&mut host, SEQ_LEN, 6, 2, (0.0, 1.0));
        let flat: Vec<f32> = padded.iter().flatten().flatten().copied().collect();
        assert_eq!(flat, host, "the tensor and the slice versions agree");
        assert_eq!(padded[1][1], [1.0f32 / 6.0; 6]);
        assert_eq!(padded[1][2], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(padded[0][SEQ_LEN - 1], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // The whole sequence visible: unchanged.
        let same = pad_tensor_from(&fake, SEQ_LEN).unwrap();
        assert_eq!(
            same.to_vec3::<f32>().unwrap(),
            fake.to_vec3::<f32>().unwrap()
        );
    }

    #[test]
    fn gumbel_noise_is_finite_with_the_standard_gumbel_mean_and_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = gumbel(&mut rng, (40, SEQ_LEN, 50), (DType::F64, &Device::Cpu)).unwrap();
        let v = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        // Euler–Mascheroni γ and π²/6; 64 000 draws: standard errors about 0.005 and 0.02.
        assert!((mean - 0.577_215_664_9).abs() < 0.02, "mean {mean}");
        assert!(
            (var - std::f64::consts::PI.powi(2) / 6.0).abs() < 0.08,
            "variance {var}"
        );
        // The extreme bits give finite draws: the largest and smallest there can be.
        let (low, high) = (gumbel_of(0), gumbel_of(u64::MAX));
        assert!(low.is_finite() && high.is_finite(), "{low} {high}");
        assert!(low < -3.5 && high > 36.0, "{low} {high}");
    }
}
