//! Figures of the study's tables as SVG (plotters; text stays text, so no font files are
//! needed): ROC curves of the test units at each level, and confusion matrices.

use melanoscope_shared::metrics::RocCurve;
use plotters::prelude::*;

const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the figure")]
    Draw(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("confusion matrix is not {0}×{0}")]
    Shape(usize),
}

fn err<E: std::error::Error + Send + Sync + 'static>(e: E) -> PlotError {
    PlotError::Draw(Box::new(e))
}

/// ROC curves, one per `(name, curve)`, with each curve's AUC in the legend.
pub fn roc_svg(title: &str, curves: &[(String, RocCurve)]) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (520, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(err)?;
        chart.configure_mesh().x_desc("1 − specificity").y_desc("sensitivity").draw().map_err(err)?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3))).map_err(err)?;
        for (i, (name, c)) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(c.fpr.iter().copied().zip(c.tpr.iter().copied()), colour.stroke_width(2)))
                .map_err(err)?
                .label(format!("{name} (AUC {:.3})", c.area()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A confusion matrix (rows: true class, columns: predicted) with counts in the cells.
pub fn confusion_svg(title: &str, classes: &[String], counts: &[Vec<u64>]) -> Result<String, PlotError> {
    let k = classes.len();
    if counts.len() != k || counts.iter().any(|r| r.len() != k) {
        return Err(PlotError::Shape(k));
    }
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let cell = 90i32;
    let (left, top) = (110i32, 60i32);
    let size = ((left + cell * k as i32 + 20) as u32, (top + cell * k as i32 + 50) as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let text =
            |s: &str, x: i32, y: i32, size: i32| Text::new(s.to_string(), (x, y), ("sans-serif", size).into_font());
        root.draw(&text(title, 10, 10, 18)).map_err(err)?;
        root.draw(&text("predicted →", left, top - 22, 13)).map_err(err)?;
        root.draw(&text("true ↓", 10, top - 22, 13)).map_err(err)?;
        for (r, row) in counts.iter().enumerate() {
            root.draw(&text(&classes[r], 10, top + r as i32 * cell + cell / 2 - 7, 14)).map_err(err)?;
            root.draw(&text(&classes[r], left + r as i32 * cell + 8, top + k as i32 * cell + 10, 14)).map_err(err)?;
            for (c, &n) in row.iter().enumerate() {
                let (x, y) = (left + c as i32 * cell, top + r as i32 * cell);
                let shade = 1.0 - 0.75 * n as f64 / max;
                let fill = RGBColor((255.0 * shade) as u8, (255.0 * shade) as u8, 255);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
                root.draw(&text(&n.to_string(), x + cell / 2 - 10, y + cell / 2 - 8, 16)).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
