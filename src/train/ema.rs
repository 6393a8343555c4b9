//! Generator weight averaging (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in
//! GAN Training"; also BigGAN's and StyleGAN's): after every generator step,
//! `θ̄ ← β_t·θ̄ + (1 − β_t)·θ`, with the warm-up `β_t = min(β, (1 + t)/(10 + t))` so that the
//! average forgets the random initial weights within the first few dozen steps. `β_t` is a
//! function of the iteration alone, so a resumed run continues the same average.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use crate::error::Result;
use crate::kernels::host_slice;
use crate::model::params::Params;

/// The averaging weight at generator iteration `t` for the configured `decay`.
pub fn decay_at(decay: f64, t: u64) -> f64 {
    decay.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// `avg ← b·avg + (1 − b)·src`, tensor by tensor (`avg` and `src` hold the same names in the
/// same order): one pass over host memory on the CPU, tensor operations elsewhere.
pub fn update(avg: &Params, src: &Params, b: f64) -> Result<()> {
    for ((_, a), (_, s)) in avg.vars.iter().zip(&src.vars) {
        if a.device().is_cpu() && a.dtype() == DType::F32 {
            let new = {
                let (av, al) = a.as_tensor().storage_and_layout();
                let (sv, sl) = s.as_tensor().storage_and_layout();
                let (av, sv) = (host_slice::<f32>(&av, al)?, host_slice::<f32>(&sv, sl)?);
                let (b, c) = (b as f32, (1.0 - b) as f32);
                av.par_iter()
                    .zip(sv.par_iter())
                    .with_min_len(1 << 14)
                    .map(|(&x, &y)| b * x + c * y)
                    .collect::<Vec<f32>>()
            };
            a.set(&Tensor::from_vec(new, a.shape(), a.device())?)?;
        } else {
            let mixed = (a.as_tensor().affine(b, 0.0)? + s.as_tensor().affine(1.0 - b, 0.0)?)?;
            a.set(&mixed)?;
        }
    }
    Ok(())
}

/// Copy `src`'s values into `dst` (same names, same order).
pub fn copy(dst: &Params, src: &Params) -> Result<()> {
    for ((_, d), (_, s)) in dst.vars.iter().zip(&src.vars) {
        d.set(&s.as_tensor().detach().copy()?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn params(values: &[f32]) -> Params {
        let t = Tensor::from_vec(values.to_vec(), values.len(), &Device::Cpu).unwrap();
        Params {
            vars: vec![("w".into(), Var::from_tensor(&t).unwrap())],
        }
    }

    fn values(p: &Params) -> Vec<f32> {
        p.vars[0].1.as_tensor().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn the_average_moves_a_known_fraction_toward_the_weights() {
        let avg = params(&[1.0, -2.0, 0.5]);
        let src = params(&[3.0, 2.0, 0.5]);
        update(&avg, &src, 0.75).unwrap();
        // 0.75·avg + 0.25·src
        assert_eq!(values(&avg), [1.5, -1.0, 0.5]);
        update(&avg, &src, 0.0).unwrap();
        assert_eq!(values(&avg), [3.0, 2.0, 0.5]);
        // The tensor-op path (f64 here) gives the same.
        let to64 = |p: &Params| Params {
            vars: vec![(
                "w".into(),
                Var::from_tensor(&p.vars[0].1.as_tensor().to_dtype(DType::F64).unwrap()).unwrap(),
            )],
        };
        let (a64, s64) = (to64(&params(&[1.0, -2.0, 0.5])), to64(&src));
        update(&a64, &s64, 0.75).unwrap();
        let v = a64.vars[0].1.as_tensor().to_vec1::<f64>().unwrap();
        assert_eq!(v, [1.5, -1.0, 0.5]);
    }

    #[test]
    fn the_decay_warms_up_then_holds() {
        assert_eq!(decay_at(0.999, 0), 0.1);
        assert_eq!(decay_at(0.999, 10), 11.0 / 20.0);
        assert_eq!(decay_at(0.999, 100_000), 0.999);
        assert_eq!(decay_at(0.0, 5), 0.0);
    }

    #[test]
    fn copy_takes_the_values_not_the_storage() {
        let (dst, src) = (params(&[0.0, 0.0]), params(&[1.0, 2.0]));
        copy(&dst, &src).unwrap();
        assert_eq!(values(&dst), [1.0, 2.0]);
        src.vars[0]
            .1
            .set(&Tensor::new(&[5.0f32, 6.0], &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(values(&dst), [1.0, 2.0]);
    }
}
