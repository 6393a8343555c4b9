//! Drawing the dashboard from its state. Pure: the same state always draws the same screen.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Clear, Dataset, Gauge, GraphType, Paragraph};
use ratatui::Frame;

use super::state::Dashboard;
use crate::data::corpus::SEQ_LEN;
use crate::train::events::{format_duration, StopReason};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
pub const KEYS: &str = "q stop & save   p pause   s save now   r new samples   ? help";
const JSD_COLORS: [Color; 4] = [Color::Green, Color::Cyan, Color::Yellow, Color::Red];

pub fn draw(frame: &mut Frame, d: &Dashboard) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small ({}x{}): the dashboard needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\nEnlarge the window, or press q to stop and save.",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg).wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header, gauge, body, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, d);
    draw_progress(frame, gauge, d);
    let [samples, charts] =
        Layout::horizontal([Constraint::Length(SEQ_LEN as u16 + 4), Constraint::Min(30)])
            .areas(body);
    draw_samples(frame, samples, d);
    let [losses, jsd] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    draw_losses(frame, losses, d);
    draw_jsd(frame, jsd, d);
    frame.render_widget(
        Paragraph::new(KEYS).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if d.show_help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, d: &Dashboard) {
    let lines = match &d.info {
        None => vec![Line::from("starting…")],
        Some(i) => vec![
            Line::from(format!(
                "corpus {} ({} train / {} held-out lines, vocab {})  →  {}",
                i.corpus.display(),
                i.train_lines,
                i.heldout_lines,
                i.vocab,
                i.run_dir.display()
            )),
            Line::from(format!(
                "{}{} · {} preset · dim {} × {} blocks (k{}) · {} critic steps/iter · G {} / D {} params{}",
                i.device,
                // The slower path says so (and why); the usual one needs no words.
                if i.engine.starts_with("autograd") {
                    format!(" · {}", i.engine)
                } else {
                    String::new()
                },
                i.preset,
                i.dim,
                i.res_blocks,
                i.kernel,
                i.critic_iters,
                short_count(i.generator_params),
                short_count(i.critic_params),
                match &d.last_saved {
                    Some((it, at, _)) => format!(
                        " · checkpoint @ {it}, {} ago",
                        format_duration(d.session_secs - at)
                    ),
                    None => String::new(),
                }
            )),
        ],
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" textgan · WGAN-GP ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_progress(frame: &mut Frame, area: Rect, d: &Dashboard) {
    let target = d.info.as_ref().map(|i| i.target_iters).unwrap_or(0);
    let rate = d.secs_per_iter.map(|s| if s > 0.0 { 1.0 / s } else { 0.0 });
    let mut label = format!(
        "iteration {} / {} · {} it/s · elapsed {} · ETA {}",
        d.iteration(),
        target,
        rate.map(|r| format!("{r:.2}"))
            .unwrap_or_else(|| "–".into()),
        format_duration(d.session_secs),
        d.eta_secs()
            .map(format_duration)
            .unwrap_or_else(|| "–".into())
    );
    let state = match (d.finished, d.stopping, d.paused) {
        (Some(StopReason::Done), ..) => " · FINISHED",
        (Some(StopReason::TimeUp), ..) => " · TIME UP",
        (Some(StopReason::Stopped), ..) => " · STOPPED",
        (None, true, _) => " · STOPPING: saving a checkpoint…",
        (None, false, true) => " · PAUSED (p resumes)",
        _ => "",
    };
    label.push_str(state);
    let gauge = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(" progress "))
        .gauge_style(Style::new().fg(Color::Blue).bg(Color::Black))
        .ratio(d.progress())
        .label(label);
    frame.render_widget(gauge, area);
}

