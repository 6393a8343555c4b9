//! A walk through a generator's noise space: the text at evenly spaced points between two noise
//! vectors, the classic way to see what a GAN has learnt (a good generator changes its sentence
//! gradually, not at random). The ends are samples `textgan generate` prints: the `index`-th
//! sample of `--seed`, so a walk can start and end at two samples a person has seen.
//!
//! Two paths: linear, `(1 − t)·a + t·b`, and spherical (slerp, White 2016, "Sampling Generative
//! Networks"), `sin((1 − t)θ)/sin θ · a + sin(tθ)/sin θ · b` with `θ` the angle between `a` and
//! `b`. The noise is Gaussian, so its samples lie near a sphere of radius `√dim`: a linear path
//! cuts through the inside (its midpoint is shorter by up to `1/√2`), where the generator never
//! saw noise; the spherical one keeps the norm between vectors of equal norm.

use std::str::FromStr;

use candle_core::{DType, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;

use super::generate::Sampler;
use crate::data::batches::truncate;
use crate::error::{Error, Result};
use crate::streams::Stream;

/// The most steps a walk may take (its text is `steps + 1` lines).
pub const MAX_STEPS: usize = 1000;
/// The highest sample index an end may name (its noise is drawn after all those before it).
pub const MAX_INDEX: usize = 100_000;

/// One end of a walk: sample `index` (from 0) of `textgan generate --seed seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoisePoint {
    pub seed: u64,
    pub index: usize,
}

impl FromStr for NoisePoint {
    type Err = Error;

    /// `SEED` (its first sample) or `SEED:INDEX`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "{s:?}: expected SEED or SEED:INDEX (sample INDEX of `generate --seed SEED`, from 0, at most {MAX_INDEX})"
            ))
        };
        let (seed, index) = match s.split_once(':') {
            Some((seed, index)) => (seed, index.parse().map_err(|_| bad())?),
            None => (s, 0),
        };
        let seed = seed.parse().map_err(|_| bad())?;
        if index > MAX_INDEX {
            return Err(bad());
        }
        Ok(NoisePoint { seed, index })
    }
}

impl std::fmt::Display for NoisePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seed, self.index)
    }
}

impl NoisePoint {
    /// Its noise vector: the one `generate` draws for this sample ([`Stream::SampleNoise`]).
    pub fn noise(&self, dim: usize) -> Vec<f32> {
        let mut rng = Stream::SampleNoise.rng(self.seed);
        for _ in 0..self.index * dim {
            let _: f32 = rng.sample(StandardNormal);
        }
        (0..dim).map(|_| rng.sample(StandardNormal)).collect()
    }
}

/// How a walk goes from one end to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// A straight line: `(1 − t)·a + t·b`.
    Linear,
    /// Along the great circle (slerp): the norm stays that of the ends.
    #[default]
    Spherical,
}

/// `steps + 1` points from `a` (t = 0) to `b` (t = 1), evenly spaced in `t`; the ends are `a`
/// and `b` exactly.
pub fn walk(a: &[f32], b: &[f32], steps: usize, path: Path) -> Vec<Vec<f32>> {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let cos = (dot / (norm(a) * norm(b))).clamp(-1.0, 1.0);
    let theta = cos.acos();
    (0..=steps)
        .map(|i| {
            let t = i as f64 / steps.max(1) as f64;
            // Nearly parallel (or antipodal) ends leave no plane to turn in: the line is then
            // the path, and the weights the limit of slerp's.
            let (wa, wb) = match path {
                Path::Spherical if theta.sin() > 1e-6 => (
                    ((1.0 - t) * theta).sin() / theta.sin(),
                    (t * theta).sin() / theta.sin(),
                ),
                _ => (1.0 - t, t),
            };
            a.iter()
                .zip(b)
                .map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32)
                .collect()
        })
        .collect()
}

/// One point of a walk and its text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WalkStep {
    /// From 0 (the first end) to `steps` (the other).
    pub step: usize,
    /// Where on the path, from 0 to 1.
    pub t: f64,
    pub text: String,
}

/// A whole walk, as `textgan interpolate --format json` prints it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Walk {
    /// The ends, as `SEED:INDEX`.
    pub from: String,
    pub to: String,
    pub path: Path,
    pub steps: usize,
    pub points: Vec<WalkStep>,
}

