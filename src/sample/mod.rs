//! Stage 4, using a trained run: samples from its generator ([`generate`]), a walk between two
//! of them through the noise space ([`interpolate`]), and `textgan eval`, which scores samples
//! from a run, a file or a baseline against a corpus ([`eval`]).

pub mod eval;
pub mod generate;
pub mod interpolate;
