//! The weekly trend as an SVG chart, drawn with plotters' SVG backend.
//!
//! Four panels in a 2 × 2 grid, one per key, each a line over the trend's weeks (x: the
//! week's Monday, `MM-DD`; y: the key in its unit, from zero), with the last value written
//! next to its point and the key's class in the panel's caption:
//!
//! | panel | y |
//! |---|---|
//! | Deployment frequency | successful deployments per week (a partial week at the window's edge is scaled to 7 days) |
//! | Lead time for changes | the week's median, in hours (days when the longest is above 48 hours) |
//! | Change failure rate | percent of the week's completed deployments that failed |
//! | Recovery time | the week's median, in hours (days when the longest is above 48 hours) |
//!
//! A week without a value (no change shipped, no failure) leaves a gap in the line. Text is
//! written as SVG `<text>` in a generic `sans-serif` family: no font is read or embedded.

use chrono::TimeDelta;
use plotters::prelude::*;

use super::text::class_label;
use super::DoraReport;
use crate::error::DoraError;
use crate::policy::window::seconds_f64;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 700;

/// One panel: what it shows and its values per week.
struct Panel {
    caption: String,
    y_desc: &'static str,
    values: Vec<Option<f64>>,
    /// Formats a value for the annotation of the last point.
    unit: &'static str,
    colour: RGBColor,
    /// The y axis never shows less than this (so a flat zero line sits at the bottom).
    min_top: f64,
    /// The y axis never shows more than this (percentages stop at 100).
    max_top: f64,
}

fn render_error(e: impl std::fmt::Display) -> DoraError {
    DoraError::Render {
        format: "svg".to_owned(),
        reason: e.to_string(),
    }
}

/// Hours or days, whichever reads better for the longest of `durations`.
fn duration_axis(durations: &[Option<TimeDelta>]) -> (f64, &'static str, &'static str) {
    let longest = durations
        .iter()
        .flatten()
        .map(|d| seconds_f64(*d))
        .fold(0.0_f64, f64::max);
    if longest > 48.0 * 3_600.0 {
        (86_400.0, "days", "d")
    } else {
        (3_600.0, "hours", "h")
    }
}

fn panels(r: &DoraReport) -> [Panel; 4] {
    let weeks = &r.trend;
    let lead: Vec<Option<TimeDelta>> = weeks.iter().map(|w| w.lead_time_median).collect();
    let recovery: Vec<Option<TimeDelta>> = weeks.iter().map(|w| w.recovery_median).collect();
    let (lead_scale, lead_unit, lead_suffix) = duration_axis(&lead);
    let (rec_scale, rec_unit, rec_suffix) = duration_axis(&recovery);
    [
        Panel {
            caption: format!(
                "Deployment frequency · {}",
                class_label(r.deployment_frequency.class)
            ),
            y_desc: "successful deploys per week",
            values: weeks
                .iter()
                .map(|w| (w.days > 0).then(|| w.deployments as f64 * 7.0 / f64::from(w.days)))
                .collect(),
            unit: "",
            colour: RGBColor(31, 119, 180),
            min_top: 1.0,
            max_top: f64::INFINITY,
        },
        Panel {
            caption: format!("Lead time for changes · {}", class_label(r.lead_time.class)),
            y_desc: if lead_unit == "days" {
                "median lead time (days)"
            } else {
                "median lead time (hours)"
            },
            values: lead
                .iter()
                .map(|d| d.map(|d| seconds_f64(d) / lead_scale))
                .collect(),
            unit: lead_suffix,
            colour: RGBColor(148, 103, 189),
            min_top: 1.0,
            max_top: f64::INFINITY,
        },
        Panel {
            caption: format!(
                "Change failure rate · {}",
                class_label(r.change_failure_rate.class)
            ),
            y_desc: "failed deployments (%)",
            values: weeks
                .iter()
                .map(|w| w.change_failure_rate.map(|rate| rate * 100.0))
                .collect(),
            unit: "%",
            colour: RGBColor(214, 39, 40),
            min_top: 10.0,
            max_top: 100.0,
        },
        Panel {
            caption: format!("Recovery time · {}", class_label(r.recovery_time.class)),
            y_desc: if rec_unit == "days" {
                "median recovery (days)"
            } else {
                "median recovery (hours)"
            },
            values: recovery
                .iter()
                .map(|d| d.map(|d| seconds_f64(d) / rec_scale))
                .collect(),
            unit: rec_suffix,
            colour: RGBColor(255, 127, 14),
            min_top: 1.0,
            max_top: f64::INFINITY,
        },
    ]
}

