//! SVG charts for reports and diagnostics, drawn with plotters.
//!
//! Every chart is rendered into a `String` (plotters' SVG backend writes `<text>` elements, so
//! no fonts are needed) and then written atomically with [`crate::run_dir::atomic::write_atomic`].
//! Non-finite values are skipped everywhere; degenerate data (no points, one point, all values
//! equal) still gives a valid chart. plotters 0.3 loops forever on an axis whose span overflows
//! f64, so values beyond ±`f64::MAX / 4` count as non-finite too, and a log axis spans at most
//! `MAX_DECADES` (300) decades below the largest value (smaller values are skipped).

use std::fmt::Display;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// One named line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const LINE_SIZE: (u32, u32) = (800, 480);
const PANEL_WIDTH: u32 = 800;
const PANEL_HEIGHT: u32 = 220;
/// Extra height of a histogram figure for its overall title.
const TITLE_HEIGHT: u32 = 40;
/// Series with at most this many points also get a marker on every point (so that a single
/// point, which draws no line, is visible).
const MAX_MARKED_POINTS: usize = 40;
const FONT: &str = "sans-serif";
/// Largest magnitude drawn on a linear axis: padded ranges stay well below `f64::MAX` wide.
const LIMIT: f64 = f64::MAX / 4.0;
/// Widest log axis, in decades (plotters needs `end / start` to be finite).
const MAX_DECADES: f64 = 300.0;

/// Whether `v` can be placed on a linear axis.
fn drawable(v: f64) -> bool {
    v.is_finite() && v.abs() <= LIMIT
}

/// Matplotlib's "tab10" colours; later series fall back to plotters' `Palette99`.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBAColor {
    match COLOURS.get(i) {
        Some(c) => c.to_rgba(),
        None => Palette99::pick(i).to_rgba(),
    }
}

/// A line chart of several series sharing axes; `log_y` draws the y axis on a log10 scale
/// (non-positive or non-finite y values are skipped; non-finite points are always skipped).
/// Axis ranges fit the data with a small margin; an empty chart (no finite points) still writes
/// a valid SVG with the title and "no data".
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let y_ok = |y: f64| {
        if log_y {
            y.is_finite() && y > 0.0
        } else {
            drawable(y)
        }
    };
    let mut kept: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| {
            let pts = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y)| drawable(x) && y_ok(y))
                .collect();
            (s.name.as_str(), pts)
        })
        .collect();
    let ys = || kept.iter().flat_map(|(_, p)| p.iter().map(|p| p.1));
    let y_range = if log_y {
        fit_log_range(ys())
    } else {
        fit_range(ys())
    };
    if let Some(y) = y_range.as_ref().filter(|_| log_y) {
        // Values more than MAX_DECADES below the largest fall off the log axis.
        for (_, pts) in &mut kept {
            pts.retain(|p| p.1 >= y.start);
        }
    }
    let x_range = fit_range(kept.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, LINE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
        match (x_range, y_range) {
            (Some(x), Some(y)) if log_y => {
                draw_lines(&root, title, x_label, y_label, &kept, x, y.log_scale())
            }
            (Some(x), Some(y)) => draw_lines(&root, title, x_label, y_label, &kept, x, y),
            _ => draw_no_data(&root, title),
        }
        .map_err(|e| draw_error(path, e))?;
        root.present().map_err(|e| draw_error(path, e))?;
    }
    write_svg(path, &svg)
}

/// Histograms of several groups of values, drawn as one panel per group stacked vertically
/// (same x range for all panels so they compare), `bins` equal-width bins over the overall
/// min..max of all finite values; y = share of that group's values in the bin.
pub fn histograms(
    path: &Path,
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    bins: usize,
) -> Result<()> {
    let bins = bins.max(1);
    let finite = || {
        groups
            .iter()
            .flat_map(|(_, v)| v.iter().copied().filter(|&v| drawable(v)))
    };
    // Bin edges span the data exactly; only an all-equal data set gets a made-up width.
    let bin_range =
        min_max(finite()).map(|(lo, hi)| if lo < hi { lo..hi } else { widen_point(lo) });

    let panels = u32::try_from(groups.len().max(1)).unwrap_or(u32::MAX);
    let height = PANEL_HEIGHT
        .saturating_mul(panels)
        .saturating_add(TITLE_HEIGHT);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PANEL_WIDTH, height)).into_drawing_area();
        draw_histograms(&root, title, x_label, groups, bins, bin_range)
            .map_err(|e| draw_error(path, e))?;
        root.present().map_err(|e| draw_error(path, e))?;
    }
    write_svg(path, &svg)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_error(path: &Path, e: impl Display) -> Error {
    Error::Runtime(format!("{}: drawing chart failed: {e}", path.display()))
}

