//! Dense CPU kernels on plain slices, shared by both execution paths: the hand-written step
//! ([`crate::cpu_step`]) and, on the CPU, the autograd convolution's custom ops
//! ([`crate::model::autograd::conv`]): one matrix product (the `gemm` crate, the same kernels
//! candle's CPU matmul uses; bf16 inputs in [`bf16`]), the im2col window copy and its
//! adjoint, the few element-wise passes in between, and the generator's output softmax
//! ([`softmax_rows`]). Rows are `(sample, position)` pairs, columns are channels.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod bf16;
mod mat;
mod softmax;

pub use mat::Mat;
pub use softmax::{softmax_backward_rows, softmax_rows};

/// `--precision`: the element type of the matrix products' inputs in the hand-written step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 operands (the `gemm` crate).
    #[default]
    F32,
    /// bf16 operands, f32 sums ([`bf16`]): AVX-512 BF16 CPUs; f32 elsewhere.
    Bf16,
}

impl Precision {
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// What the choice means, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            Precision::F32 => "f32 matrix products",
            Precision::Bf16 => {
                "Matrix products on bf16-rounded inputs with f32 sums (CPUs with AVX-512 BF16; \
                 f32 elsewhere). Weights, optimiser, losses and the penalty's norms stay f32"
            }
        }
    }

    /// What this CPU runs when asked for `self`, and why it differs if it does.
    pub fn on_this_cpu(self) -> (Precision, Option<&'static str>) {
        match self {
            Precision::Bf16 if !bf16::available() => (
                Precision::F32,
                Some("this CPU has no AVX-512 BF16, or TEXTGAN_NO_BF16 is set"),
            ),
            p => (p, None),
        }
    }
}

/// The element types the kernels run on (f32 for training, f64 for gradient checks).
pub trait Real:
    num_traits::Float
    + candle_core::WithDType
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + Send
    + Sync
    + 'static
{
}
impl Real for f32 {}
impl Real for f64 {}

/// The elements of a contiguous CPU tensor, borrowed from its storage (`storage` and `layout`
/// as [`candle_core::Tensor::storage_and_layout`] gives them).
pub fn host_slice<'a, T: Real>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> crate::Result<&'a [T]> {
    let candle_core::Storage::Cpu(cpu) = storage else {
        return Err(crate::Error::Internal(
            "expected a tensor in CPU memory".into(),
        ));
    };
    let (from, to) = layout
        .contiguous_offsets()
        .ok_or_else(|| crate::Error::Internal("expected a contiguous tensor".into()))?;
    Ok(&cpu.as_slice::<T>()?[from..to])
}

