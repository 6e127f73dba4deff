//! `results.png`: greenws's per-round advantage over the two async servers,
//! one bar per row (the median ratio) with a whisker from the lowest to the
//! highest round, on a log scale so that 0.5x and 2x are as far from 1x.

use std::path::Path;

use benches::stats::Summary;

use crate::contenders::{FASTWS, TOKIO};
use crate::table::Outcome;
use crate::workloads::Better;

struct Bar {
    label: String,
    against: [Option<Summary>; 2],
}

/// Rows worth a bar: every ratio metric, but only p99 of the open loop.
fn bars(outcomes: &[Outcome]) -> Vec<Bar> {
    let mut bars = Vec::new();
    for o in outcomes {
        let short = o.workload.title.split(',').next().unwrap_or("").to_string();
        for m in &o.workload.metrics {
            if m.better == Better::Neither
                || (m.invalid_if.is_some() && !m.key.ends_with(".p99_ms"))
            {
                continue;
            }
            let greenws = o.setup.greenws();
            let against = [TOKIO, FASTWS].map(|other| o.ratio(greenws, other, m));
            if against.iter().any(Option::is_some) {
                bars.push(Bar {
                    label: format!("{}: {short}: {}", o.setup.name(), m.label),
                    against,
                });
            }
        }
    }
    bars
}

pub fn draw(outcomes: &[Outcome], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let bars = bars(outcomes);
    if bars.is_empty() {
        return Err("nothing to draw".into());
    }
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or("no TrueType font found (install fonts-dejavu-core)")?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font could not be loaded")?;
    // The scale: 1/top .. top, log2, 1x in the middle.
    let top = bars
        .iter()
        .flat_map(|b| {
            b.against
                .iter()
                .flatten()
                .flat_map(|s| [s.max, 1.0 / s.min])
        })
        .filter(|v| v.is_finite())
        .fold(2.0f64, f64::max)
        .log2()
        .ceil()
        .exp2()
        .min(16.0);
    let (width, row_height, x0, x1, y0) = (1400i32, 40i32, 640i32, 1340i32, 70i32);
    let height = y0 + row_height * bars.len() as i32 + 40;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let text = |size| ("sans-serif", size).into_font().color(&BLACK);
    let colors = [RGBColor(46, 134, 222), RGBColor(230, 126, 34)];
    root.draw_text(
        "greenws's advantage: median per-round ratio (bar), lowest to highest round (line); right of 1x = greenws better",
        &text(16),
        (10, 12),
    )?;
    for (i, (name, color)) in [TOKIO, FASTWS].iter().zip(colors).enumerate() {
        let x = x0 + 300 * i as i32;
        root.draw(&Rectangle::new([(x, 44), (x + 14, 56)], color.filled()))?;
        root.draw_text(&format!("vs {name}"), &text(14), (x + 20, 42))?;
    }
    let span = top.log2();
    let x_of = |v: f64| {
        let position = (v.clamp(1.0 / top, top).log2() + span) / (2.0 * span);
        x0 + (position * (x1 - x0) as f64) as i32
    };
    for (i, bar) in bars.iter().enumerate() {
        let y = y0 + row_height * i as i32;
        root.draw_text(&bar.label, &text(12), (10, y + 12))?;
        for (k, (summary, color)) in bar.against.iter().zip(colors).enumerate() {
            let Some(s) = summary else { continue };
            let dy = 3 + 18 * k as i32;
            let (a, b) = (x_of(1.0), x_of(s.median));
            root.draw(&Rectangle::new(
                [(a.min(b), y + dy), (a.max(b), y + dy + 14)],
                color.filled(),
            ))?;
            let mid = y + dy + 7;
            root.draw(&PathElement::new(
                vec![(x_of(s.min), mid), (x_of(s.max), mid)],
                BLACK.stroke_width(2),
            ))?;
            root.draw_text(
                &format!("{:.2}x", s.median),
                &text(11),
                (x_of(s.max).max(b) + 4, y + dy + 1),
            )?;
        }
    }
    let bottom = y0 + row_height * bars.len() as i32;
    root.draw(&PathElement::new(
        vec![(x_of(1.0), y0 - 6), (x_of(1.0), bottom)],
        BLACK.stroke_width(2),
    ))?;
    let mut tick = 1.0 / top;
    while tick <= top * 1.0001 {
        let label = if tick < 1.0 {
            format!("1/{:.0}x", 1.0 / tick)
        } else {
            format!("{tick:.0}x")
        };
        root.draw_text(&label, &text(12), (x_of(tick) - 10, bottom + 8))?;
        tick *= 2.0;
    }
    root.present()?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
