//! Stage 3, training: the settings of a run ([`settings`], with the [`presets`] that give
//! their defaults), starting a new or resumed run ([`start`]), the optimisers ([`optim`]), the
//! loop ([`trainer`]), what it shows of itself ([`evaluation`]) and tells its displays
//! ([`events`]), and its checkpoint ([`checkpoint`]); long jobs built on it report through [`progress`].
//!
//! The trainer takes one of the two execution paths for every step: the hand-written CPU step
//! ([`crate::cpu_step`]) where it applies, candle's autograd ([`crate::model::autograd`])
//! elsewhere, and says which ([`trainer::Trainer::engine`]).

pub mod checkpoint;
pub mod ema;
pub mod evaluation;
pub mod events;
pub mod optim;
pub mod presets;
pub mod progress;
pub mod settings;
pub mod start;
pub mod trainer;

pub use trainer::Trainer;
