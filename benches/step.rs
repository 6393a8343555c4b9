//! `cargo bench`: the measurement of `textgan bench --ema 0 --autoregressive 0` (the paper's
//! step) — every width × Lipschitz strategy, each timed in its own process of the release
//! binary. `TEXTGAN_BENCH_DIMS=64,128` picks widths, `TEXTGAN_BENCH_PRECISION=bf16` the bf16
//! products.

use std::path::Path;

use textgan::experiments::bench::{self, BenchOptions};
use textgan::model::penalty::Lipschitz;

fn main() {
    let dims: Vec<usize> = std::env::var("TEXTGAN_BENCH_DIMS")
        .ok()
        .map(|s| s.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .unwrap_or_else(|| bench::SUITE_DIMS.to_vec());
    let base = BenchOptions {
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/wordnet.txt"),
        dim: 0,
        res_blocks: textgan::model::RES_BLOCKS,
        kernel: textgan::model::PAPER_KERNEL,
        critic_iters: 10,
        batch: 64,
        lipschitz: Lipschitz::Gp,
        warmup: 1,
        iters: 3,
        autograd: false,
        // The paper's step: its preset keeps no weight average.
        ema: textgan::train::presets::Preset::Paper.values().ema,
        autoregressive: textgan::train::presets::Preset::Paper
            .values()
            .autoregressive,
        precision: match std::env::var("TEXTGAN_BENCH_PRECISION").as_deref() {
            Ok("bf16") => textgan::kernels::Precision::Bf16,
            _ => textgan::kernels::Precision::F32,
        },
    };
    let strategies = [Lipschitz::Gp, Lipschitz::Lp, Lipschitz::Fd, Lipschitz::Clip];
    println!("{}", bench::TABLE_HEADER);
    let exe = Path::new(env!("CARGO_BIN_EXE_textgan"));
    let result = bench::suite(exe, &base, &dims, &strategies, &mut |r| {
        println!("{}", bench::table_row(r))
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