fn draw_samples(frame: &mut Frame, area: Rect, d: &Dashboard) {
    let title = match d.samples_iteration {
        Some(it) => format!(" samples @ {it} "),
        None => " samples ".to_string(),
    };
    let faint = Style::new().fg(Color::DarkGray);
    let lines: Vec<Line> = d
        .samples
        .iter()
        .map(|s| {
            let n = s.chars().count().min(SEQ_LEN);
            let text: String = s
                .chars()
                .take(SEQ_LEN)
                .map(|c| if c.is_control() { '�' } else { c })
                .collect();
            Line::from(vec![
                Span::raw(text),
                Span::styled("·".repeat(SEQ_LEN - n), faint),
            ])
        })
        .collect();
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Y bounds of the recent half of the series (the first iterations' transient would flatten
/// everything after it), padded by 5%.
fn y_bounds(series: &[&[(f64, f64)]]) -> [f64; 2] {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        let recent = if s.len() > 20 { &s[s.len() / 2..] } else { s };
        for &(_, y) in recent {
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    [lo - pad, hi + pad]
}

fn x_bounds(d: &Dashboard) -> [f64; 2] {
    let start = d.wasserstein.first().map(|p| p.0).unwrap_or(0.0);
    let end = (d.iteration() as f64).max(start + 1.0);
    [start, end]
}

fn axis_labels(b: [f64; 2], digits: usize) -> Vec<Span<'static>> {
    vec![
        Span::raw(format!("{:.*}", digits, b[0])),
        Span::raw(format!("{:.*}", digits, (b[0] + b[1]) / 2.0)),
        Span::raw(format!("{:.*}", digits, b[1])),
    ]
}

fn draw_losses(frame: &mut Frame, area: Rect, d: &Dashboard) {
    let datasets = vec![
        dataset("W estimate", Color::Cyan, &d.wasserstein),
        dataset("penalty", Color::Yellow, &d.penalty),
        dataset("G loss", Color::Magenta, &d.gen_loss),
    ];
    let xb = x_bounds(d);
    let yb = y_bounds(&[&d.wasserstein, &d.penalty, &d.gen_loss]);
    let last = d.last_step.as_ref().map(|s| {
        format!(
            " W {:+.3} · penalty {:.3} · |∇D| {} ",
            s.wasserstein,
            s.penalty,
            s.grad_norm_text()
        )
    });
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" critic & generator ")
                .title_bottom(last.unwrap_or_default()),
        )
        .x_axis(Axis::default().bounds(xb).labels(axis_labels(xb, 0)))
        .y_axis(Axis::default().bounds(yb).labels(axis_labels(yb, 2)));
    frame.render_widget(chart, area);
}

fn draw_jsd(frame: &mut Frame, area: Rect, d: &Dashboard) {
    let series: Vec<Vec<(f64, f64)>> = (0..4)
        .map(|n| {
            d.metrics
                .iter()
                .map(|m| (m.iteration as f64, m.js[n]))
                .collect()
        })
        .collect();
    let xb = x_bounds(d);
    let floors: Vec<Vec<(f64, f64)>> = match d.metrics.last() {
        Some(m) => (0..4)
            .map(|n| vec![(xb[0], m.floor_js[n]), (xb[1], m.floor_js[n])])
            .collect(),
        None => vec![],
    };
    let mut datasets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(n, s)| {
            Dataset::default()
                .name(format!("JSD-{}", n + 1))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(JSD_COLORS[n]))
                .data(s)
        })
        .collect();
    for (n, f) in floors.iter().enumerate() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(JSD_COLORS[n]).add_modifier(Modifier::DIM))
                .data(f),
        );
    }
    let title = match d.metrics.last() {
        Some(m) => match &m.raw {
            // With a weight average, its scores, then the raw generator's JSD-4.
            Some(r) => format!(
                " n-gram JSD (averaged G): {:.3} {:.3} {:.3} {:.3} · raw G {:.3} ",
                m.js[0], m.js[1], m.js[2], m.js[3], r.js[3]
            ),
            None => format!(
                " n-gram JSD vs corpus: {:.3} {:.3} {:.3} {:.3} (floor dotted) ",
                m.js[0], m.js[1], m.js[2], m.js[3]
            ),
        },
        None => " n-gram JSD vs corpus (at the first evaluation) ".into(),
    };
    let rates = d
        .metrics
        .last()
        .map(|m| match &m.raw {
            Some(r) => format!(
                " {} (raw G {}) ",
                m.rates_summary(),
                crate::train::events::percent(r.valid_word_rate)
            ),
            None => format!(" {} ", m.rates_summary()),
        })
        .unwrap_or_default();
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_bottom(rates),
        )
        .x_axis(Axis::default().bounds(xb).labels(axis_labels(xb, 0)))
        .y_axis(
            Axis::default()
                .bounds([0.0, 1.0])
                .labels(axis_labels([0.0, 1.0], 1)),
        );
    frame.render_widget(chart, area);
}

fn dataset<'a>(name: &'a str, color: Color, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(color))
        .data(data)
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("q / Ctrl-C  stop: save a checkpoint, then exit"),
        Line::from("p           pause / resume training"),
        Line::from("s           save a checkpoint now"),
        Line::from("r           show samples from new random noise"),
        Line::from("?           show / hide this help"),
        Line::from(""),
        Line::from("Samples come from a fixed noise batch, so the same lines sharpen."),
        Line::from("W estimate = mean D(real) − mean D(fake); JSD: 0 = corpus-like."),
    ];
    let w = 72.min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" keys ")
        .title_alignment(Alignment::Center);
    frame.render_widget(Paragraph::new(text).block(block), popup);
}

/// `186k`, `1.2M`.
fn short_count(n: usize) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}