/// The text at every point of a walk of `steps` steps from `from` to `to` (argmax at each
/// position, as `generate` reads samples by default).
pub fn interpolate(
    sampler: &Sampler,
    (from, to): (NoisePoint, NoisePoint),
    steps: usize,
    path: Path,
) -> Result<Walk> {
    if steps == 0 || steps > MAX_STEPS {
        return Err(Error::Config(format!(
            "--steps {steps}: a walk takes 1 to {MAX_STEPS} steps"
        )));
    }
    let dim = sampler.config.model.noise_dim;
    // The ends at the sampler's truncation, as `generate` reads them (a walk between scaled
    // ends is the scaled walk: both paths are linear in the ends).
    let end = |p: NoisePoint| -> Vec<f32> {
        let mut z = p.noise(dim);
        truncate(&mut z, sampler.truncation);
        z
    };
    let points = walk(&end(from), &end(to), steps, path);
    let flat: Vec<f32> = points.concat();
    let z = Tensor::from_vec(flat, (steps + 1, dim), sampler.device())?.to_dtype(DType::F32)?;
    let lines = sampler.argmax_lines(&z)?;
    let points = lines
        .into_iter()
        .enumerate()
        .map(|(step, text)| WalkStep {
            step,
            t: step as f64 / steps as f64,
            text,
        })
        .collect();
    Ok(Walk {
        from: from.to_string(),
        to: to.to_string(),
        path,
        steps,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn both_paths_start_and_end_exactly_at_the_ends() {
        let (a, b) = (
            NoisePoint { seed: 1, index: 0 }.noise(16),
            NoisePoint { seed: 2, index: 3 }.noise(16),
        );
        for path in [Path::Linear, Path::Spherical] {
            let w = walk(&a, &b, 5, path);
            assert_eq!(w.len(), 6);
            assert_eq!(w[0], a, "{path:?}");
            assert_eq!(w[5], b, "{path:?}");
        }
    }

    #[test]
    fn the_spherical_path_keeps_the_norm_and_the_linear_one_cuts_inside() {
        // Two vectors of equal norm at a right angle.
        let a = vec![3.0f32, 0.0, 0.0];
        let b = vec![0.0f32, 3.0, 0.0];
        let mid = |path| walk(&a, &b, 2, path)[1].clone();
        assert!((norm(&mid(Path::Spherical)) - 3.0).abs() < 1e-6);
        assert!((norm(&mid(Path::Linear)) - 3.0 / 2f64.sqrt()).abs() < 1e-6);
        // Every point of the spherical path, not only the midpoint.
        for p in walk(&a, &b, 7, Path::Spherical) {
            assert!((norm(&p) - 3.0).abs() < 1e-5, "{p:?}");
        }
        // Equal steps of angle: the second point of 3 steps is 30° from a.
        let p = &walk(&a, &b, 3, Path::Spherical)[1];
        assert!((p[0] as f64 - 3.0 * 30f64.to_radians().cos()).abs() < 1e-6);
    }

    #[test]
    fn parallel_ends_walk_the_line_instead_of_dividing_by_zero() {
        let a = vec![1.0f32, 2.0];
        let b = vec![2.0f32, 4.0];
        let w = walk(&a, &b, 2, Path::Spherical);
        assert_eq!(w[1], vec![1.5, 3.0]);
    }

    #[test]
    fn an_end_is_the_sample_generate_draws_for_that_seed_and_index() {
        // Sample 2 of a seed is the third noise vector of that seed's stream.
        let dim = 4;
        let mut rng = Stream::SampleNoise.rng(9);
        let all: Vec<f32> = (0..3 * dim).map(|_| rng.sample(StandardNormal)).collect();
        assert_eq!(NoisePoint { seed: 9, index: 2 }.noise(dim), all[2 * dim..]);
    }

    #[test]
    fn ends_are_read_from_seed_or_seed_colon_index() {
        assert_eq!(
            "7".parse::<NoisePoint>().unwrap(),
            NoisePoint { seed: 7, index: 0 }
        );
        assert_eq!(
            "7:12".parse::<NoisePoint>().unwrap(),
            NoisePoint { seed: 7, index: 12 }
        );
        for bad in ["", "x", "-1", "7:", "7:x", "7:-1", "7:100001", "1:2:3"] {
            let err = bad.parse::<NoisePoint>().unwrap_err().to_string();
            assert!(err.contains("expected SEED or SEED:INDEX"), "{bad}: {err}");
        }
    }
}
