//! Stage 3, training: the settings of a run ([`settings`], with the [`presets`] that give
//! their defaults), starting a new or resumed run ([`start`]), the optimisers ([`optim`]), the
//! loop ([`trainer`]), what it shows of itself ([`showcase`], [`evaluation`]) and tells its
//! displays ([`events`]), and its checkpoint ([`checkpoint`]); long jobs built on it report
//! through [`progress`].
//!
//! A trainer is made of parts: the [`networks`], their optimisers, the [`draws`] of training
//! (from the run's seed, [`crate::streams`]) and one [`engine`], chosen once: the hand-written
//! CPU step ([`crate::cpu_step`]) where it applies, candle's autograd
//! ([`crate::model::autograd`]) elsewhere; it says which ([`trainer::Trainer::engine`]).

pub mod checkpoint;
pub mod draws;
pub mod ema;
pub mod engine;
pub mod evaluation;
pub mod events;
pub mod networks;
pub mod optim;
pub mod presets;
pub mod progress;
pub mod settings;
pub mod showcase;
pub mod start;
pub mod trainer;

pub use trainer::Trainer;
