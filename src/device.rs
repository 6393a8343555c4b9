//! `--device auto|cpu|cuda|metal`. GPU backends exist only when built with the cargo feature
//! of the same name (they forward to candle's).

use candle_core::Device;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// CUDA if built in and present, else Metal if built in and present, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Metal,
}

pub fn select(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => {
            if !cfg!(feature = "cuda") {
                return Err(Error::Config(
                    "--device cuda: this textgan was built without CUDA; rebuild with `cargo build --release --features cuda`".into(),
                ));
            }
            Device::new_cuda(0)
                .map_err(|e| Error::Config(format!("--device cuda: no usable CUDA device ({e})")))
        }
        DeviceChoice::Metal => {
            if !cfg!(feature = "metal") {
                return Err(Error::Config(
                    "--device metal: this textgan was built without Metal; rebuild with `cargo build --release --features metal`".into(),
                ));
            }
            Device::new_metal(0)
                .map_err(|e| Error::Config(format!("--device metal: no usable Metal device ({e})")))
        }
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if cfg!(feature = "metal") {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// `cpu`, `cuda:0`, `metal:0`.
pub fn name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal:0".into(),
    }
}
