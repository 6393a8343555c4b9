//! Studies built on training, each a command: the speed of one step ([`bench`](mod@bench)),
//! the four Lipschitz strategies side by side ([`compare`]), the paper's diagnostics of weight
//! clipping ([`diagnose`]), a grid of configurations at equal training time ([`sweep`]).
//! [`harness`] trains one run and records it for compare and sweep; [`plot`] draws their charts.

pub mod bench;
pub mod compare;
pub mod diagnose;
pub mod harness;
// The charts need plotters, part of the `cli` feature; the library alone writes placeholders.
#[cfg(feature = "cli")]
pub mod plot;
#[cfg(not(feature = "cli"))]
#[path = "plot_placeholder.rs"]
pub mod plot;
pub mod sweep;
