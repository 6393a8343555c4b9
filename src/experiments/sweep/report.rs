//! A sweep's report: `report.md` with the ranking (mean and range over seeds), one table and
//! one SVG chart per group, and the final samples, written from the results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::grid::GridEntry;
use super::options::SweepOptions;
use super::results::SweepRun;
use crate::error::Result;
use crate::experiments::plot::{self, Series};
use crate::train::events::percent;

/// One configuration's runs (one per seed) and their means.
struct Summary<'a> {
    entry: &'a GridEntry,
    runs: Vec<&'a SweepRun>,
    /// How many seeds the sweep asked for.
    seeds: usize,
}

impl Summary<'_> {
    /// JSD-4 at a mark over the seeds scored there: mean, lowest, highest, how many.
    fn jsd4(&self, minutes: f64) -> Option<(f64, f64, f64, usize)> {
        let v: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.at(minutes).map(|m| m.js[3]))
            .collect();
        if v.is_empty() {
            return None;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((mean, lo, hi, v.len()))
    }

    fn diverged(&self) -> usize {
        self.runs.iter().filter(|r| r.diverged_at.is_some()).count()
    }

    /// Every seed asked for was scored at the budget.
    fn complete(&self, budget: f64) -> bool {
        self.jsd4(budget).is_some_and(|j| j.3 == self.seeds)
    }

    /// "3", or "2 of 3 (1 diverged)" when some seed has no score at the budget.
    fn runs_cell(&self, budget: f64) -> String {
        let scored = self.jsd4(budget).map_or(0, |j| j.3);
        if scored == self.seeds {
            return scored.to_string();
        }
        match self.diverged() {
            0 => format!("{scored} of {}", self.seeds),
            d => format!("{scored} of {} ({d} diverged)", self.seeds),
        }
    }

    fn cell(&self, minutes: f64) -> String {
        match self.jsd4(minutes) {
            Some((mean, lo, hi, n)) if n > 1 => format!("{mean:.3} ({lo:.3}–{hi:.3})"),
            Some((mean, ..)) => format!("{mean:.3}"),
            None if self.diverged() > 0 => "diverged".into(),
            None => "–".into(),
        }
    }

    fn mean(&self, f: impl Fn(&SweepRun) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The JSD-4 curve against training minutes, averaged over the seeds that did not diverge
    /// (all of them if every one did) on a common grid of times, each seed's curve interpolated
    /// linearly between its evaluations.
    fn curve(&self) -> Vec<(f64, f64)> {
        let finished: Vec<&&SweepRun> = self
            .runs
            .iter()
            .filter(|r| r.diverged_at.is_none())
            .collect();
        let runs = if finished.is_empty() {
            self.runs.iter().collect()
        } else {
            finished
        };
        let curves: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| {
                r.metrics
                    .iter()
                    .map(|m| (m.elapsed_secs / 60.0, m.js[3]))
                    .collect()
            })
            .collect();
        if curves.len() == 1 {
            return curves.into_iter().next().unwrap_or_default();
        }
        let end = curves
            .iter()
            .filter_map(|c| c.last().map(|p| p.0))
            .fold(f64::INFINITY, f64::min);
        if !end.is_finite() {
            return Vec::new();
        }
        (0..=100)
            .map(|i| end * i as f64 / 100.0)
            .map(|t| {
                let ys: Vec<f64> = curves.iter().filter_map(|c| interpolate(c, t)).collect();
                (t, ys.iter().sum::<f64>() / ys.len().max(1) as f64)
            })
            .collect()
    }
}

/// `y` at `x` on a polyline with ascending `x`, clamped to its ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = points.first()?;
    if x <= first.0 {
        return Some(first.1);
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let f = if x1 > x0 { (x - x0) / (x1 - x0) } else { 1.0 };
            return Some(y0 + f * (y1 - y0));
        }
    }
    points.last().map(|p| p.1)
}

fn slug(group: &str) -> String {
    let s: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "all".into()
    } else {
        s
    }
}

