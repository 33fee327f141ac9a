//! Ready-made charts for slides: bar, lines (linear or log scale), scatter, histogram.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::table::format_float;
use super::{DrawResult, *};

/// Colours in series order (colour-blind-safe, from the Okabe–Ito palette).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];

/// The layout every chart shares: white background, title, margins, room for axis labels.
fn frame<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_labels: u32,
    y_labels: u32,
) -> std::result::Result<ChartBuilder<'a, 'b, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(area);
    builder.caption(super::plain_title(title), ("sans-serif", 26)).margin(16).x_label_area_size(x_labels).y_label_area_size(y_labels);
    Ok(builder)
}

/// A vertical bar chart of labelled values.
#[derive(Clone, Debug, Default)]
pub struct Bar {
    /// Title above the chart.
    pub title: String,
    /// One label per bar.
    pub labels: Vec<String>,
    /// One value per bar.
    pub values: Vec<f64>,
    /// Axis descriptions: (x, y).
    pub axes: (String, String),
    /// Logarithmic y axis, for values spanning orders of magnitude (all must be positive).
    pub log_y: bool,
}

impl Bar {
    /// A bar chart titled `title`.
    pub fn new(title: impl Into<String>, labels: Vec<String>, values: Vec<f64>) -> Self {
        Bar { title: title.into(), labels, values, axes: Default::default(), log_y: false }
    }
    /// Uses a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    /// Bars from two columns of a DataFrame: labels from `label_column` (any type, shown
    /// as text), heights from `value_column` (any numeric type).
    pub fn from_frame(title: impl Into<String>, df: &DataFrame, label_column: &str, value_column: &str) -> Result<Self> {
        let labels = column_strings(df, label_column)?;
        let values = column_f64(df, value_column)?;
        Ok(Bar::new(title, labels, values).axes(label_column, value_column))
    }
    /// Sets the axis descriptions.
    pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.axes = (x.into(), y.into());
        self
    }
    /// Renders it as `name` (SVG + PNG in the figures folder).
    pub fn render(&self, name: &str) -> Result<Figure> {
        if self.labels.len() != self.values.len() {
            return Err(Error::Plot { name: name.to_string(), reason: format!("{} labels but {} values", self.labels.len(), self.values.len()) });
        }
        if self.log_y && self.values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
            return Err(Error::Plot { name: name.to_string(), reason: "a log scale needs positive values".into() });
        }
        Figure::render(name, Figure::SIZE, self)
    }
}

impl Draw for Bar {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let top = self.values.iter().cloned().fold(0.0_f64, f64::max).max(1e-9) * 1.1;
        let n = self.values.len().max(1);
        let labels = self.labels.clone();
        // Long label lists (24 months, say) show every k-th label so they do not overlap.
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1);
        let fit = (80 / longest).clamp(1, 30);
        let every = n.div_ceil(fit).max(1);
        let mut builder = frame(area, &self.title, 60, 70)?;
        macro_rules! finish {
            ($chart:expr, $floor:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n)
                    .x_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) if i % every == 0 => labels.get(*i).cloned().unwrap_or_default(),
                        _ => String::new(),
                    })
                    .y_label_formatter(&|v| format_float(*v))
                    .x_desc(&self.axes.0)
                    .y_desc(&self.axes.1)
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 17))
                    .draw()?;
                chart.draw_series(self.values.iter().enumerate().map(|(i, v)| {
                    let mut bar = Rectangle::new(
                        [(SegmentValue::Exact(i), $floor), (SegmentValue::Exact(i + 1), *v)],
                        PALETTE[0].filled(),
                    );
                    bar.set_margin(0, 0, 6, 6);
                    bar
                }))?;
            }};
        }
        // `0..n - 1` segmented gives exactly n slots (the range's end is a slot too).
        if self.log_y {
            let low = self.values.iter().cloned().filter(|v| *v > 0.0).fold(f64::MAX, f64::min).min(top) * 0.5;
            finish!(builder.build_cartesian_2d((0..n - 1).into_segmented(), (low..top * 2.0).log_scale())?, low);
        } else {
            finish!(builder.build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)?, 0.0);
        }
        Ok(())
    }
}

/// One or more lines over a numeric x axis, optionally with a logarithmic y axis.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    /// Title above the chart.
    pub title: String,
    /// (legend label, points) per line.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// Axis descriptions: (x, y).
    pub axes: (String, String),
    /// Logarithmic y axis (values must be positive).
    pub log_y: bool,
    /// Logarithmic x axis (values must be positive).
    pub log_x: bool,
}

