//! Matrix products with bf16 inputs and f32 accumulation on AVX-512 BF16 (`vdpbf16ps`), for
//! `--precision bf16`: `C ← α·A·B` (or `C + α·A·B`) with A and B rounded to bf16 (8 bits of
//! mantissa, round to nearest even) as they are packed, and every product summed in f32. The
//! operands are what is rounded; outputs, weights, the optimiser and every reduction outside
//! the products stay f32.
//!
//! Packing: A as rows of bf16 pairs along k (one `u32` per pair, broadcast to all lanes by the
//! kernel); B in panels of 32 columns, each k-pair one row of 64 bf16 that interleaves the
//! pair's two rows column by column. `vdpbf16ps` then adds `a₀·b₀ + a₁·b₁` into each f32 lane,
//! and the microkernel keeps a `MR × 32` block of C in `2·MR` registers. Any strides are
//! accepted; row-major and transposed operands pack with vector loads, others element by
//! element.

use super::mat::Mat;

/// Rows of C per microkernel call (24 accumulators of the 32 vector registers).
const MR: usize = 12;
/// Columns of C per microkernel call: two vectors of 16 f32.
const NR: usize = 32;
/// k-pairs per packed block (512 values of k): a block of B and of A stay in L2.
const KC: usize = 256;
/// Rows of A per packed block.
pub(super) const MC: usize = 10 * MR;

/// Set to force the f32 products on a CPU that has AVX-512 BF16 (to test the fall-back).
pub const DISABLE_ENV: &str = "TEXTGAN_NO_BF16";

/// Whether this CPU runs the bf16 products (AVX-512 F, BW and BF16) and they are not disabled
/// by [`DISABLE_ENV`].
pub fn available() -> bool {
    if std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` rounded to bf16 (nearest, ties to even), as its 16 bits.
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        // A quiet NaN stays a NaN (rounding could carry its payload into infinity).
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The f32 value of bf16 bits.
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

thread_local! {
    /// The packed operands, reused from call to call on each thread.
    static PACKED: std::cell::RefCell<(Vec<u32>, Vec<u32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// `dst ← scale·a·b`, or `dst + scale·a·b` with `accumulate`, `dst` row-major `a.rows ×
/// b.cols`, with bf16 operands. The caller ([`super::matmul`]) has checked the shapes and
/// bounds, that none of m, n, k is zero, and that [`available`] holds.
pub(super) fn matmul(dst: &mut [f32], a: Mat<f32>, b: Mat<f32>, scale: f32, accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    PACKED.with(|packed| {
        let (pa, pb) = &mut *packed.borrow_mut();
        // SAFETY: `available()` (the caller's check) guarantees the target features; the
        // bounds of every access follow from the shapes checked by the caller.
        unsafe { x86::run(dst, a, b, scale, accumulate, pa, pb) }
    });
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dst, a, b, scale, accumulate);
        unreachable!("bf16 products are only chosen where available() holds");
    }
}

