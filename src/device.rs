//! `--device auto|cpu|cuda|metal`. GPU backends exist only when built with the cargo feature
//! of the same name (they forward to candle's).

use candle_core::Device;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA if built in and present, else Metal if built in and present, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 4] = [
        DeviceChoice::Auto,
        DeviceChoice::Cpu,
        DeviceChoice::Cuda,
        DeviceChoice::Metal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Metal => "metal",
        }
    }

    /// What the choice means, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            DeviceChoice::Auto => {
                "CUDA if built in and present, else Metal if built in and present, else the CPU"
            }
            DeviceChoice::Cpu => "The CPU (the hand-written step where it applies)",
            DeviceChoice::Cuda => "The first CUDA GPU (needs a build with --features cuda)",
            DeviceChoice::Metal => "The Metal GPU (needs a build with --features metal)",
        }
    }
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

/// Keep freed tensor buffers inside the process (glibc only; elsewhere a no-op).
///
/// A training step allocates and frees the same few-megabyte buffers hundreds of times. By
/// default glibc serves some of them with fresh `mmap`s and gives freed memory at the top of
/// the heap back to the kernel, so the next step page-faults it in again (zeroed): on a 2-core
/// CPU that was up to half of a critic step. A 32 MB mmap threshold and a 1 GB trim threshold
/// keep the memory for reuse; the peak RSS grows by about 5%.
pub fn tune_host_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The CPU's model name, from `/proc/cpuinfo` where there is one.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
