//! Flags whose values are the library's own named types (preset, strategy, normalisation,
//! device, checkpoint, precision): each type lists its names and help, and one parser turns
//! them into clap's possible values, so the library needs no clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use textgan::device::DeviceChoice;
use textgan::kernels::Precision;
use textgan::model::penalty::Lipschitz;
use textgan::model::CriticNorm;
use textgan::train::checkpoint::Which;
use textgan::train::presets::Preset;

/// A library type with a fixed set of named values, as a flag's choices.
pub trait Choice: Copy + Send + Sync + 'static {
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
    fn help(self) -> &'static str;
}

macro_rules! choice {
    ($($t:ty),*) => {$(
        impl Choice for $t {
            fn all() -> &'static [Self] {
                &<$t>::ALL
            }
            fn name(self) -> &'static str {
                <$t>::name(self)
            }
            fn help(self) -> &'static str {
                <$t>::help(self)
            }
        }
    )*};
}
choice!(
    Preset,
    Lipschitz,
    CriticNorm,
    DeviceChoice,
    Which,
    Precision
);

/// The parser of a [`Choice`] flag: its names, each with its help, as clap's possible values.
pub fn choice<T: Choice>() -> impl TypedValueParser<Value = T> {
    let values = T::all()
        .iter()
        .map(|v| PossibleValue::new(v.name()).help(v.help()));
    PossibleValuesParser::new(values).try_map(|s: String| {
        T::all()
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown value {s}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_choices_parse_by_name_and_refuse_others() {
        let p = choice::<Lipschitz>();
        let cmd = clap::Command::new("t");
        let arg = clap::Arg::new("x");
        for l in Lipschitz::ALL {
            let v = p.parse_ref(&cmd, Some(&arg), std::ffi::OsStr::new(l.name()));
            assert_eq!(v.unwrap(), l);
        }
        assert!(p
            .parse_ref(&cmd, Some(&arg), std::ffi::OsStr::new("gpp"))
            .is_err());
    }
}
