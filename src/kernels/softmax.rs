//! The generator's output softmax over rows of logits, vectorised for f32: `exp` by range
//! reduction and a polynomial (Cephes' `expf`, relative error about 1e-7, as the C library's)
//! written so that the compiler turns every loop into SIMD lanes, compiled again for AVX-512
//! and AVX2 and picked at run time. The C library's scalar `expf` and a division per element
//! cost the cpu preset's step about 6% of its time; f64 (the gradient checks) stays exact.

/// Lanes the f32 loops are written in (one AVX-512 register).
const LANES: usize = 16;

/// `softmax` of every row of `width` elements of `x`, in place, shifted by the row's maximum
/// so that no exponential overflows.
pub fn softmax_rows<T: num_traits::Float + 'static>(x: &mut [T], width: usize) {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: T is f32 (same type, same layout); the slice is `x` itself.
        let x = unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut f32, x.len()) };
        return softmax_f32(x, width);
    }
    for row in x.chunks_mut(width) {
        let max = row
            .iter()
            .copied()
            .fold(T::neg_infinity(), num_traits::Float::max);
        let mut sum = T::zero();
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum = sum + *v;
        }
        row.iter_mut().for_each(|v| *v = *v / sum);
    }
}

/// The softmax's backward pass over rows of `width`: `glogits ← scale · p ⊙ (dp − ⟨p, dp⟩)`
/// per row, for probabilities `p = softmax(scale · logits)` and the loss's gradient `dp`
/// w.r.t. them (`scale`: a Gumbel-softmax's `1/τ`, else 1).
pub fn softmax_backward_rows<T: num_traits::Float>(
    glogits: &mut [T],
    probs: &[T],
    dprobs: &[T],
    width: usize,
    scale: T,
) {
    for ((gl, p), dp) in glogits
        .chunks_mut(width)
        .zip(probs.chunks(width))
        .zip(dprobs.chunks(width))
    {
        let dot = p.iter().zip(dp).fold(T::zero(), |s, (&a, &b)| s + a * b);
        for ((o, &pi), &di) in gl.iter_mut().zip(p).zip(dp) {
            *o = pi * (di - dot) * scale;
        }
    }
}

fn softmax_f32(x: &mut [f32], width: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512 F (checked just above).
            return unsafe { softmax_avx512(x, width) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { softmax_avx2(x, width) };
        }
    }
    softmax_lanes(x, width)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(x: &mut [f32], width: usize) {
    softmax_lanes(x, width)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(x: &mut [f32], width: usize) {
    softmax_lanes(x, width)
}

/// The f32 softmax in loops of [`LANES`] independent lanes (inlined into each
/// target-feature version, which the compiler vectorises for its registers).
#[inline(always)]
fn softmax_lanes(x: &mut [f32], width: usize) {
    for row in x.chunks_mut(width) {
        let (body, tail) = row.split_at_mut(row.len() / LANES * LANES);
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for c in body.chunks_exact(LANES) {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = if v > *m { v } else { *m };
            }
        }
        let max = (lanes.iter().chain(tail.iter())).fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sums = [0f32; LANES];
        for c in body.chunks_exact_mut(LANES) {
            for (s, v) in sums.iter_mut().zip(c) {
                *v = exp(*v - max);
                *s += *v;
            }
        }
        for v in tail.iter_mut() {
            *v = exp(*v - max);
        }
        let sum = sums.iter().chain(tail.iter()).sum::<f32>();
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `eˣ` in f32 without a branch or a call: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, `eʳ` by
/// Cephes' degree-6 polynomial, `2ⁿ` written into the exponent bits. Arguments are clamped to
/// `[−87, 88]`, where `2ⁿ` stays a normal number (below, the result is about 1.6e-38 instead
/// of a smaller one; a NaN stays NaN).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // 1.5·2²³: adding it rounds to an integer, which the low mantissa bits then hold.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // ln 2 in two parts, so that n·ln 2 is subtracted without rounding error.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let n_int = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    er * f32::from_bits(((n_int + 127) << 23) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_exponential() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            let exact = (x as f64).exp();
            let rel = ((exp(x) as f64 - exact) / exact).abs();
            worst = worst.max(rel);
        }
        // f32 has a 2⁻²⁴ ≈ 6e-8 relative spacing: two of them.
        assert!(worst <= 2.4e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1e30) > 0.0 && exp(-1e30) < 2e-38);
    }

    #[test]
    fn the_vectorised_softmax_is_the_library_one_to_a_few_ulp() {
        // Rows of 83 (the shipped corpus's vocabulary: 5 runs of 16 and a tail of 3), 16 and
        // 5 (a tail only), with logits far apart and one row far from zero.
        for width in [83, 16, 5] {
            let rows = 7;
            // Spread over [−30, 30] with no pattern a row could line up with.
            let logits: Vec<f32> = (0..rows * width)
                .map(|i| {
                    let v = 30.0 * ((i as f64 * 0.618_034 + 0.1).fract() * 2.0 - 1.0);
                    (v + if i / width == 3 { 500.0 } else { 0.0 }) as f32
                })
                .collect();
            // The reference: the C library's expf and a division, on the same f32 logits.
            let mut reference = logits.clone();
            for row in reference.chunks_mut(width) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.iter_mut().for_each(|v| *v = (*v - max).exp());
                let sum: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= sum);
            }
            let mut fast = logits.clone();
            softmax_rows(&mut fast, width);
            for (row, (f, e)) in fast.chunks(width).zip(reference.chunks(width)).enumerate() {
                let sum: f64 = f.iter().map(|&v| v as f64).sum();
                assert!((sum - 1.0).abs() < 1e-6, "row {row}: sums to {sum}");
                for (&f, &e) in f.iter().zip(e) {
                    assert!(
                        (f - e).abs() <= 6e-7 * e + 1e-37,
                        "width {width} row {row}: {f} vs {e}"
                    );
                }
            }
        }
    }
}
