//! textgan: the character-level WGAN-GP of "Improved Training of Wasserstein GANs"
//! (Gulrajani et al., 2017) on candle.
//!
//! The pipeline, one folder a stage, in order:
//!
//! 1. [`data`] — the corpus, its vocabulary, and the batches and noise a step draws;
//! 2. [`model`] — the shape and parameter schema of both networks, and the critic's loss;
//! 3. [`train`] — settings and presets, the optimisers, the loop, its checkpoint and events;
//! 4. [`sample`] — generating text from a trained run, and scoring it ([`quality`]).
//!
//! Every training step takes one of two execution paths with the same maths: the
//! **autograd reference** ([`model::autograd`], candle tensors on any device, differentiated
//! by candle) or the **hand-written CPU step** ([`cpu_step`], direct GEMMs, about twice as
//! fast; both use the plain-slice [`kernels`]). [`run_dir`] keeps what a run writes crash-safe and
//! [`streams`] names every random stream a run draws from; [`experiments`] are the studies built
//! on training (bench, compare, diagnose, sweep); [`tui`] is the live dashboard and
//! [`plain_log`] the plain one, two consumers of the same training events. [`catalog`] finds and
//! reads the runs and reports under some folders, and `serve` shows them on a local web page.
//!
//! The default `cli` feature adds what only the program needs (argument parsing, the
//! dashboard, progress bars, charts, signal handling); without it the library builds alone.

pub mod error;
pub mod kernels;

pub mod catalog;
pub mod cpu_step;
pub mod data;
pub mod experiments;
pub mod model;
pub mod quality;
pub mod run_dir;
pub mod sample;
pub mod streams;
pub mod train;

pub mod device;
pub mod plain_log;
#[cfg(feature = "cli")]
pub mod serve;
#[cfg(feature = "cli")]
pub mod tui;

pub use error::{Error, Result};
