//! `--plot FILE.svg`: the run's throughput and latency percentiles, second by second, as an
//! SVG chart (plotters' SVG backend; text is left to the viewer's fonts).
//!
//! ```text
//!   +------------------------------------------+
//!   | verified msgs/s, per second              |   one point per second of sending,
//!   +------------------------------------------+   from Report::timeline (see
//!   | latency µs, per second        [p50, p99] |   timeline::Timeline::points)
//!   +------------------------------------------+
//! ```
//!
//! Only SVG: plotters' bitmap backend needs a font to draw text, from system libraries
//! (fontconfig, freetype: its `ttf` feature) or a font file shipped with the program (its
//! `ab_glyph` feature). So another file name is refused when the flags are read
//! ([`svg_path`]), with the one-line conversion to PNG.

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::Report;
use crate::timeline::TimelinePoint;

/// Width and height of the chart, in pixels.
const SIZE: (u32, u32) = (900, 640);

/// Room above the highest value, as a factor: the top 2/7 of each chart stays free for the
/// legend (about a fifth of a chart's height), which so never covers a line.
const HEADROOM: f64 = 1.4;

/// `--plot`'s value parser: a file name ending in `.svg` (any case).
///
/// # Errors
/// Any other name, with the conversion to PNG.
pub fn svg_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        return Ok(path);
    }
    let stem = path.with_extension("svg");
    Err(format!(
        "the chart is written as SVG only: name the file .svg, e.g. {} (for a PNG, convert it: \
         rsvg-convert {} -o {})",
        stem.display(),
        stem.display(),
        path.with_extension("png").display()
    ))
}

/// Writes `report`'s per-second chart to `path` as SVG.
///
/// # Errors
/// The file cannot be written.
pub fn write_svg(path: &Path, report: &Report) -> Result<(), Box<dyn Error>> {
    let points = &report.timeline;
    let latency = if report.info.rooms.is_some() {
        "fan-out µs"
    } else {
        "latency µs"
    };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    let seconds = points
        .last()
        .map_or(1.0, |p| p.t + p.width_s)
        .max(report.info.duration_secs)
        .max(1e-3);

    let rate: Series<'_> = ("msgs/s", BLUE, |p| p.msgs_per_s);
    let caption = "verified msgs/s, per second";
    chart(&top, caption, "msgs/s", seconds, points, &[rate], false)?;

    let p50: Series<'_> = ("p50", GREEN, |p| p.p50_us as f64);
    let p99: Series<'_> = ("p99", RED, |p| p.p99_us as f64);
    let caption = format!("{latency}, per second");
    chart(
        &bottom,
        &caption,
        latency,
        seconds,
        points,
        &[p50, p99],
        true,
    )?;
    root.present()?;
    Ok(())
}

/// One series: its name, colour, and value of a point.
type Series<'a> = (&'a str, RGBColor, fn(&TimelinePoint) -> f64);

/// Draws one chart of `series` over `seconds` into `area`; a legend (top right, in the
/// headroom) if `legend`.
fn chart(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    unit: &str,
    seconds: f64,
    points: &[TimelinePoint],
    series: &[Series<'_>],
    legend: bool,
) -> Result<(), Box<dyn Error>> {
    let highest = series
        .iter()
        .flat_map(|(_, _, value)| points.iter().map(value))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..seconds, 0.0..highest * HEADROOM)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(unit)
        .x_label_formatter(&|x| axis_number(*x))
        .y_label_formatter(&|y| axis_number(*y))
        .draw()?;
    let middle = |p: &TimelinePoint| p.t + p.width_s / 2.0;
    for &(name, color, value) in series {
        let at = |p: &TimelinePoint| (middle(p), value(p));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(at),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        // Dots too: a one-point run has no line to draw.
        chart.draw_series(points.iter().map(|p| Circle::new(at(p), 3, color.filled())))?;
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
    }
    Ok(())
}

/// An axis label: whole numbers with thousands separators (`120,000`, not `120000.0`), and
/// at most two decimals below 10 (`0.25`, `2.5`).
pub fn axis_number(value: f64) -> String {
    if value.abs() < 10.0 && value.fract().abs() > 1e-9 {
        let text = format!("{value:.2}");
        return text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < -0.5 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_read_like_numbers() {
        let cases = [
            (0.0, "0"),
            (120_000.0, "120,000"),
            (1_234_567.0, "1,234,567"),
            (999.0, "999"),
            (1000.0, "1,000"),
            (2.5, "2.5"),
            (0.25, "0.25"),
            (3.0, "3"),
            (12.4, "12"),
            (-4000.0, "-4,000"),
        ];
        for (value, text) in cases {
            assert_eq!(axis_number(value), text, "{value}");
        }
    }

    #[test]
    fn only_svg_file_names_are_taken() {
        assert_eq!(svg_path("run.svg"), Ok(PathBuf::from("run.svg")));
        assert_eq!(svg_path("out/RUN.SVG"), Ok(PathBuf::from("out/RUN.SVG")));
        for bad in ["run.png", "run", "run.svg.png"] {
            let err = svg_path(bad).unwrap_err();
            assert!(err.contains("SVG only"), "{err}");
            assert!(err.contains("rsvg-convert"), "{err}");
        }
        assert!(svg_path("run.png").unwrap_err().contains("e.g. run.svg"));
    }
}
