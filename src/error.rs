//! Typed errors of the library. Every variant names the file (or flag) and what is wrong,
//! so the command line can print it as one line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The training corpus cannot be used.
    #[error("{}: {msg}", path.display())]
    Corpus { path: PathBuf, msg: String },

    /// A run directory or one of its files is missing, corrupt or does not match.
    #[error("{}: {msg}", path.display())]
    Checkpoint { path: PathBuf, msg: String },

    /// A setting that cannot work (e.g. `--dim 0`).
    #[error("invalid setting: {0}")]
    Config(String),

    /// Reading or writing a file failed. (The cause is part of the message, not a `source`,
    /// so that printing the error chain does not repeat it.)
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },

    /// Something outside the data went wrong: the terminal, a thread.
    #[error("{0}")]
    Runtime(String),

    /// A broken invariant inside textgan (buffers of mismatched sizes, mixing weights that do
    /// not fit the strategy): a bug, never the user's input. The message says what disagreed.
    #[error("internal error (a bug in textgan, please report it): {0}")]
    Internal(String),

    /// A tensor operation failed (shape mismatch, device error, ...).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),

    /// A network's parameters differ from its schema ([`crate::model::schema`]).
    #[error("model schema: {0}")]
    Schema(String),

    /// Training diverged (a loss or weight became NaN or infinite).
    #[error("{0}")]
    NonFinite(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn corpus(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Corpus {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn checkpoint(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err,
        }
    }
}