fn write_svg(path: &Path, svg: &str) -> Result<()> {
    crate::run_dir::atomic::write_atomic_in_new_dir(path, svg.as_bytes())
}

/// Draw the chart frame, mesh, lines, markers and legend. `y` is a linear or log range.
fn draw_lines<DB, Y>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    x: Range<f64>,
    y: Y,
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    let mut labelled = false;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colour(i);
        let line = chart.draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?;
        if !name.is_empty() {
            labelled = true;
            line.label(*name).legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], c.stroke_width(2))
            });
        }
        if pts.len() <= MAX_MARKED_POINTS {
            chart.draw_series(PointSeries::<_, _, Circle<_, _>, _>::new(
                pts.iter().copied(),
                3,
                c.filled(),
            ))?;
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font((FONT, 14))
            .draw()?;
    }
    Ok(())
}

/// A chart without data: the title and "no data" in the middle.
fn draw_no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str) -> DrawResult<DB> {
    let inner = area.titled(title, (FONT, 22))?;
    draw_centred(&inner, "no data", 18)
}

/// Grey text in the middle of `area`.
fn draw_centred<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: u32,
) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let grey = BLACK.mix(0.6);
    let style = TextStyle::from((FONT, size).into_font())
        .color(&grey)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let half = |v: u32| i32::try_from(v / 2).unwrap_or(i32::MAX);
    area.draw_text(text, &style, (half(w), half(h)))
}

fn draw_histograms<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    bins: usize,
    bin_range: Option<Range<f64>>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let Some(range) = bin_range.filter(|_| !groups.is_empty()) else {
        return draw_no_data(root, title);
    };
    let body = root.titled(title, (FONT, 22))?;
    let x_axis = pad(range.clone());
    for (i, (panel, (name, values))) in body
        .split_evenly((groups.len(), 1))
        .iter()
        .zip(groups)
        .enumerate()
    {
        let counts = bin_counts(values, bins, &range);
        let n: usize = counts.iter().sum();
        let shares: Vec<f64> = counts
            .iter()
            .map(|&c| if n == 0 { 0.0 } else { c as f64 / n as f64 })
            .collect();
        let top = shares.iter().copied().fold(0.0, f64::max);
        let y_top = if top > 0.0 { (top * 1.1).min(1.0) } else { 1.0 };
        let caption = format!("{name} (n = {n})");

        let mut chart = ChartBuilder::on(panel)
            .caption(&caption, (FONT, 16))
            .margin(8)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x_axis.clone(), 0.0..y_top)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("share")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let c = colour(i);
        let edges = bin_edges(bins, &range);
        chart.draw_series(
            shares
                .iter()
                .zip(edges.windows(2))
                .filter(|(&s, _)| s > 0.0)
                .map(|(&s, e)| Rectangle::new([(e[0], 0.0), (e[1], s)], c.mix(0.7).filled())),
        )?;
        if n == 0 {
            draw_centred(&chart.plotting_area().strip_coord_spec(), "no data", 16)?;
        }
    }
    Ok(())
}

/// Counts of the finite `values` in `bins` equal-width bins over `range` (the last bin is closed).
fn bin_counts(values: &[f64], bins: usize, range: &Range<f64>) -> Vec<usize> {
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|&&v| drawable(v)) {
        let t = fraction(v, range);
        // `as` saturates (and maps NaN to 0); clamp puts v == max into the last bin.
        let b = ((t * bins as f64).floor() as usize).min(bins - 1);
        counts[b] += 1;
    }
    counts
}

fn bin_edges(bins: usize, range: &Range<f64>) -> Vec<f64> {
    (0..=bins)
        .map(|i| {
            let t = i as f64 / bins as f64;
            // Written so that it stays finite even when end - start overflows.
            range.start * (1.0 - t) + range.end * t
        })
        .collect()
}

