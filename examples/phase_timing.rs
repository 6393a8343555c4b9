// Times the phases of a critic step (scratch tool while tuning).
use candle_core::{DType, Device, Tensor};
use std::time::Instant;
use textgan::config::RunConfig;
use textgan::nn::critic::Critic;
use textgan::nn::generator::Generator;
use textgan::nn::params::Store;
use textgan::optim::{Adam, AdamConfig};
use textgan::penalty::critic_loss;

fn main() -> anyhow::Result<()> {
    let dim: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64);
    let dev = Device::Cpu;
    let shape = RunConfig::shape_for(80, dim);
    let (g, _) = Generator::init(shape, Store::new(1, DType::F32, &dev))?;
    let (c, cp) = Critic::init(shape, Store::new(2, DType::F32, &dev))?;
    let mut opt = Adam::new(&cp, AdamConfig::paper())?;
    let b = 64;
    let real = candle_nn::ops::softmax(&Tensor::randn(0f32, 1.0, (b, 32, 80), &dev)?, 2)?;
    let mut t = [0f64; 5];
    for it in 0..12 {
        let s = Instant::now();
        let z = Tensor::randn(0f32, 1.0, (b, 128), &dev)?;
        let fake = g.forward(&z)?.detach();
        let eps = Tensor::rand(0f32, 1.0, b, &dev)?;
        let t0 = s.elapsed().as_secs_f64();
        let sc = c.forward(&Tensor::cat(&[&real, &fake], 0)?)?;
        let ta = s.elapsed().as_secs_f64();
        let xh = textgan::penalty::interpolate(&real, &fake, &eps)?;
        let _ = c.input_grad(&xh)?;
        let tb = s.elapsed().as_secs_f64();
        let _ = (ta, tb);
        drop(sc);
        let loss = critic_loss(&c, &real, &fake, &eps, 10.0)?;
        let _ = loss.total.to_scalar::<f32>()?;
        let t1 = s.elapsed().as_secs_f64() - (tb - t0);
        let grads = loss.total.backward()?;
        let t2 = s.elapsed().as_secs_f64();
        opt.step(&grads)?;
        let t3 = s.elapsed().as_secs_f64();
        if it >= 2 {
            t[0] += t0;
            t[1] += t1 - t0;
            t[2] += t2 - t1;
            t[3] += t3 - t2;
            t[4] += t3;
        }
    }
    println!("dim {dim}: per critic step  gen-fwd {:.1} ms  loss {:.1} ms  backward {:.1} ms  adam {:.1} ms  total {:.1} ms",
        t[0]*100.0, t[1]*100.0, t[2]*100.0, t[3]*100.0, t[4]*100.0);
    Ok(())
}
