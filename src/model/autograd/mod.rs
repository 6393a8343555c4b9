//! The reference execution path: both networks as candle tensor operations, differentiated by
//! candle's autograd, on any device (CPU, CUDA, Metal). The critic also writes out its own
//! input-gradient as differentiable operations, so the gradient penalty's exact gradient
//! (second-order term included) is one `backward()`.

pub mod attention;
pub mod conv;
pub mod critic;
pub mod generator;
pub mod layernorm;
pub mod linear;
pub mod readout;
pub mod resblock;
