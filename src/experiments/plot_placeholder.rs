//! The charts' stand-in when the library is built without the `cli` feature (no plotters):
//! each chart file is still written, as a small SVG that says why it holds no chart, so the
//! reports' links resolve and the numbers (tables, CSV, JSON) are unaffected.

use std::path::Path;

use crate::error::Result;

/// One named line of a chart (the same as the charted build's).
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Writes the placeholder in place of a line chart.
pub fn line_chart(
    path: &Path,
    title: &str,
    _x_label: &str,
    _y_label: &str,
    _series: &[Series],
    _log_y: bool,
) -> Result<()> {
    placeholder(path, title)
}

/// Writes the placeholder in place of histograms.
pub fn histograms(
    path: &Path,
    title: &str,
    _x_label: &str,
    _groups: &[(String, Vec<f64>)],
    _bins: usize,
) -> Result<()> {
    placeholder(path, title)
}

fn placeholder(path: &Path, title: &str) -> Result<()> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"80\">\
         <text x=\"10\" y=\"30\" font-family=\"sans-serif\">{}</text>\
         <text x=\"10\" y=\"60\" font-family=\"sans-serif\">(not drawn: textgan was built \
         without its `cli` feature, which draws the charts)</text></svg>\n",
        escape(title)
    );
    crate::run_dir::atomic::write_atomic_in_new_dir(path, svg.as_bytes())
}
