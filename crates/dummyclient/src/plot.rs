//! `--plot FILE.svg`: the run's throughput and latency percentiles, second by second, as an
//! SVG chart (plotters' SVG backend; text is left to the viewer's fonts).
//!
//! ```text
//!   +------------------------------------------+
//!   | verified msgs/s, per second     msgs/s   |   one point per second of sending,
//!   +------------------------------------------+   from Report::timeline
//!   | latency us, per second          p50, p99 |
//!   +------------------------------------------+
//! ```

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use crate::stats::Report;
use crate::timeline::SecondPoint;

/// Width and height of the chart, in pixels.
const SIZE: (u32, u32) = (900, 640);

/// Writes `report`'s per-second chart to `path` as SVG.
///
/// # Errors
/// The file cannot be written.
pub fn write_svg(path: &Path, report: &Report) -> Result<(), Box<dyn Error>> {
    let points = &report.timeline;
    let latency = if report.info.rooms.is_some() {
        "fan-out us"
    } else {
        "latency us"
    };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    let seconds = points.len().max(1) as f64;
    let at = |p: &SecondPoint| p.second as f64 + 0.5;

    let top_rate = points.iter().map(|p| p.msgs_per_sec).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("verified msgs/s, per second", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..top_rate)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("msgs/s")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (at(p), p.msgs_per_sec)),
            BLUE.stroke_width(2),
        ))?
        .label("msgs/s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;

    let top_latency = points.iter().map(|p| p.p99_us).max().unwrap_or(0).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(format!("{latency}, per second"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..top_latency)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(latency)
        .draw()?;
    for (name, color, value) in [
        (
            "p50",
            GREEN,
            (|p: &SecondPoint| p.p50_us) as fn(&SecondPoint) -> u64,
        ),
        ("p99", RED, |p: &SecondPoint| p.p99_us),
    ] {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (at(p), value(p) as f64)),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