/// Element `(i, j)` of `m`.
fn at(m: &Mat<f32>, i: usize, j: usize) -> f32 {
    m.data[i * m.rs + j * m.cs]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    // (Named from the crate root: this is a module inside the file.)
    use crate::kernels::bf16::{at, to_bf16, KC, MC, MR, NR};
    use crate::kernels::mat::Mat;
    use std::arch::x86_64::*;

    /// The lane order that interleaves two 16-element halves: word `2j` from the first half,
    /// `2j + 1` from the second.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn interleave_index() -> __m512i {
        let mut idx = [0i16; 32];
        for j in 0..16 {
            idx[2 * j] = j as i16;
            idx[2 * j + 1] = 16 + j as i16;
        }
        // SAFETY: 64 bytes read from a 64-byte array.
        unsafe { std::ptr::read_unaligned(idx.as_ptr() as *const __m512i) }
    }

    /// `(x[j], y[j])` as bf16 pairs in the 16 u32 lanes: `x` in the low half.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn pairs(x: __m512, y: __m512, idx: __m512i) -> __m512i {
        // `cvtne2ps_pbh(hi, lo)`: words 0..16 from `lo`, 16..32 from `hi`.
        let words: __m512i = unsafe { std::mem::transmute(_mm512_cvtne2ps_pbh(y, x)) };
        _mm512_permutexvar_epi16(idx, words)
    }

    /// A mask of the first `n` (≤ 16) lanes.
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            (1u16 << n) - 1
        }
    }

    /// Up to 16 consecutive f32 from `p` (lanes past `n` zero).
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(lanes(n), p) }
    }

    /// `len` (≤ 16) consecutive elements `data[start + line·stride ..]` of line `line` of a
    /// matrix, or zeros where `line` is past `end`.
    #[target_feature(enable = "avx512f")]
    unsafe fn run_of(
        data: &[f32],
        start: usize,
        line: usize,
        stride: usize,
        end: usize,
        len: usize,
    ) -> __m512 {
        if line < end {
            let off = start + line * stride;
            unsafe { load(data[off..off + len].as_ptr(), len) }
        } else {
            _mm512_setzero_ps()
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn run(
        dst: &mut [f32],
        a: Mat<f32>,
        b: Mat<f32>,
        scale: f32,
        accumulate: bool,
        pa: &mut Vec<u32>,
        pb: &mut Vec<u32>,
    ) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let panels = n.div_ceil(NR);
        let pairs_total = k.div_ceil(2);
        for (block, p0) in (0..pairs_total).step_by(KC).enumerate() {
            let kcp = KC.min(pairs_total - p0);
            let (k0, k1) = (2 * p0, (2 * (p0 + kcp)).min(k));
            unsafe { pack_b(&b, k0, k1, kcp, pb) };
            // Later blocks of k add to what the first wrote.
            let add = accumulate || block > 0;
            for m0 in (0..m).step_by(MC) {
                let mc = MC.min(m - m0);
                // Where pair `p` of row `i` is in `pa`: `i·ars + p·aps`.
                let (ars, aps) = unsafe { pack_a(&a, m0, mc, k0, k1, kcp, pa) };
                for panel in 0..panels {
                    let j0 = panel * NR;
                    let nc = NR.min(n - j0);
                    let bp = pb[panel * kcp * NR..(panel + 1) * kcp * NR].as_ptr();
                    let mut r = 0;
                    while r < mc {
                        let rows = MR.min(mc - r);
                        let ap = pa[r * ars..].as_ptr();
                        let c = &mut dst[(m0 + r) * n + j0..];
                        assert!(c.len() >= (rows - 1) * n + nc);
                        let c = c.as_mut_ptr();
                        let t = Tile {
                            kcp,
                            ars,
                            aps,
                            ldc: n,
                            nc,
                            scale,
                            add,
                        };
                        // SAFETY: `ap` holds `rows × kcp` pairs at strides (ars, aps), `bp`
                        // `kcp × NR`, and C the `rows` rows of `nc` columns asserted above.
                        unsafe {
                            match rows {
                                12 => kernel::<12>(ap, bp, c, t),
                                11 => kernel::<11>(ap, bp, c, t),
                                10 => kernel::<10>(ap, bp, c, t),
                                9 => kernel::<9>(ap, bp, c, t),
                                8 => kernel::<8>(ap, bp, c, t),
                                7 => kernel::<7>(ap, bp, c, t),
                                6 => kernel::<6>(ap, bp, c, t),
                                5 => kernel::<5>(ap, bp, c, t),
                                4 => kernel::<4>(ap, bp, c, t),
                                3 => kernel::<3>(ap, bp, c, t),
                                2 => kernel::<2>(ap, bp, c, t),
                                _ => kernel::<1>(ap, bp, c, t),
                            }
                        }
                        r += rows;
                    }
                }
            }
        }
    }

    /// What the microkernel computes: `kcp` k-pairs, A's strides between rows and between
    /// pairs, C's row stride, its valid columns (≤ 32), α, and whether C is added to.
    #[derive(Clone, Copy)]
    struct Tile {
        kcp: usize,
        ars: usize,
        aps: usize,
        ldc: usize,
        nc: usize,
        scale: f32,
        add: bool,
    }

    /// `R × 32` of C from `R` packed rows of A (`kcp` pairs each) and one packed panel of B.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn kernel<const R: usize>(a: *const u32, b: *const u32, c: *mut f32, t: Tile) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for p in 0..t.kcp {
            // SAFETY (all reads): inside the packed blocks, as the caller guarantees.
            let (b0, b1): (__m512bh, __m512bh) = unsafe {
                (
                    std::ptr::read_unaligned(b.add(p * NR) as *const __m512bh),
                    std::ptr::read_unaligned(b.add(p * NR + 16) as *const __m512bh),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = unsafe { *a.add(r * t.ars + p * t.aps) } as i32;
                let ar: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(pair)) };
                acc[0] = _mm512_dpbf16_ps(acc[0], ar, b0);
                acc[1] = _mm512_dpbf16_ps(acc[1], ar, b1);
            }
        }
        let s = _mm512_set1_ps(t.scale);
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let cols = t.nc.saturating_sub(16 * v).min(16);
                if cols == 0 {
                    continue;
                }
                let mask = lanes(cols);
                // SAFETY: row `r` of C has `nc` valid columns from `c + r·ldc`.
                unsafe {
                    let ptr = c.add(r * t.ldc + 16 * v);
                    let mut out = _mm512_mul_ps(sum, s);
                    if t.add {
                        out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, ptr));
                    }
                    _mm512_mask_storeu_ps(ptr, mask, out);
                }
            }
        }
    }

    /// Rows `m0..m0 + mc` of A, columns `k0..k1`, as `mc × kcp` bf16 pairs (zero past `k1`),
    /// row by row, or pair by pair for a transposed A (whose rows are then adjacent); returns
    /// the strides between rows and between pairs.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_a(
        a: &Mat<f32>,
        m0: usize,
        mc: usize,
        k0: usize,
        k1: usize,
        kcp: usize,
        pa: &mut Vec<u32>,
    ) -> (usize, usize) {
        pa.clear();
        pa.resize(mc * kcp, 0);
        let kn = k1 - k0;
        let idx = interleave_index();
        if a.cs == 1 {
            // Rows contiguous along k: the pairs are adjacent, 32 values make 16 pairs.
            for i in 0..mc {
                let row = &a.data[(m0 + i) * a.rs + k0..(m0 + i) * a.rs + k1];
                let out = &mut pa[i * kcp..(i + 1) * kcp];
                for (q, chunk) in row.chunks(32).enumerate() {
                    let lo = chunk.len().min(16);
                    // SAFETY: the loads are masked to the chunk's length.
                    unsafe {
                        let x = load(chunk.as_ptr(), lo);
                        let y = load(chunk.as_ptr().add(lo), chunk.len() - lo);
                        let words: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(y, x));
                        let n = chunk.len().div_ceil(2);
                        _mm512_mask_storeu_epi32(
                            out[q * 16..].as_mut_ptr() as *mut i32,
                            lanes(n),
                            words,
                        );
                    }
                }
            }
        } else if a.rs == 1 {
            // Columns contiguous along the rows: two columns make the pairs of 16 rows, stored
            // pair by pair.
            for i0 in (0..mc).step_by(16) {
                let rows = 16.min(mc - i0);
                for p in 0..kcp {
                    let (x, y) = unsafe {
                        (
                            run_of(a.data, m0 + i0, k0 + 2 * p, a.cs, k1, rows),
                            run_of(a.data, m0 + i0, k0 + 2 * p + 1, a.cs, k1, rows),
                        )
                    };
                    let v = pairs(x, y, idx);
                    let out = &mut pa[p * mc + i0..p * mc + i0 + rows];
                    // SAFETY: `rows` u32 into a slice of that length.
                    unsafe {
                        _mm512_mask_storeu_epi32(out.as_mut_ptr() as *mut i32, lanes(rows), v)
                    };
                }
            }
            return (1, mc);
        } else {
            for i in 0..mc {
                for p in 0..kn.div_ceil(2) {
                    let lo = to_bf16(at(a, m0 + i, k0 + 2 * p)) as u32;
                    let hi = if k0 + 2 * p + 1 < k1 {
                        to_bf16(at(a, m0 + i, k0 + 2 * p + 1)) as u32
                    } else {
                        0
                    };
                    pa[i * kcp + p] = lo | hi << 16;
                }
            }
        }
        (kcp, 1)
    }

    /// Rows `k0..k1` of B as panels of `NR` columns, `kcp` interleaved pairs each (zero past
    /// `k1` and past the last column).
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_b(b: &Mat<f32>, k0: usize, k1: usize, kcp: usize, pb: &mut Vec<u32>) {
        let n = b.cols;
        let panels = n.div_ceil(NR);
        pb.clear();
        pb.resize(panels * kcp * NR, 0);
        let idx = interleave_index();
        if b.cs == 1 {
            // Rows contiguous along n: two rows make the pairs of 16 columns.
            for panel in 0..panels {
                for p in 0..kcp {
                    for v in 0..NR / 16 {
                        let j0 = panel * NR + 16 * v;
                        if j0 >= n {
                            break;
                        }
                        let cols = 16.min(n - j0);
                        let (x, y) = unsafe {
                            (
                                run_of(b.data, j0, k0 + 2 * p, b.rs, k1, cols),
                                run_of(b.data, j0, k0 + 2 * p + 1, b.rs, k1, cols),
                            )
                        };
                        let w = pairs(x, y, idx);
                        let at = (panel * kcp + p) * NR + 16 * v;
                        // SAFETY: 16 u32 inside the panel's row.
                        unsafe {
                            std::ptr::write_unaligned(
                                pb[at..at + 16].as_mut_ptr() as *mut __m512i,
                                w,
                            )
                        };
                    }
                }
            }
        } else if b.rs == 1 {
            // Columns contiguous along k: each column's pairs are adjacent.
            let mut tmp = [0u32; 16];
            for j in 0..n {
                let col = &b.data[k0 + j * b.cs..k1 + j * b.cs];
                let (panel, c) = (j / NR, j % NR);
                for (q, chunk) in col.chunks(32).enumerate() {
                    let lo = chunk.len().min(16);
                    // SAFETY: masked loads of the chunk; 64 bytes into a 64-byte array.
                    unsafe {
                        let x = load(chunk.as_ptr(), lo);
                        let y = load(chunk.as_ptr().add(lo), chunk.len() - lo);
                        let words: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(y, x));
                        std::ptr::write_unaligned(tmp.as_mut_ptr() as *mut __m512i, words);
                    }
                    for (t, &w) in tmp[..chunk.len().div_ceil(2)].iter().enumerate() {
                        pb[(panel * kcp + q * 16 + t) * NR + c] = w;
                    }
                }
            }
        } else {
            for j in 0..n {
                let (panel, c) = (j / NR, j % NR);
                for p in 0..(k1 - k0).div_ceil(2) {
                    let lo = to_bf16(at(b, k0 + 2 * p, j)) as u32;
                    let hi = if k0 + 2 * p + 1 < k1 {
                        to_bf16(at(b, k0 + 2 * p + 1, j)) as u32
                    } else {
                        0
                    };
                    pb[(panel * kcp + p) * NR + c] = lo | hi << 16;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::bf16::{available, from_bf16, matmul, to_bf16, DISABLE_ENV};
    use crate::kernels::mat::Mat;

    /// Deterministic pseudo-random values in [−1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn rounding_to_bf16_is_to_nearest_even() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: the even one is 1 + 2⁻⁶.
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 1.0 / 64.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        for x in values(1000, 9) {
            let r = from_bf16(to_bf16(x * 1e3));
            assert!((r - x * 1e3).abs() <= (x * 1e3).abs() / 256.0);
        }
    }

    /// `a (m×k) · b (k×n)` in f64 of the bf16-rounded operands, row-major.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let r = |x: f32| from_bf16(to_bf16(x)) as f64;
        (0..m * n)
            .map(|i| {
                (0..k)
                    .map(|p| r(a[(i / n) * k + p]) * r(b[p * n + i % n]))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn the_bf16_product_equals_an_f64_reference_on_every_transpose_and_size() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16 (or {DISABLE_ENV} is set)");
            return;
        }
        // Odd sizes, sizes past one register block (12 × 32), one packed block of k (512)
        // and of A's rows (120), and an odd k.
        for (m, k, n) in [
            (1, 1, 1),
            (13, 7, 33),
            (37, 160, 32),
            (130, 515, 70),
            (5, 1030, 17),
        ] {
            let a = values(m * k, (m * k) as u64);
            let b = values(k * n, (k * n + 1) as u64);
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let expect = reference(&a, &b, m, k, n);
            // A strided view (every other column of a wider matrix) takes the general path.
            let wide: Vec<f32> = a.iter().flat_map(|&x| [x, 7.0]).collect();
            let strided = Mat {
                data: &wide,
                rows: m,
                cols: k,
                rs: 2 * k,
                cs: 2,
            };
            let cases = [
                (Mat::new(&a, m, k), Mat::new(&b, k, n)),
                (Mat::new(&at, k, m).t(), Mat::new(&b, k, n)),
                (Mat::new(&a, m, k), Mat::new(&bt, n, k).t()),
                (Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t()),
                (strided, Mat::new(&b, k, n)),
            ];
            for (case, (am, bm)) in cases.into_iter().enumerate() {
                // β = 1 (accumulate) with α = 2, then β = 0 with α = 1.
                let mut dst = vec![1.0f32; m * n];
                matmul(&mut dst, am, bm, 2.0, true);
                // f32 accumulation of k products of magnitude ≤ 1.
                let tol = 1e-6 * (k as f64).max(16.0);
                for (d, e) in dst.iter().zip(&expect) {
                    let want = 1.0 + 2.0 * e;
                    assert!(
                        (*d as f64 - want).abs() <= 2.0 * tol,
                        "{m}×{k}×{n} case {case}: {d} vs {want}"
                    );
                }
                matmul(&mut dst, am, bm, 1.0, false);
                for (d, e) in dst.iter().zip(&expect) {
                    assert!(
                        (*d as f64 - e).abs() <= tol,
                        "{m}×{k}×{n} case {case}: {d} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_bf16_product_is_within_bf16_rounding_of_the_exact_one() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16 (or {DISABLE_ENV} is set)");
            return;
        }
        let (m, k, n) = (50, 300, 40);
        let a = values(m * k, 3);
        let b = values(k * n, 4);
        let mut dst = vec![0.0f32; m * n];
        matmul(&mut dst, Mat::new(&a, m, k), Mat::new(&b, k, n), 1.0, false);
        for (i, &got) in dst.iter().enumerate() {
            let (r, c) = (i / n, i % n);
            let terms = (0..k).map(|p| a[r * k + p] as f64 * b[p * n + c] as f64);
            let exact: f64 = terms.clone().sum();
            let size: f64 = terms.map(f64::abs).sum();
            // Each operand within 2⁻⁹ relative, so each product within 2·2⁻⁹ (+ f32 sums).
            assert!(
                (got as f64 - exact).abs() <= size * 2.0 / 512.0 + 1e-4,
                "{i}: {got} vs {exact}"
            );
        }
    }
}