thread_local! {
    /// Set while this thread runs one shard of a step that others run beside it.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set while this thread's f32 products take bf16 inputs.
    static BF16: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every kernel on this thread single-threaded, and its f32 matrix products in
/// `precision` (bf16 only where [`bf16::available`]). The hand-written step splits its batch
/// into one shard per thread ([`crate::cpu_step::adapter`]) where its products are small; each
/// shard's many small products and passes then run start to end on one thread instead of
/// being handed between threads a few microseconds at a time.
pub fn serial<R>(precision: Precision, f: impl FnOnce() -> R) -> R {
    scoped(precision, true, f)
}

/// Run `f` with the f32 matrix products on this thread in `precision`, each large product and
/// pass split across rayon's pool (the hand-written step with one shard, at large widths).
pub fn threaded<R>(precision: Precision, f: impl FnOnce() -> R) -> R {
    scoped(precision, false, f)
}

fn scoped<R>(precision: Precision, serial: bool, f: impl FnOnce() -> R) -> R {
    let bf16 = precision.on_this_cpu().0 == Precision::Bf16;
    let before = (
        SERIAL.with(|s| s.replace(serial)),
        BF16.with(|s| s.replace(bf16)),
    );
    let out = f();
    SERIAL.with(|s| s.set(before.0));
    BF16.with(|s| s.set(before.1));
    out
}

/// `m` as a matrix of f32 when `T` is f32.
fn as_f32<T: Real>(m: Mat<'_, T>) -> Option<Mat<'_, f32>> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: T is f32 (same type, same layout).
    let data = unsafe { std::slice::from_raw_parts(m.data.as_ptr() as *const f32, m.data.len()) };
    Some(Mat {
        data,
        rows: m.rows,
        cols: m.cols,
        rs: m.rs,
        cs: m.cs,
    })
}

/// Whether work of `len` elements is worth splitting across rayon's pool here.
fn split(len: usize) -> bool {
    len >= PAR_MIN && !SERIAL.with(std::cell::Cell::get)
}

/// `dst ← scale · a·b`, or `dst ← dst + scale · a·b` with `accumulate`; `dst` row-major
/// `a.rows × b.cols`. Threads: rayon's pool (`--threads`, else `RAYON_NUM_THREADS`, else
/// every logical CPU), none inside [`serial`].
pub fn matmul<T: Real>(dst: &mut [T], a: Mat<T>, b: Mat<T>, scale: T, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "matmul: inner dimensions differ");
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    // The last element each operand reads must lie inside its slice (the `gemm` call is unsafe).
    let last = |x: &Mat<T>| (x.rows - 1) * x.rs + (x.cols - 1) * x.cs;
    assert!(last(&a) < a.data.len() && last(&b) < b.data.len());
    let bf16 = BF16.with(std::cell::Cell::get);
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && !SERIAL.with(std::cell::Cell::get);
    if parallel && m * n * k >= ROWS_PAR_MIN && m >= 2 * ROW_BLOCK {
        // Rows of C split across the pool, each thread running the single-threaded product on
        // its rows: it packs its own rows of A and all of B again (`1/rows` of the product's
        // work). At large widths this ran faster than `gemm`'s own threads, and the bf16
        // kernel has no threads of its own.
        let chunk = m.div_ceil(threads).next_multiple_of(ROW_BLOCK);
        dst[..m * n]
            .par_chunks_mut(chunk * n)
            .enumerate()
            .for_each(|(i, d)| {
                let a = Mat {
                    data: &a.data[i * chunk * a.rs..],
                    rows: d.len() / n,
                    ..a
                };
                product(d, a, b, scale, accumulate, bf16, false)
            });
    } else {
        product(dst, a, b, scale, accumulate, bf16, parallel)
    }
}

/// Multiply-adds from which [`matmul`] splits a product's rows across the pool.
const ROWS_PAR_MIN: usize = 1 << 22;

/// Rows of C per thread come in multiples of this (the bf16 kernel's packed block of A).
const ROW_BLOCK: usize = bf16::MC;

/// One checked product on this thread: bf16 inputs with `bf16`, `gemm`'s own threads with
/// `threaded`.
fn product<T: Real>(
    dst: &mut [T],
    a: Mat<T>,
    b: Mat<T>,
    scale: T,
    accumulate: bool,
    bf16: bool,
    threaded: bool,
) {
    if bf16 {
        if let (Some(a), Some(b)) = (as_f32(a), as_f32(b)) {
            // SAFETY: T is f32 (checked by `as_f32`); the slice is `dst` itself.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut f32, dst.len()) };
            let scale = scale.to_f32().unwrap_or(f32::NAN);
            return bf16::matmul(dst, a, b, scale, accumulate);
        }
        // f64 (the tests' reference): the same products on inputs rounded to bf16 (through
        // f32, as the f32 path rounds them), summed in f64.
        let (ra, rb) = (rounded_to_bf16(a), rounded_to_bf16(b));
        let (a, b) = (Mat::new(&ra, a.rows, a.cols), Mat::new(&rb, b.rows, b.cols));
        return gemm_call(dst, a, b, scale, accumulate, threaded);
    }
    gemm_call(dst, a, b, scale, accumulate, threaded)
}