impl Lines {
    /// An empty line chart titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Lines { title: title.into(), ..Default::default() }
    }
    /// Adds a line.
    pub fn series(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push((label.into(), points));
        self
    }
    /// Sets the axis descriptions.
    pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.axes = (x.into(), y.into());
        self
    }
    /// Uses a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    /// Uses a logarithmic x axis (for sizes like 10, 100, 1,000).
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }
    /// Renders it as `name` (SVG + PNG in the figures folder).
    pub fn render(&self, name: &str) -> Result<Figure> {
        if self.series.iter().all(|(_, p)| p.is_empty()) {
            return Err(Error::Plot { name: name.to_string(), reason: "the line chart has no points".into() });
        }
        if self.log_y && self.series.iter().flat_map(|(_, p)| p).any(|(_, y)| *y <= 0.0) {
            return Err(Error::Plot { name: name.to_string(), reason: "a log scale needs positive values".into() });
        }
        if self.log_x && self.series.iter().flat_map(|(_, p)| p).any(|(x, _)| *x <= 0.0) {
            return Err(Error::Plot { name: name.to_string(), reason: "a log x axis needs positive values".into() });
        }
        Figure::render(name, Figure::SIZE, self)
    }

    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let pts = self.series.iter().flat_map(|(_, p)| p.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in pts {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        ((x0, x1), (y0, y1))
    }
}

impl Draw for Lines {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut builder = frame(area, &self.title, 50, 80)?;
        macro_rules! finish {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(&self.axes.0)
                    .y_desc(&self.axes.1)
                    .x_labels(8)
                    .x_label_formatter(&|v| compact_number(*v))
                    .y_label_formatter(&|v| compact_number(*v))
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 17))
                    .draw()?;
                for (i, (label, points)) in self.series.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    chart
                        .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3)))?
                        .label(label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
                    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
                }
                if self.series.len() > 1 || self.series.iter().any(|(l, _)| !l.is_empty()) {
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.85))
                        .border_style(BLACK.mix(0.3))
                        .label_font(("sans-serif", 15))
                        .position(SeriesLabelPosition::UpperLeft)
                        .draw()?;
                }
            }};
        }
        let pad = (y1 - y0) * 0.08;
        match (self.log_x, self.log_y) {
            (false, false) => finish!(builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?),
            (false, true) => finish!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 1.25).log_scale())?),
            (true, false) => finish!(builder.build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 - pad)..(y1 + pad))?),
            (true, true) => finish!(builder.build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 * 0.8..y1 * 1.25).log_scale())?),
        }
        Ok(())
    }
}

/// Points in groups (one colour per group), e.g. events on a longitude/latitude plane.
#[derive(Clone, Debug, Default)]
pub struct Scatter {
    /// Title above the chart.
    pub title: String,
    /// (legend label, points) per group.
    pub groups: Vec<(String, Vec<(f64, f64)>)>,
    /// Axis descriptions: (x, y).
    pub axes: (String, String),
    /// Fixed axis ranges ((x0, x1), (y0, y1)); fitted to the data when `None`.
    pub ranges: Option<((f64, f64), (f64, f64))>,
}

impl Scatter {
    /// An empty scatter plot titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Scatter { title: title.into(), ..Default::default() }
    }
    /// Adds a group of points.
    pub fn group(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.groups.push((label.into(), points));
        self
    }
    /// Sets the axis descriptions.
    pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.axes = (x.into(), y.into());
        self
    }
    /// Fixes the axis ranges.
    pub fn ranges(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
        self.ranges = Some((x, y));
        self
    }
    /// Renders it as `name` (SVG + PNG in the figures folder).
    pub fn render(&self, name: &str) -> Result<Figure> {
        if self.groups.iter().all(|(_, p)| p.is_empty()) {
            return Err(Error::Plot { name: name.to_string(), reason: "the scatter plot has no points".into() });
        }
        Figure::render(name, Figure::SIZE, self)
    }
}

impl Draw for Scatter {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let ((x0, x1), (y0, y1)) = self.ranges.unwrap_or_else(|| {
            Lines { series: self.groups.clone(), ..Default::default() }.bounds()
        });
        let mut chart = frame(area, &self.title, 50, 70)?.build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&self.axes.0)
            .y_desc(&self.axes.1)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        for (i, (label, points)) in self.groups.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.mix(0.6).filled())))?
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        }
        if self.groups.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::LowerLeft)
                .draw()?;
        }
        Ok(())
    }
}

