//! textgan: the character-level WGAN-GP of "Improved Training of Wasserstein GANs"
//! (Gulrajani et al., 2017) on candle.
//!
//! The pipeline, one module each: [`corpus`] → [`vocab`] → [`nn`] (generator, critic) →
//! [`penalty`] → [`train`] (with [`optim`]) → [`checkpoint`] → [`generate`] / [`metrics`] ([`eval`], with a [`markov`] baseline);
//! [`events`] carries training progress to whoever displays it.

pub mod app;
pub mod bench;
pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod corpus;
pub mod critic_step;
pub mod device;
pub mod diagnose;
pub mod error;
pub mod eval;
pub mod events;
pub mod generate;
pub mod generator_step;
pub mod kernels;
pub mod markov;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod penalty;
pub mod plot;
pub mod res_stack;
pub mod run;
pub mod sweep;
pub mod train;
pub mod tui;
pub mod vocab;

pub use error::{Error, Result};
