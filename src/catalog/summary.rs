//! One line about a run: what it trained on, its shape, how far it got, its best scores and
//! whether it is training, finished or diverged — read from its files, never written.
use serde::Serialize;

use super::records::read_metrics;
use super::Found;
use crate::run_dir::atomic::read_json;
use crate::run_dir::lock::live_holder;
use crate::run_dir::{DIVERGED, STATE};
use crate::train::checkpoint::{read_best, read_config_only, TrainState};
use crate::train::trainer::Diverged;

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// A live process holds its lock.
    Training,
    /// Stopped (its iterations or minutes done, or stopped by hand), checkpoint intact.
    Finished,
    /// A loss became NaN or infinite (`diverged.json`); the last checkpoint is intact.
    Diverged,
    /// Its files cannot be read: the reason is in `problem`.
    Corrupt,
}

/// A run as the page's table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    /// Its path as given on the command line.
    pub path: String,
    pub state: RunState,
    /// What is wrong, for a corrupt run (or a diverged one's message).
    pub problem: Option<String>,
    pub corpus: Option<String>,
    pub preset: Option<String>,
    pub dim: Option<usize>,
    pub res_blocks: Option<usize>,
    pub lipschitz: Option<String>,
    pub seed: Option<u64>,
    /// Generator iterations done (the checkpoint's, or the last evaluation's if newer).
    pub iterations: u64,
    /// Its `--iters` and `--minutes` budget.
    pub target_iters: Option<u64>,
    pub minutes: Option<f64>,
    /// Training seconds over all sessions.
    pub elapsed_secs: f64,
    pub evaluations: usize,
    /// The lowest JSD-4 at an evaluation, and the valid-word rate and iteration there.
    pub best_js4: Option<f64>,
    pub best_words: Option<f64>,
    pub best_iteration: Option<u64>,
}

/// Read what the table shows of `run`. Never fails: what cannot be read makes the run
/// [`RunState::Corrupt`] with the reason.
pub fn summarise(run: &Found) -> RunSummary {
    let dir = &run.path;
    let mut s = RunSummary {
        id: run.id.clone(),
        path: run.shown.display().to_string(),
        state: RunState::Finished,
        problem: None,
        corpus: None,
        preset: None,
        dim: None,
        res_blocks: None,
        lipschitz: None,
        seed: None,
        iterations: 0,
        target_iters: None,
        minutes: None,
        elapsed_secs: 0.0,
        evaluations: 0,
        best_js4: None,
        best_words: None,
        best_iteration: None,
    };
    if let Err(problem) = super::check_run_files(dir) {
        return corrupt(s, problem);
    }
    let config = match read_config_only(dir) {
        Ok(c) => c,
        Err(e) => return corrupt(s, e.to_string()),
    };
    s.corpus = Some(config.corpus.display().to_string());
    s.preset = Some(config.preset.name().to_string());
    s.dim = Some(config.model.dim);
    s.res_blocks = Some(config.model.res_blocks);
    s.lipschitz = Some(config.lipschitz.name().to_string());
    s.seed = Some(config.seed);
    s.target_iters = Some(config.iters);
    s.minutes = config.minutes;
    let state_file = dir.join(STATE);
    if state_file.is_file() {
        match read_json::<TrainState>(&state_file) {
            Ok(t) => {
                s.iterations = t.iteration;
                s.elapsed_secs = t.elapsed_secs;
            }
            Err(e) => return corrupt(s, e.to_string()),
        }
    }
    let metrics = read_metrics(dir, 0);
    s.evaluations = metrics.records.len();
    if let Some(last) = metrics.records.last() {
        if last.iteration >= s.iterations {
            s.iterations = last.iteration;
            s.elapsed_secs = last.elapsed_secs;
        }
    }
    if let Some(best) = metrics
        .records
        .iter()
        .min_by(|a, b| a.js[3].total_cmp(&b.js[3]))
    {
        s.best_js4 = Some(best.js[3]);
        s.best_words = best.valid_word_rate;
        s.best_iteration = Some(best.iteration);
    } else if let Ok(Some(best)) = read_best(dir) {
        s.best_js4 = Some(best.js[3]);
        s.best_words = best.valid_word_rate;
        s.best_iteration = Some(best.iteration);
    }
    if let Some(problem) = metrics.problem {
        return corrupt(s, problem);
    }
    if live_holder(dir).is_some() {
        s.state = RunState::Training;
    } else if let Ok(d) = read_json::<Diverged>(&dir.join(DIVERGED)) {
        s.state = RunState::Diverged;
        s.problem = Some(d.message);
    }
    s
}

fn corrupt(mut s: RunSummary, problem: String) -> RunSummary {
    s.state = RunState::Corrupt;
    s.problem = Some(problem);
    s
}