/// A short number: `12`, `3.5`, `0.25`.
fn short(x: f64) -> String {
    if x >= 100.0 || (x - x.round()).abs() < 0.05 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

pub(super) fn render(r: &DoraReport) -> Result<String, DoraError> {
    let labels: Vec<String> = r
        .trend
        .iter()
        .map(|w| w.week.format("%m-%d").to_string())
        .collect();
    let title = format!(
        "{} · {} · overall {} ({} clusters) · weeks from Monday 00:00 {}",
        r.title, r.environment, r.overall, r.year, r.window.tz
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(render_error)?;
        let root = root
            .titled(&title, ("sans-serif", 20).into_font().color(&BLACK))
            .map_err(render_error)?;
        for (area, panel) in root.split_evenly((2, 2)).iter().zip(panels(r)) {
            draw_panel(area, &panel, &labels)?;
        }
        root.present().map_err(render_error)?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    labels: &[String],
) -> Result<(), DoraError>
where
    DB::ErrorType: 'static,
{
    // Segments 0..=last, one per week.
    let last = i32::try_from(labels.len().saturating_sub(1)).unwrap_or(i32::MAX);
    let finite = panel
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite());
    let highest = finite.fold(0.0_f64, f64::max);
    let top = (highest * 1.2)
        .max(panel.min_top)
        .min(panel.max_top.max(highest));
    // Only an absurd value (near f64::MAX) overflows the head room; fall back to no margin.
    let top = if top.is_finite() { top } else { highest };

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..last).into_segmented(), 0.0..top)
        .map_err(render_error)?;
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.get(i))
            .cloned()
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(240, 240, 240))
        .y_max_light_lines(1)
        // At most 13 week labels: more would overlap (plotters then labels every other one).
        .x_labels(labels.len().clamp(1, 13))
        .x_label_formatter(&label_of)
        .y_labels(6)
        .y_label_formatter(&|y| short(*y))
        .x_desc("week starting (MM-DD)")
        .y_desc(panel.y_desc)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(render_error)?;

    let points: Vec<Option<(SegmentValue<i32>, f64)>> = panel
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let i = i32::try_from(i).ok()?;
            v.filter(|v| v.is_finite())
                .map(|v| (SegmentValue::CenterOf(i), v))
        })
        .collect();
    let style = ShapeStyle::from(&panel.colour).stroke_width(2);
    // One line per run of weeks with a value: a week without one leaves a gap.
    for run in points.split(Option::is_none) {
        let run: Vec<(SegmentValue<i32>, f64)> = run.iter().flatten().cloned().collect();
        if run.len() > 1 {
            chart
                .draw_series(LineSeries::new(run, style))
                .map_err(render_error)?;
        }
    }
    chart
        .draw_series(
            points
                .iter()
                .flatten()
                .map(|(x, y)| Circle::new((x.clone(), *y), 4, panel.colour.filled())),
        )
        .map_err(render_error)?;
    if let Some((x, y)) = points.iter().flatten().last() {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x.clone(), *y))
                    + Text::new(
                        format!("{}{}", short(*y), panel.unit),
                        (-36, -22),
                        ("sans-serif", 14).into_font().color(&panel.colour),
                    ),
            ))
            .map_err(render_error)?;
    }
    if points.iter().all(Option::is_none) {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "no data in these weeks",
            (
                i32::try_from(w / 2).unwrap_or(0) - 70,
                i32::try_from(h / 2).unwrap_or(0),
            ),
            ("sans-serif", 15)
                .into_font()
                .color(&RGBColor(120, 120, 120)),
        ))
        .map_err(render_error)?;
    }
    Ok(())
}