/// Boxes and arrows on a grid: a system's architecture for a slide. Boxes sit at grid
/// cells (`(column, row)`, fractions allowed), coloured by group; arrows join two boxes'
/// edges and carry a label (say, how many messages took them in this run).
#[derive(Clone, Debug, Default)]
pub struct Diagram {
    /// Title above the drawing.
    pub title: String,
    /// Columns and rows of the grid.
    pub grid: (f64, f64),
    /// The boxes: id, label (`\n` breaks lines), cell, colour group.
    pub nodes: Vec<(String, String, (f64, f64), usize)>,
    /// The arrows: from id, to id, label, where the label sits along the arrow (0–1).
    pub edges: Vec<(String, String, String, f64)>,
}

impl Diagram {
    /// An empty diagram on a `columns` × `rows` grid.
    pub fn new(title: impl Into<String>, columns: f64, rows: f64) -> Self {
        Diagram { title: title.into(), grid: (columns, rows), ..Default::default() }
    }
    /// Adds a box.
    pub fn node(mut self, id: &str, label: impl Into<String>, at: (f64, f64), group: usize) -> Self {
        self.nodes.push((id.to_string(), label.into(), at, group));
        self
    }
    /// Adds an arrow between two boxes, its label half-way.
    pub fn edge(self, from: &str, to: &str, label: impl Into<String>) -> Self {
        self.edge_at(from, to, label, 0.5)
    }
    /// Adds an arrow with its label at fraction `at` of the way (away from a crossing).
    pub fn edge_at(mut self, from: &str, to: &str, label: impl Into<String>, at: f64) -> Self {
        self.edges.push((from.to_string(), to.to_string(), label.into(), at.clamp(0.0, 1.0)));
        self
    }
    /// Renders it as `name` (SVG + PNG in the figures folder, 1400 × 800). An arrow that
    /// names a box that does not exist is refused.
    pub fn render(&self, name: &str) -> Result<Figure> {
        for (from, to, _, _) in &self.edges {
            for id in [from, to] {
                if !self.nodes.iter().any(|n| &n.0 == id) {
                    return Err(Error::Plot { name: name.to_string(), reason: format!("an arrow names box `{id}`, which is not in the diagram") });
                }
            }
        }
        Figure::render(name, (1400, 800), self)
    }
}

/// Where the segment from the centre of a `w` × `h` box at `c` towards `to` leaves the box.
fn box_exit(c: (f64, f64), (w, h): (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (to.0 - c.0, to.1 - c.1);
    let tx = if dx.abs() > 1e-9 { (w / 2.0) / dx.abs() } else { f64::INFINITY };
    let ty = if dy.abs() > 1e-9 { (h / 2.0) / dy.abs() } else { f64::INFINITY };
    let t = tx.min(ty).min(1.0);
    (c.0 + dx * t, c.1 + dy * t)
}

impl Draw for Diagram {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE)?;
        let (w, h) = area.dim_in_pixel();
        let title = ("sans-serif", 26).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Top));
        area.draw(&Text::new(self.title.as_str(), (w as i32 / 2, 10), title))?;
        let top = 50.0;
        let cell = ((w as f64 - 20.0) / self.grid.0, (h as f64 - top - 10.0) / self.grid.1);
        let size = (cell.0 * 0.66, cell.1 * 0.62);
        let centre = |at: (f64, f64)| (10.0 + (at.0 + 0.5) * cell.0, top + (at.1 + 0.5) * cell.1);
        let find = |id: &str| self.nodes.iter().find(|n| n.0 == id).map(|n| centre(n.2));
        let px = |p: (f64, f64)| (p.0.round() as i32, p.1.round() as i32);
        let label_style = |size: u32| ("sans-serif", size).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
        let ink = BLACK.mix(0.65);
        for (from, to, label, at) in &self.edges {
            let (Some(a), Some(b)) = (find(from), find(to)) else { continue };
            let (start, end) = (box_exit(a, size, b), box_exit(b, size, a));
            area.draw(&PathElement::new(vec![px(start), px(end)], ink.stroke_width(2)))?;
            let (dx, dy) = (end.0 - start.0, end.1 - start.1);
            let len = (dx * dx + dy * dy).sqrt().max(1e-9);
            let (ux, uy) = (dx / len, dy / len);
            let back = (end.0 - ux * 12.0, end.1 - uy * 12.0);
            let head = vec![px(end), px((back.0 - uy * 6.0, back.1 + ux * 6.0)), px((back.0 + uy * 6.0, back.1 - ux * 6.0))];
            area.draw(&Polygon::new(head, ink.filled()))?;
            if !label.is_empty() {
                let mid = (start.0 + (end.0 - start.0) * at, start.1 + (end.1 - start.1) * at);
                let half = (label.chars().count() as f64 * 3.4 + 4.0, 9.0);
                area.draw(&Rectangle::new([px((mid.0 - half.0, mid.1 - half.1)), px((mid.0 + half.0, mid.1 + half.1))], WHITE.filled()))?;
                area.draw(&Text::new(label.as_str(), px(mid), label_style(13)))?;
            }
        }
        for (_, label, at, group) in &self.nodes {
            let c = centre(*at);
            let colour = PALETTE[group % PALETTE.len()];
            let corners = [px((c.0 - size.0 / 2.0, c.1 - size.1 / 2.0)), px((c.0 + size.0 / 2.0, c.1 + size.1 / 2.0))];
            area.draw(&Rectangle::new(corners, colour.mix(0.18).filled()))?;
            area.draw(&Rectangle::new(corners, colour.stroke_width(2)))?;
            let lines: Vec<&str> = label.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let y = c.1 + (i as f64 - (lines.len() as f64 - 1.0) / 2.0) * 18.0;
                area.draw(&Text::new(*line, px((c.0, y)), label_style(if i == 0 { 16 } else { 13 })))?;
            }
        }
        Ok(())
    }
}

