//! The paper's clipping diagnostics, reproduced: clipped critics' weights pile up at ±c, and
//! the gradient reaching the input scales with c (vanishing for small c), while the penalised
//! critic's stays near 1.

use std::path::Path;

use candle_core::Device;
use textgan::experiments::diagnose::{diagnose, DiagnoseOptions};
use textgan::train::presets::Preset;
use textgan::train::progress::Progress;

#[test]
fn clipping_piles_weights_at_the_bound_and_scales_the_gradient_with_c() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DiagnoseOptions {
        corpus: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")),
        model: None,
        out: tmp.path().join("diag"),
        steps: 20,
        dim: Some(8),
        seed: 0,
    };
    let mut heard = Heard::default();
    let variants = diagnose(&opts, &Device::Cpu, &mut heard).unwrap();
    // A line per variant, and the share done climbing to the whole job, never back.
    assert_eq!(heard.lines.len(), 4, "{:?}", heard.lines);
    assert_eq!(heard.shares.len(), 4 * 20);
    assert!(
        heard.shares.windows(2).all(|w| w[0] <= w[1]),
        "{:?}",
        heard.shares
    );
    assert_eq!(heard.shares.last(), Some(&1.0));
    assert_eq!(
        heard.shares[19], 0.25,
        "the first variant is the first quarter"
    );
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["clip 0.1", "clip 0.01", "clip 0.001", "gp"]);
    for (v, c) in variants.iter().zip([0.1, 0.01, 0.001]) {
        let w = &v.diagnostics.weights;
        assert!(w.iter().all(|x| x.abs() <= c * (1.0 + 1e-6)), "{}", v.name);
        // He-initialised weights are far larger than 0.01: they are clipped to ±c, and RMSProp
        // steps (at most ~10·lr = 5e-4 each) only move them a little way back in.
        let near_bound = w.iter().filter(|x| x.abs() >= 0.9 * c).count();
        eprintln!(
            "{}: {near_bound} of {} weights within 10% of ±c",
            v.name,
            w.len()
        );
        if c <= 0.01 {
            assert!(
                near_bound * 10 >= w.len() * 8,
                "{}: {near_bound} of {}",
                v.name,
                w.len()
            );
        }
    }
    let gp = &variants[3].diagnostics;
    assert!(gp.weights.iter().filter(|x| x.abs() > 0.1).count() > gp.weights.len() / 10);
    // The gradient at the input shrinks with c (the clipped network's gain does), by orders
    // of magnitude; the penalised critic's is of order 1.
    let input_grad: Vec<f64> = variants
        .iter()
        .map(|v| v.diagnostics.layer_grad_norms[0])
        .collect();
    assert!(input_grad[0] > 10.0 * input_grad[1], "{input_grad:?}");
    assert!(input_grad[1] > 10.0 * input_grad[2], "{input_grad:?}");
    assert!((0.1..10.0).contains(&input_grad[3]), "{input_grad:?}");
    // One gradient norm per layer: input, input conv, the default preset's blocks.
    let layers = 2 + Preset::Cpu.values().res_blocks;
    assert!(variants
        .iter()
        .all(|v| v.diagnostics.layer_grad_norms.len() == layers));
    for f in [
        "weights.svg",
        "layer_grads.svg",
        "diagnostics.json",
        "layer_grads.csv",
    ] {
        let text = std::fs::read_to_string(opts.out.join(f)).unwrap();
        assert!(text.contains("clip 0.001") && text.contains("gp"), "{f}");
    }
}

/// What a diagnose run tells its listener.
#[derive(Default)]
struct Heard {
    lines: Vec<String>,
    shares: Vec<f64>,
}
impl Progress for Heard {
    fn line(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
    fn done(&mut self, share: f64) {
        self.shares.push(share);
    }
}
