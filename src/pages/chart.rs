//! Charts drawn on the server as inline SVG: axes, labels, a title, and a text
//! alternative that says what the chart shows. No script, no library.

use std::fmt::Write;

/// One bar or point: its label (a week's Monday) and its value.
pub struct Point {
    pub label: String,
    pub value: f64,
}

pub enum Kind {
    Bars,
    Line,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round step for about four gridlines up to `max`.
fn step(max: f64) -> f64 {
    let rough = (max / 4.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= rough).unwrap_or(rough)
}

/// An SVG chart of `points` (oldest first), `unit` naming the values; `id` makes its
/// title and description addressable.
pub fn svg(id: &str, title: &str, unit: &str, kind: Kind, points: &[Point]) -> String {
    let (id, title, unit) = (escape(id), escape(title), escape(unit));
    let summary = match points.iter().max_by(|a, b| a.value.total_cmp(&b.value)) {
        None => "No runs yet.".to_owned(),
        Some(best) => format!(
            "{} weeks from {} to {}; highest {:.1} {unit} in the week of {}.",
            points.len(),
            escape(&points[0].label),
            escape(&points[points.len() - 1].label),
            best.value,
            escape(&best.label)
        ),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc><text class="chart-title" x="{LEFT}" y="20">{title} ({unit})</text>"#
    );
    let max = points.iter().map(|p| p.value).fold(0.0, f64::max);
    let step = step(max);
    let top = (max / step).ceil().max(1.0) * step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    for i in 0..=((top / step).round() as usize) {
        let tick = i as f64 * step;
        let (right, at, label_x, label_y) = (WIDTH - RIGHT, y(tick), LEFT - 6.0, y(tick) + 4.0);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{right}" y1="{at:.1}" y2="{at:.1}"/><text class="tick" x="{label_x}" y="{label_y:.1}" text-anchor="end">{tick:.decimals$}</text>"#,
        );
    }
    let _ = write!(out, r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}"/>"#, TOP + plot_h);
    let slot = plot_w / points.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let every = points.len().div_ceil(6).max(1);
    for (i, point) in points.iter().enumerate() {
        if i % every == 0 || i + 1 == points.len() {
            let label = escape(point.label.get(5..).unwrap_or(&point.label));
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
                x(i),
                HEIGHT - BOTTOM + 18.0
            );
        }
    }
    match kind {
        Kind::Bars => {
            for (i, point) in points.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {:.1} {unit}</title></rect>"#,
                    x(i) - slot * 0.35,
                    y(point.value),
                    slot * 0.7,
                    TOP + plot_h - y(point.value),
                    escape(&point.label),
                    point.value
                );
            }
        }
        Kind::Line => {
            let path: Vec<String> =
                points.iter().enumerate().map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.value))).collect();
            let _ = write!(out, r#"<polyline class="line" points="{}"/>"#, path.join(" "));
            for (i, point) in points.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="4"><title>{}: {:.1} {unit}</title></circle>"#,
                    x(i),
                    y(point.value),
                    escape(&point.label),
                    point.value
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_say_what_they_show() {
        let points = vec![
            Point { label: "2024-01-01".into(), value: 12.5 },
            Point { label: "2024-01-08".into(), value: 30.0 },
        ];
        let bars = svg("distance", "Weekly distance", "km", Kind::Bars, &points);
        assert!(
            bars.contains(r#"role="img""#)
                && bars.contains("<title id=\"distance-title\">Weekly distance</title>")
        );
        assert!(
            bars.contains(
                "2 weeks from 2024-01-01 to 2024-01-08; highest 30.0 km in the week of 2024-01-08."
            )
        );
        assert_eq!(bars.matches("<rect").count(), 2);
        assert!(svg("s", "Speed", "km/h", Kind::Line, &points).contains("<polyline"));
        assert!(
            svg("e", "<b>", "km", Kind::Bars, &[]).contains("No runs yet.")
                && !svg("e", "<b>", "km", Kind::Bars, &[]).contains("<b>")
        );
        assert_eq!(step(30.0), 10.0);
        assert_eq!(step(7.0), 2.0);
    }
}