/// A histogram of values in equal-width bins.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Title above the chart.
    pub title: String,
    /// The values.
    pub values: Vec<f64>,
    /// Number of bins. Default 30.
    pub bins: usize,
    /// Axis descriptions: (x, y).
    pub axes: (String, String),
}

impl Histogram {
    /// A histogram of `values` in 30 bins.
    pub fn new(title: impl Into<String>, values: Vec<f64>) -> Self {
        Histogram { title: title.into(), values, bins: 30, axes: Default::default() }
    }
    /// Sets the number of bins.
    pub fn bins(mut self, bins: usize) -> Self {
        self.bins = bins.max(1);
        self
    }
    /// Sets the axis descriptions.
    pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.axes = (x.into(), y.into());
        self
    }
    /// Bin edges and counts: `(lower edge, upper edge, count)` per bin.
    pub fn counts(&self) -> Vec<(f64, f64, usize)> {
        let finite: Vec<f64> = self.values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Vec::new();
        }
        let lo = finite.iter().cloned().fold(f64::MAX, f64::min);
        let hi = finite.iter().cloned().fold(f64::MIN, f64::max);
        let width = if hi > lo { (hi - lo) / self.bins as f64 } else { 1.0 };
        let mut counts = vec![0usize; self.bins];
        for v in finite {
            let i = (((v - lo) / width) as usize).min(self.bins - 1);
            counts[i] += 1;
        }
        counts.into_iter().enumerate().map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c)).collect()
    }
    /// Renders it as `name` (SVG + PNG in the figures folder).
    pub fn render(&self, name: &str) -> Result<Figure> {
        if self.counts().is_empty() {
            return Err(Error::Plot { name: name.to_string(), reason: "the histogram has no finite values".into() });
        }
        Figure::render(name, Figure::SIZE, self)
    }
}

impl Draw for Histogram {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let counts = self.counts();
        let (lo, hi) = (counts.first().map_or(0.0, |c| c.0), counts.last().map_or(1.0, |c| c.1));
        let top = counts.iter().map(|c| c.2).max().unwrap_or(1) as f64 * 1.1;
        let mut chart = frame(area, &self.title, 50, 70)?.build_cartesian_2d(lo..hi, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_label_formatter(&|v| format_float(*v))
            .x_label_formatter(&|v| format_float(*v))
            .x_desc(&self.axes.0)
            .y_desc(&self.axes.1)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        chart.draw_series(counts.iter().map(|(a, b, c)| {
            Rectangle::new([(*a, 0.0), (*b, *c as f64)], PALETTE[0].mix(0.85).filled())
        }))?;
        Ok(())
    }
}
