//! `cargo bench --bench gemm`: the matrix-product kernels alone, on one thread as each shard of
//! the hand-written step runs them, on the step's shapes at widths 32, 128 and 512: f32 (the
//! `gemm` crate) against bf16 inputs with f32 sums ([`textgan::kernels::bf16`]), in GFLOP/s,
//! next to the register-only peak of one core for `vdpbf16ps` and for f32 FMA (the physical
//! limit of each, no memory traffic).

use std::time::Instant;

use textgan::kernels::{bf16, matmul, serial, Mat, Precision};

/// Seconds of the fastest of `reps` runs of `f`.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    /// 12 independent accumulators, `8·n` rounds: 96·n `vdpbf16ps` of 64 FLOP each (16 lanes ×
    /// 2 pairs × multiply-add) …
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub fn dpbf16(n: usize) -> f32 {
        let a: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(0x3f80_3f80)) };
        let b = a;
        let mut acc = [_mm512_setzero_ps(); 12];
        for _ in 0..n {
            // Only the operand passes through black_box: the accumulators stay in registers.
            let a = std::hint::black_box(a);
            for _ in 0..8 {
                for x in acc.iter_mut() {
                    *x = _mm512_dpbf16_ps(*x, a, b);
                }
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_ps(*x)).sum()
    }

    /// … and the same with f32 FMA (16 lanes × 2 FLOP each).
    #[target_feature(enable = "avx512f")]
    pub fn fma(n: usize) -> f32 {
        let a = _mm512_set1_ps(1.0);
        let mut acc = [_mm512_setzero_ps(); 12];
        for _ in 0..n {
            // Only the operand passes through black_box: the accumulators stay in registers.
            let a = std::hint::black_box(a);
            for _ in 0..8 {
                for x in acc.iter_mut() {
                    *x = _mm512_fmadd_ps(*x, a, a);
                }
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_ps(*x)).sum()
    }
}

fn main() {
    let have_bf16 = bf16::available();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let n = 250_000;
        // SAFETY: the features were detected just above.
        let s = best(3, || {
            std::hint::black_box(unsafe { peak::fma(n) });
        });
        println!(
            "peak, one core: f32 FMA {:.0} GFLOP/s",
            8.0 * 12.0 * n as f64 * 32.0 / s / 1e9
        );
        if have_bf16 {
            let s = best(3, || {
                std::hint::black_box(unsafe { peak::dpbf16(n) });
            });
            println!(
                "peak, one core: vdpbf16ps {:.0} GFLOP/s",
                8.0 * 12.0 * n as f64 * 64.0 / s / 1e9
            );
        }
    }
    {
        // One large f32 product on every thread of the pool against one thread: whether two
        // threads can run twice as fast here (two logical CPUs sharing a core cannot).
        let (m, k, n) = (2048, 2560, 512);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 97) as f32 / 97.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 89) as f32 / 89.0).collect();
        let mut c = vec![0f32; m * n];
        let flop = 2.0 * (m * k * n) as f64;
        let mut time = |serial_run: bool| {
            best(3, || {
                let mut run = || matmul(&mut c, Mat::new(&a, m, k), Mat::new(&b, k, n), 1.0, false);
                if serial_run {
                    serial(Precision::F32, run)
                } else {
                    run()
                }
            })
        };
        let (one, all) = (time(true), time(false));
        println!(
            "one f32 product {m} × {k} × {n}: 1 thread {:.0} GFLOP/s, {} threads {:.0} GFLOP/s ({:.2}×)",
            flop / one / 1e9,
            rayon::current_num_threads(),
            flop / all / 1e9,
            one / all
        );
    }
    println!("| width | product | m × k × n | f32 GFLOP/s | bf16 GFLOP/s | bf16 ÷ f32 time |");
    println!("|---|---|---|---|---|---|");
    // The step's convolution products on 64 samples of 32 positions in the padded layout
    // (2 zero rows after each sample, 2 before the first): every output row's window is a row
    // of an overlapping view of the input, `5·d` wide and `d` apart.
    let rows = 64 * (32 + 2) - 2;
    for d in [32usize, 128, 512] {
        let kd = 5 * d;
        let x: Vec<f32> = (0..(rows + 4) * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..kd * d)
            .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let g: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 31) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let mut out = vec![0f32; rows * d];
        let mut grad = vec![0f32; kd * d];
        let cases: [(&str, (usize, usize, usize)); 2] = [
            ("convolution: windows(x)·W", (rows, kd, d)),
            ("weight gradient: windows(x)ᵀ·g", (kd, rows, d)),
        ];
        for (name, (m, k, n)) in cases {
            let mut run = |p: Precision| {
                let reps = if d >= 512 { 3 } else { 20 };
                best(reps, || {
                    serial(p, || {
                        let windows = Mat::windows(&x, rows, kd, d);
                        if m == rows {
                            matmul(&mut out, windows, Mat::new(&w, k, n), 1.0, false)
                        } else {
                            matmul(&mut grad, windows.t(), Mat::new(&g, k, n), 1.0, true)
                        }
                    })
                })
            };
            let flop = 2.0 * (m * k * n) as f64;
            let f = run(Precision::F32);
            let (b, ratio) = if have_bf16 {
                let b = run(Precision::Bf16);
                (format!("{:.0}", flop / b / 1e9), format!("{:.2}", b / f))
            } else {
                ("–".into(), "–".into())
            };
            println!(
                "| {d} | {name} | {m} × {k} × {n} | {:.0} | {b} | {ratio} |",
                flop / f / 1e9
            );
        }
    }
}