/// Position of `v` in `range` as a fraction in 0..=1 (0 for an empty range).
fn fraction(v: f64, range: &Range<f64>) -> f64 {
    let t = (v - range.start) / (range.end - range.start);
    if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Smallest and largest finite value.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A range around a single value.
fn widen_point(v: f64) -> Range<f64> {
    let d = if v == 0.0 { 1.0 } else { v.abs() * 0.1 };
    (v - d)..(v + d)
}

/// `range` with a 5% margin on each side (overflow-safe).
fn pad(range: Range<f64>) -> Range<f64> {
    let m = range.end / 20.0 - range.start / 20.0;
    let lo = range.start - m;
    let hi = range.end + m;
    if lo.is_finite() && hi.is_finite() {
        lo..hi
    } else {
        range
    }
}

/// Axis range fitting the finite values with a margin; `None` without values.
fn fit_range(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = min_max(values)?;
    Some(if lo < hi {
        pad(lo..hi)
    } else {
        widen_point(lo)
    })
}

/// Log-axis range fitting the positive finite values with a margin (in decades), at most
/// [`MAX_DECADES`] wide; `None` without such values.
fn fit_log_range(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = min_max(values.filter(|&v| v > 0.0).map(f64::log10))?;
    let (lo, hi) = if lo < hi {
        let m = (hi - lo) * 0.05;
        (lo - m, hi + m)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    // Keep both ends positive, finite and at most MAX_DECADES apart.
    let hi = hi.min(f64::MAX.log10());
    let lo = lo.max(hi - MAX_DECADES).max(f64::MIN_POSITIVE.log10());
    Some(10f64.powf(lo)..10f64.powf(hi).min(f64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    fn assert_svg(text: &str) {
        let t = text.trim_start();
        assert!(t.starts_with("<svg") || t.starts_with("<?xml"), "{t:.80}");
        assert!(text.trim_end().ends_with("</svg>"));
    }

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn line_chart_two_series_has_title_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/loss.svg");
        let s = [
            series("critic loss", &[(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)]),
            series("generator loss", &[(0.0, -1.0), (1.0, -0.5), (2.0, 0.1)]),
        ];
        line_chart(&path, "Training losses", "step", "loss", &s, false).unwrap();
        let text = read(&path);
        assert_svg(&text);
        for needle in [
            "Training losses",
            "critic loss",
            "generator loss",
            "step",
            "<polyline",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        assert!(!text.contains("no data"));
        // No temp file left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn line_chart_escapes_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("esc.svg");
        let s = [series("a<b & c", &[(0.0, 1.0), (1.0, 2.0)])];
        line_chart(&path, "x < y", "x", "y", &s, false).unwrap();
        let text = read(&path);
        assert!(text.contains("a&lt;b &amp; c"));
        assert!(text.contains("x &lt; y"));
    }

    #[test]
    fn line_chart_log_y_skips_zero_and_nan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.svg");
        let s = [
            series(
                "gp",
                &[(0.0, 0.0), (1.0, f64::NAN), (2.0, 1e-3), (3.0, 10.0)],
            ),
            series("inf", &[(f64::INFINITY, 1.0), (4.0, -2.0)]),
        ];
        line_chart(&path, "Penalty (log)", "step", "gp", &s, true).unwrap();
        let text = read(&path);
        assert_svg(&text);
        assert!(text.contains("Penalty (log)"));
        assert!(text.contains("gp"));
        assert!(!text.contains("no data"));
        assert!(!text.contains("NaN") && !text.contains("inf\""));
    }

    #[test]
    fn line_chart_empty_and_degenerate() {
        let dir = tempfile::tempdir().unwrap();
        // No series at all, empty series, only non-finite points, log of non-positive values.
        for (i, (s, log_y)) in [
            (vec![], false),
            (vec![series("empty", &[])], false),
            (
                vec![series("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)])],
                false,
            ),
            (vec![series("neg", &[(0.0, -1.0), (1.0, 0.0)])], true),
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("empty{i}.svg"));
            line_chart(&path, "Nothing yet", "x", "y", &s, log_y).unwrap();
            let text = read(&path);
            assert_svg(&text);
            assert!(
                text.contains("Nothing yet") && text.contains("no data"),
                "case {i}"
            );
        }
        // One point, all-equal values, and extreme magnitudes still draw a chart.
        for (i, (s, log_y)) in [
            (vec![series("one", &[(3.0, 2.0)])], false),
            (vec![series("one", &[(3.0, 2.0)])], true),
            (
                vec![series("flat", &[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)])],
                false,
            ),
            (
                vec![series(
                    "huge",
                    &[(-4e307, -4e307), (4e307, 4e307), (1e308, 0.0)],
                )],
                false,
            ),
            (vec![series("wide", &[(0.0, 1e-300), (1.0, 1e300)])], true),
            (
                vec![series("widest", &[(0.0, 5e-324), (1.0, f64::MAX)])],
                true,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("degenerate{i}.svg"));
            line_chart(&path, "Degenerate", "x", "y", &s, log_y).unwrap();
            let text = read(&path);
            assert_svg(&text);
            assert!(
                text.contains("Degenerate") && !text.contains("no data"),
                "case {i}"
            );
            assert!(text.contains(&s[0].name), "case {i}");
        }
    }

    #[test]
    fn histograms_two_groups_have_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hist.svg");
        let groups = vec![
            (
                "real logits".to_string(),
                vec![0.1, 0.2, 0.2, 0.9, f64::NAN],
            ),
            ("fake logits".to_string(), vec![-1.0, -0.5, 0.0, 0.3]),
        ];
        histograms(&path, "Critic scores", "score", &groups, 10).unwrap();
        let text = read(&path);
        assert_svg(&text);
        for needle in [
            "Critic scores",
            "real logits (n = 4)",
            "fake logits (n = 4)",
            "share",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        assert!(text.contains("<rect"));
    }

    #[test]
    fn histograms_all_equal_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let equal = vec![("same".to_string(), vec![2.5; 7])];
        let path = dir.path().join("equal.svg");
        histograms(&path, "All equal", "v", &equal, 0).unwrap();
        let text = read(&path);
        assert_svg(&text);
        assert!(text.contains("All equal") && text.contains("same (n = 7)"));
        assert!(!text.contains("no data"));

        let cases: Vec<Vec<(String, Vec<f64>)>> = vec![
            vec![],
            vec![("none".to_string(), vec![])],
            vec![("nan".to_string(), vec![f64::NAN, f64::NEG_INFINITY])],
        ];
        for (i, groups) in cases.iter().enumerate() {
            let path = dir.path().join(format!("empty{i}.svg"));
            histograms(&path, "Empty hist", "v", groups, 5).unwrap();
            let text = read(&path);
            assert_svg(&text);
            assert!(
                text.contains("Empty hist") && text.contains("no data"),
                "case {i}"
            );
        }

        // Extreme magnitudes (plotters hangs on an axis span that overflows).
        let huge = vec![(
            "huge".to_string(),
            vec![-f64::MAX, -4e307, 0.0, 4e307, f64::MAX],
        )];
        let path = dir.path().join("huge.svg");
        histograms(&path, "Huge", "v", &huge, 4).unwrap();
        assert!(read(&path).contains("huge (n = 3)"));

        // One group empty, the other not: the empty panel says so.
        let mixed = vec![
            ("has data".to_string(), vec![1.0, 2.0, 3.0]),
            ("nothing".to_string(), vec![f64::NAN]),
        ];
        let path = dir.path().join("mixed.svg");
        histograms(&path, "Mixed", "v", &mixed, 3).unwrap();
        let text = read(&path);
        assert!(text.contains("has data (n = 3)") && text.contains("nothing (n = 0)"));
        assert!(text.contains("no data"));
    }

    #[test]
    fn bins_cover_range() {
        let r = 0.0..1.0;
        assert_eq!(
            bin_counts(&[0.0, 0.49, 0.5, 1.0, f64::NAN], 2, &r),
            vec![2, 2]
        );
        let r = -4e307..4e307;
        assert_eq!(
            bin_counts(&[-4e307, 0.0, 4e307, 1e308, f64::INFINITY], 2, &r),
            vec![1, 2]
        );
        assert!(bin_edges(4, &r).iter().all(|e| e.is_finite()));
    }
}
