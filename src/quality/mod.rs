//! How text-like samples are: the n-gram Jensen–Shannon divergence the paper's code monitors
//! and the word rates ([`metrics`]), and a character Markov chain as the baseline to beat
//! ([`markov`]). Training scores itself with these; so does `textgan eval`.

pub mod markov;
pub mod metrics;