/// `report.md` and the charts, from the results of the grid's lines.
pub fn write_report(
    opts: &SweepOptions,
    grid: &[GridEntry],
    marks: &[f64],
    results: &[SweepRun],
) -> Result<()> {
    let summaries: Vec<Summary> = grid
        .iter()
        .map(|entry| Summary {
            entry,
            runs: results.iter().filter(|r| r.name == entry.name).collect(),
            seeds: opts.seeds.len(),
        })
        .filter(|s| !s.runs.is_empty())
        .collect();
    let last = marks.last().copied().unwrap_or(opts.minutes);
    let mut groups: BTreeMap<usize, (&str, Vec<&Summary>)> = BTreeMap::new();
    for s in &summaries {
        // Groups in the order the grid first names them.
        let order = grid
            .iter()
            .position(|e| e.group == s.entry.group)
            .unwrap_or(0);
        groups
            .entry(order)
            .or_insert((&s.entry.group, Vec::new()))
            .1
            .push(s);
    }
    let mut charts = Vec::new();
    // One file per group, whatever their names: `[a b]` and `[a-b]` have the same slug.
    let mut taken = vec!["best".to_string()];
    for (group, members) in groups.values() {
        let base = slug(group);
        let name = (1..)
            .map(|i| {
                if i == 1 {
                    base.clone()
                } else {
                    format!("{base}-{i}")
                }
            })
            .find(|n| !taken.contains(n))
            .unwrap_or(base);
        taken.push(name.clone());
        let file = format!("jsd4_{name}.svg");
        let series: Vec<Series> = members
            .iter()
            .map(|s| Series {
                name: s.entry.name.clone(),
                points: s.curve(),
            })
            .collect();
        let title = if group.is_empty() {
            "JSD-4 vs training time".to_string()
        } else {
            format!("JSD-4 vs training time: {group}")
        };
        plot::line_chart(
            &opts.out.join(&file),
            &title,
            "minutes",
            "JSD-4",
            &series,
            false,
        )?;
        charts.push((group.to_string(), file));
    }
    // Complete configurations first (every seed scored at the budget), by mean JSD-4.
    let mut ranked: Vec<&Summary> = summaries.iter().collect();
    ranked.sort_by(|a, b| {
        let key = |s: &Summary| {
            let mean = s.jsd4(last).map_or(f64::INFINITY, |j| j.0);
            (!s.complete(last), mean)
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    let best: Vec<Series> = ranked
        .iter()
        .take(6)
        .map(|s| Series {
            name: s.entry.name.clone(),
            points: s.curve(),
        })
        .collect();
    plot::line_chart(
        &opts.out.join("jsd4_best.svg"),
        "JSD-4 vs training time: the six lowest at the end",
        "minutes",
        "JSD-4",
        &best,
        false,
    )?;
    let md = report(opts, marks, &summaries, &ranked, &charts);
    crate::run_dir::atomic::write_atomic(&opts.out.join("report.md"), md.as_bytes())
}

fn report(
    opts: &SweepOptions,
    marks: &[f64],
    summaries: &[Summary],
    ranked: &[&Summary],
    charts: &[(String, String)],
) -> String {
    let last = marks.last().copied().unwrap_or(opts.minutes);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Sweep: JSD-4 after {} minutes of training\n",
        opts.minutes
    );
    let _ = writeln!(md, "Made by:\n\n```\n{}\n```\n", opts.command);
    let seeds = opts
        .seeds
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        md,
        "Machine: {} ({} threads). textgan {}. Corpus `{}`. Every configuration trains for {} \
         minutes of training time (evaluations excluded) with seed{} {seeds}; the score at a \
         mark is the JSD-4 of {} samples at the first evaluation once training time reached \
         it (n-gram Jensen–Shannon divergence against the training lines, n = 4; 0 identical, \
         1 disjoint). With several seeds: their mean, and the lowest–highest in brackets.\n",
        crate::device::cpu_model(),
        rayon::current_num_threads(),
        env!("CARGO_PKG_VERSION"),
        opts.corpus.display(),
        opts.minutes,
        if opts.seeds.len() > 1 { "s" } else { "" },
        crate::train::evaluation::EVAL_SAMPLES,
    );
    if let Some(floor) = summaries
        .first()
        .and_then(|s| s.runs.first())
        .and_then(|r| r.metrics.first())
    {
        let _ = writeln!(
            md,
            "Held-out real text scores JSD-4 {:.3} against the same lines (the floor).\n",
            floor.floor_js[3]
        );
    }
    let mark_cols: String = marks
        .iter()
        .map(|m| format!(" JSD-4 @ {m} min |"))
        .collect();
    let header = format!(
        "| configuration | flags | seeds | s / iteration | iterations |{mark_cols} valid words @ {last} min |"
    );
    let rule = format!("|---|---|---|---|---|{}---|", "---|".repeat(marks.len()));
    let row = |s: &Summary| -> String {
        let cells: String = marks.iter().map(|&m| format!(" {} |", s.cell(m))).collect();
        format!(
            "| {} | `{}` | {} | {:.4} | {:.0} |{cells} {} |",
            s.entry.name,
            s.entry.flags,
            s.runs_cell(last),
            s.mean(|r| Some(r.secs_per_iter)).unwrap_or(f64::NAN),
            s.mean(|r| Some(r.iterations as f64)).unwrap_or(f64::NAN),
            percent(s.mean(|r| r.at(last).and_then(|m| m.valid_word_rate)))
        )
    };
    let _ = writeln!(md, "## Ranking at {last} minutes\n\n{header}\n{rule}");
    for s in ranked {
        let _ = writeln!(md, "{}", row(s));
    }
    let _ = writeln!(md, "\n![the six lowest](jsd4_best.svg)\n");
    for (group, file) in charts {
        let title = if group.is_empty() {
            "All configurations"
        } else {
            group
        };
        let _ = writeln!(md, "## {title}\n\n{header}\n{rule}");
        for s in summaries.iter().filter(|s| &s.entry.group == group) {
            let _ = writeln!(md, "{}", row(s));
        }
        let _ = writeln!(md, "\n![{title}]({file})\n");
    }
    let _ = writeln!(
        md,
        "## Final samples (fixed noise, seed {})\n",
        opts.seeds[0]
    );
    for s in ranked.iter().take(6) {
        if let Some(r) = s.runs.first() {
            let _ = writeln!(md, "**{}**\n\n```", s.entry.name);
            for line in &r.samples {
                let _ = writeln!(md, "{line}");
            }
            let _ = writeln!(md, "```\n");
        }
    }
    let _ = writeln!(
        md,
        "Numbers behind the tables and charts: `results/<configuration>.seed<S>.json` (every \
         evaluation of every run, its settings and last samples); the runs themselves: \
         `runs/<configuration>/seed<S>/`."
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_interpolate_between_evaluations_and_clamp_at_the_ends() {
        let pts = [(0.0, 1.0), (2.0, 0.5), (4.0, 0.25)];
        assert_eq!(interpolate(&pts, -1.0), Some(1.0));
        assert_eq!(interpolate(&pts, 1.0), Some(0.75));
        assert_eq!(interpolate(&pts, 3.0), Some(0.375));
        assert_eq!(interpolate(&pts, 9.0), Some(0.25));
        assert_eq!(interpolate(&[], 1.0), None);
    }
}
