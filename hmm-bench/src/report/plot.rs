//! One SVG per request kind: GiB/s against buffer size (both logarithmic), one panel per
//! device memory type, one line per driver and page mode (median, bars from the first to
//! the third quartile: under TCG a single slow repetition is common, so min..max bars would
//! mostly show the host's noise; the CSV keeps min and max), and the memcpy reference of
//! the same page mode in grey.

use super::ratio::{C, RUST};
use crate::row::{Kind, Memory, Pages, Row};
use crate::sizes;
use crate::stats::sig3;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(214, 95, 0);
const GREY: RGBColor = RGBColor(130, 130, 130);

/// A series: (log2 size, figure, q1, q3) points (GiB/s; the figure is [`Row::gib_per_s`]).
type Points = Vec<(f64, f64, f64, f64)>;

fn points(rows: &[Row], driver: &str, memory: Memory, kind: Kind, pages: Pages) -> Points {
    let mut v: Points = rows
        .iter()
        .filter(|r| r.driver == driver && r.memory == memory && r.kind == kind && r.pages == pages)
        .filter_map(|r| {
            let (_, q1, q3, _) = r.gib_spread()?;
            Some(((r.size as f64).log2(), r.gib_per_s()?, q1, q3))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// File name of a kind's plot ("migrate_to_dev.svg").
pub fn file_name(kind: Kind) -> String {
    format!("{}.svg", kind.name().to_ascii_lowercase())
}

/// Write one plot per device kind that has numbers into `dir`; returns the files written.
pub fn write_all(rows: &[Row], dir: &Path, title_note: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|&k| k != Kind::Memcpy) {
        if !rows.iter().any(|r| r.kind == kind && r.time.is_some()) {
            continue;
        }
        let path = dir.join(file_name(kind));
        plot_kind(rows, kind, &path, title_note)
            .map_err(|e| anyhow!("plot {}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

struct Series {
    label: String,
    color: RGBColor,
    dashed: bool,
    pts: Points,
}

fn series_for(rows: &[Row], memory: Memory, kind: Kind) -> Vec<Series> {
    let mut v = Vec::new();
    for pages in [Pages::Small, Pages::Thp] {
        for (driver, name, color) in [(C, "C", BLUE), (RUST, "Rust", ORANGE)] {
            let pts = points(rows, driver, memory, kind, pages);
            if !pts.is_empty() {
                v.push(Series {
                    label: format!("{name} {pages}"),
                    color,
                    dashed: pages == Pages::Thp,
                    pts,
                });
            }
        }
        // The reference: the first driver run that measured memcpy.
        for (driver, name) in [(C, "C"), (RUST, "Rust")] {
            let pts = points(rows, driver, Memory::Host, Kind::Memcpy, pages);
            if !pts.is_empty() {
                let label = format!("memcpy {pages} ({name} run)");
                v.push(Series {
                    label,
                    color: GREY,
                    dashed: pages == Pages::Thp,
                    pts,
                });
                break;
            }
        }
    }
    v
}

fn plot_kind(
    rows: &[Row],
    kind: Kind,
    path: &Path,
    note: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let memories: Vec<Memory> = [Memory::Private, Memory::Coherent]
        .into_iter()
        .filter(|&m| {
            rows.iter()
                .any(|r| r.memory == m && r.kind == kind && r.time.is_some())
        })
        .collect();
    let root = SVGBackend::new(path, (620 * memories.len().max(1) as u32, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "HMM_DMIRROR {}: throughput, C driver vs Rust module{note}",
            kind.name()
        ),
        ("sans-serif", 20),
    )?;
    let stat = if rows.iter().any(Row::instruction_time) {
        "of the minimum time"
    } else {
        "median"
    };
    let panels = root.split_evenly((1, memories.len().max(1)));
    for (panel, &memory) in panels.iter().zip(&memories) {
        let all = series_for(rows, memory, kind);
        let xs = all.iter().flat_map(|s| s.pts.iter().map(|p| p.0));
        let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let ys = all
            .iter()
            .flat_map(|s| s.pts.iter().flat_map(|p| [p.1, p.2, p.3]));
        let (y0, y1) = ys
            .filter(|y| *y > 0.0)
            .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("device {memory} memory"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((x0 - 0.5)..(x1 + 0.5), ((y0 / 1.6)..(y1 * 1.6)).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("buffer size")
            .y_desc(format!("GiB/s ({stat}; bars: quartiles)"))
            .x_labels(((x1 - x0) as usize + 2).min(24))
            .x_label_formatter(&|x| {
                if x.fract() == 0.0 && *x >= 0.0 {
                    sizes::show(2f64.powf(*x) as u64)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| sig3(*y))
            .draw()?;
        for s in &all {
            let style = ShapeStyle::from(&s.color).stroke_width(2);
            let line: Vec<(f64, f64)> = s.pts.iter().map(|p| (p.0, p.1)).collect();
            let (legend_style, thp) = (style, s.dashed);
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(line, 8, 5, style))?
            } else {
                chart.draw_series(LineSeries::new(line, style))?
            }
            .label(s.label.clone())
            .legend(move |(x, y)| {
                let mark: DynElement<'static, SVGBackend, (i32, i32)> = if thp {
                    TriangleMarker::new((11, 0), 5, legend_style.filled()).into_dyn()
                } else {
                    Circle::new((11, 0), 3, legend_style.filled()).into_dyn()
                };
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (22, 0)], legend_style)
                    + mark
            });
            chart.draw_series(
                s.pts
                    .iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, style, 6)),
            )?;
            if s.dashed {
                chart.draw_series(
                    s.pts
                        .iter()
                        .map(|p| TriangleMarker::new((p.0, p.1), 5, style.filled())),
                )?;
            } else {
                chart.draw_series(
                    s.pts
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 3, style.filled())),
                )?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Status;
    use crate::stats::Spread;

    fn row(driver: &str, memory: Memory, kind: Kind, pages: Pages, size: u64, secs: &[f64]) -> Row {
        Row {
            driver: driver.into(),
            abi: "mainline".into(),
            accel: "tcg".into(),
            device: Some(0),
            memory,
            kind,
            pages,
            size,
            npages: size / 4096,
            reps: secs.len() as u32,
            status: Status::Ok,
            time: Spread::of(secs),
            cpages: None,
            huge_frac: None,
            memcpy_frac: None,
        }
    }

    #[test]
    fn writes_one_svg_per_measured_kind() {
        let mut rows = Vec::new();
        for (i, size) in [4096u64, 1 << 20, 16 << 20].into_iter().enumerate() {
            let t = (i + 1) as f64 * 1e-3;
            for pages in [Pages::Small, Pages::Thp] {
                rows.push(row(
                    C,
                    Memory::Private,
                    Kind::Read,
                    pages,
                    size,
                    &[t, 2.0 * t, 1.5 * t],
                ));
                rows.push(row(
                    RUST,
                    Memory::Private,
                    Kind::Read,
                    pages,
                    size,
                    &[t, 1.1 * t],
                ));
                rows.push(row(C, Memory::Coherent, Kind::Read, pages, size, &[t]));
                rows.push(row(C, Memory::Host, Kind::Memcpy, pages, size, &[t / 10.0]));
            }
        }
        let dir = std::env::temp_dir().join(format!("hmm-bench-plot-{}", std::process::id()));
        let files = write_all(&rows, &dir, "").unwrap();
        assert_eq!(files, vec![dir.join("read.svg")]);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(
            svg.contains("Rust 4k")
                && svg.contains("memcpy thp (C run)")
                && svg.contains("coherent")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn points_sorted_by_size() {
        let rows = vec![
            row(
                C,
                Memory::Private,
                Kind::Write,
                Pages::Small,
                1 << 20,
                &[1.0],
            ),
            row(C, Memory::Private, Kind::Write, Pages::Small, 4096, &[1.0]),
        ];
        let p = points(&rows, C, Memory::Private, Kind::Write, Pages::Small);
        assert_eq!(p.iter().map(|p| p.0).collect::<Vec<_>>(), [12.0, 20.0]);
    }
}
