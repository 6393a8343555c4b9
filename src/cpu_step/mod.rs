//! The hand-written CPU execution path: both networks' training steps written out as direct
//! GEMMs on host buffers kept from step to step, the gradient penalty's exact gradient
//! (second-order term included) as one reverse pass. Same maths as the autograd reference
//! ([`crate::model::autograd`]), checked equal to it in the tests; about twice as fast on a CPU.
//!
//! [`crate::kernels`] (GEMM, masks) → [`res_stack`] (the residual blocks, forward, backward
//! and the input-gradient chain, in a padded layout where each convolution is one GEMM on a
//! view of its input), [`attention`] (the generator's self-attention, if any) and [`readout`]
//! (its autoregressive read-out, if any) →
//! [`critic`] and [`generator`] (one network each) → [`adapter`] (what the trainer calls, on
//! the networks' parameters).

pub mod adapter;
pub mod attention;
pub mod critic;
pub mod generator;
pub mod readout;
pub mod res_stack;