/// The elements of `m`, row-major, each rounded to bf16 and back.
fn rounded_to_bf16<T: Real>(m: Mat<T>) -> Vec<T> {
    let round = |v: T| {
        let r = bf16::from_bf16(bf16::to_bf16(v.to_f32().unwrap_or(f32::NAN)));
        T::from(r).unwrap_or_else(T::nan)
    };
    (0..m.rows)
        .flat_map(|i| (0..m.cols).map(move |j| round(m.data[i * m.rs + j * m.cs])))
        .collect()
}

/// [`matmul`] by the `gemm` crate, once its arguments are checked.
fn gemm_call<T: Real>(
    dst: &mut [T],
    a: Mat<T>,
    b: Mat<T>,
    scale: T,
    accumulate: bool,
    threaded: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let threads = rayon::current_num_threads();
    let parallelism = if threaded && threads > 1 && m * n * k >= 1 << 15 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the product touches is in bounds (checked by `matmul`), `dst` is not
    // aliased by `a` or `b` (a `&mut` and two `&`), and T is f32 or f64.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Calls `f(wide_offset, narrow_offset)` for every position `t` and window `j` of one sample
/// of a width-`k` "same" convolution whose source position is inside the sequence: row `t` of
/// the wide `(l, k·c)` matrix holds, in block `j`, row `t + j − k/2` of the narrow `(l, c)` one.
fn for_each_window(l: usize, c: usize, k: usize, mut f: impl FnMut(usize, usize)) {
    let half = k / 2;
    for t in 0..l {
        for j in 0..k {
            let Some(src) = (t + j).checked_sub(half).filter(|&s| s < l) else {
                continue;
            };
            f((t * k + j) * c, src * c);
        }
    }
}

/// Work below this many elements stays on one thread (splitting costs more than it saves).
const PAR_MIN: usize = 1 << 16;

/// im2col: `wide[(n,t), j·c..(j+1)·c] = narrow[(n, t + j − k/2), :]`, zero outside the sequence.
/// `narrow` is `(samples·l, c)`, `wide` `(samples·l, k·c)`.
pub fn im2col<T: Real>(narrow: &[T], wide: &mut [T], l: usize, c: usize, k: usize) {
    let per = l * c;
    let samples = narrow.len() / per;
    let wide = &mut wide[..samples * per * k];
    let half = k / 2;
    let run = |(wide, narrow): (&mut [T], &[T])| {
        for (t, row) in wide.chunks_mut(k * c).enumerate() {
            if t >= half && t + half < l {
                // An inner position's window is k consecutive rows of the input: one copy.
                row.copy_from_slice(&narrow[(t - half) * c..(t + half + 1) * c]);
            } else {
                // Near either end, the part of the window outside the sequence is zero.
                for (j, block) in row.chunks_mut(c).enumerate() {
                    match (t + j).checked_sub(half).filter(|&s| s < l) {
                        Some(s) => block.copy_from_slice(&narrow[s * c..(s + 1) * c]),
                        None => block.fill(T::zero()),
                    }
                }
            }
        }
    };
    if split(wide.len()) {
        wide.par_chunks_mut(per * k)
            .zip(narrow.par_chunks(per))
            .for_each(run);
    } else {
        wide.chunks_mut(per * k)
            .zip(narrow.chunks(per))
            .for_each(run);
    }
}

/// col2im, the adjoint of [`im2col`]: `narrow[(n,s), :] = Σ_j wide[(n, s − j + k/2), j·c..]`.
pub fn col2im<T: Real>(wide: &[T], narrow: &mut [T], l: usize, c: usize, k: usize) {
    let per = l * c;
    let samples = narrow.len() / per;
    let run = |(narrow, wide): (&mut [T], &[T])| {
        narrow.fill(T::zero());
        for_each_window(l, c, k, |w, n| {
            for (o, &v) in narrow[n..n + c].iter_mut().zip(&wide[w..w + c]) {
                *o += v;
            }
        });
    };
    let narrow = &mut narrow[..samples * per];
    if split(narrow.len() * k) {
        narrow
            .par_chunks_mut(per)
            .zip(wide.par_chunks(per * k))
            .for_each(run);
    } else {
        narrow
            .chunks_mut(per)
            .zip(wide.chunks(per * k))
            .for_each(run);
    }
}

/// `x ← max(x, 0)` (NaN stays NaN, so a diverging run still shows in its loss).
pub fn relu_in_place<T: Real>(x: &mut [T]) {
    // A select on every element, not a conditional store: it vectorises, and random signs
    // cost no branch mispredictions.
    let f = |v: &mut T| *v = if *v < T::zero() { T::zero() } else { *v };
    if split(x.len()) {
        x.par_iter_mut().for_each(f);
    } else {
        x.iter_mut().for_each(f);
    }
}

/// `dst ← max(src, 0)`: [`relu_in_place`] of a copy, in one pass.
pub fn relu_into<T: Real>(src: &[T], dst: &mut [T]) {
    assert_eq!(src.len(), dst.len(), "relu_into: lengths differ");
    let f = |(o, &v): (&mut T, &T)| *o = if v < T::zero() { T::zero() } else { v };
    if split(dst.len()) {
        dst.par_iter_mut().zip(src.par_iter()).for_each(f);
    } else {
        dst.iter_mut().zip(src).for_each(f);
    }
}

/// `x ← x · [mask > 0] · scale`.
pub fn mask_scale<T: Real>(x: &mut [T], mask: &[T], scale: T) {
    assert_eq!(x.len(), mask.len(), "mask_scale: lengths differ");
    // The product first, then a select: branch-free, so it vectorises (a branch on a ReLU
    // mask is a coin flip for the predictor).
    let f = |(v, &m): (&mut T, &T)| {
        let p = *v * scale;
        *v = if m > T::zero() { p } else { T::zero() }
    };
    if split(x.len()) {
        x.par_iter_mut().zip(mask.par_iter()).for_each(f);
    } else {
        x.iter_mut().zip(mask).for_each(f);
    }
}

/// `x ← x + scale · y · [mask > 0]`.
pub fn add_masked<T: Real>(x: &mut [T], y: &[T], mask: &[T], scale: T) {
    assert!(
        x.len() == y.len() && x.len() == mask.len(),
        "add_masked: lengths differ"
    );
    // Indexed over equal-length slices so that it vectorises (a three-way iterator zip did not).
    let f = |(x, (y, mask)): (&mut [T], (&[T], &[T]))| {
        let n = x.len();
        let (y, mask) = (&y[..n], &mask[..n]);
        for i in 0..n {
            let p = scale * y[i];
            x[i] += if mask[i] > T::zero() { p } else { T::zero() };
        }
    };
    if split(x.len()) {
        x.par_chunks_mut(PAR_MIN / 4)
            .zip(y.par_chunks(PAR_MIN / 4).zip(mask.par_chunks(PAR_MIN / 4)))
            .for_each(f);
    } else {
        f((x, (y, mask)));
    }
}

/// Every row of the `(·, bias.len())` matrix `x` set to `bias`.
pub fn fill_rows<T: Real>(x: &mut [T], bias: &[T]) {
    for row in x.chunks_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

/// `x_row ← x_row + scale · bias` for every row of the `(·, bias.len())` matrix `x`.
pub fn add_rows<T: Real>(x: &mut [T], bias: &[T], scale: T) {
    for row in x.chunks_mut(bias.len()) {
        for (o, &b) in row.iter_mut().zip(bias) {
            *o += scale * b;
        }
    }
}

/// `out[j] += scale · Σ_i x[i, j]` over the rows of `(·, out.len())` matrix `x`.
pub fn add_col_sums<T: Real>(out: &mut [T], x: &[T], scale: T) {
    let mut sums = vec![T::zero(); out.len()];
    for row in x.chunks(out.len()) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    for (o, s) in out.iter_mut().zip(sums) {
        *o += scale * s;
    }
}

/// Deterministic pseudo-random values in [−1, 1), for the kernels' tests and the step's.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_values as values;
    use super::*;

    #[test]
    fn matmul_matches_the_definition_for_every_transpose() {
        let (m, k, n) = (7, 5, 3);
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let expect: Vec<f64> = (0..m * n)
            .map(|i| (0..k).map(|p| a[(i / n) * k + p] * b[p * n + i % n]).sum())
            .collect();
        for (am, bm) in [
            (Mat::new(&a, m, k), Mat::new(&b, k, n)),
            (Mat::new(&at, k, m).t(), Mat::new(&b, k, n)),
            (Mat::new(&a, m, k), Mat::new(&bt, n, k).t()),
            (Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t()),
        ] {
            let mut dst = vec![1.0; m * n];
            matmul(&mut dst, am, bm, 2.0, true);
            for (d, e) in dst.iter().zip(&expect) {
                assert!((d - (1.0 + 2.0 * e)).abs() < 1e-12);
            }
            matmul(&mut dst, am, bm, 1.0, false);
            for (d, e) in dst.iter().zip(&expect) {
                assert!((d - e).abs() < 1e-12);
            }
        }
    }

    /// A product large enough to be split by rows across the pool equals the same product on
    /// one thread: f32 (`gemm`) to its rounding, and the bf16 kernel exactly (each row of C is
    /// the same sums in the same order), for A as rows and as a transposed view, rows that do
    /// not divide into the threads' blocks, with and without accumulation.
    #[test]
    fn a_product_split_by_rows_across_threads_equals_it_on_one_thread() {
        let (m, k, n) = (2 * ROW_BLOCK + 61, 131, 150);
        assert!(m * n * k >= ROWS_PAR_MIN);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool of 3 threads");
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let (a, b) = (f32s(values(m * k, 5)), f32s(values(k * n, 6)));
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let start = f32s(values(m * n, 7));
        let mut precisions = vec![Precision::F32];
        if bf16::available() {
            precisions.push(Precision::Bf16);
        }
        for precision in precisions {
            for am in [Mat::new(&a, m, k), Mat::new(&at, k, m).t()] {
                for accumulate in [false, true] {
                    let run = |split: bool| {
                        let mut dst = start.clone();
                        let product = || matmul(&mut dst, am, Mat::new(&b, k, n), 0.5, accumulate);
                        if split {
                            pool.install(|| threaded(precision, product));
                        } else {
                            serial(precision, product);
                        }
                        dst
                    };
                    let (split, whole) = (run(true), run(false));
                    let largest = whole.iter().fold(0f32, |x, v| x.max(v.abs()));
                    let tol = match precision {
                        Precision::Bf16 => 0.0,
                        _ => 1e-6 * largest,
                    };
                    for (x, y) in split.iter().zip(&whole) {
                        assert!((x - y).abs() <= tol, "{precision:?}: {x} vs {y}");
                    }
                    assert_ne!(split, start, "the product was computed");
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for any x, y: the defining property of the adjoint.
        let (samples, l, c, k) = (3, 6, 4, 5);
        let x = values(samples * l * c, 3);
        let y = values(samples * l * c * k, 4);
        let mut wide = vec![9.0; y.len()];
        im2col(&x, &mut wide, l, c, k);
        let mut narrow = vec![9.0; x.len()];
        col2im(&y, &mut narrow, l, c, k);
        let lhs: f64 = wide.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&narrow).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
        // The centre block is the input itself; the first block of position 0 is padding.
        assert_eq!(wide[2 * c..3 * c], x[..c]);
        assert!(wide[..c].iter().all(|&v| v == 0.0));
    }
}
