//! One drawing as two files: SVG for the page and HTML slides, PNG for PDF export.

use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine as _;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{NotebookDisplay, emit};
use crate::config::Settings;
use crate::error::{Error, Result};

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// A rendered figure: the same drawing as SVG and as PNG, already written to disk.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem, e.g. `users_by_country`.
    pub name: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Where the SVG was written.
    pub svg_path: PathBuf,
    /// Where the PNG was written.
    pub png_path: PathBuf,
}

/// Drawing code that works on any plotters backend, so one drawing gives both files.
pub trait Draw {
    /// Draws onto `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// What drawing code returns: plotters' errors convert into it with `?`.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

static FONTS: Once = Once::new();

/// Registers the embedded fonts (Ubuntu Light as sans-serif and serif, Hack as monospace)
/// with plotters, so text renders the same on every machine without fontconfig.
pub fn register_fonts() {
    FONTS.call_once(|| {
        use plotters::style::{FontStyle, register_font};
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
            let _ = register_font("sans-serif", style, epaint_default_fonts::UBUNTU_LIGHT);
            let _ = register_font("serif", style, epaint_default_fonts::UBUNTU_LIGHT);
            let _ = register_font("monospace", style, epaint_default_fonts::HACK_REGULAR);
        }
    });
}

impl Figure {
    /// Default size in pixels: 900 × 540 (5:3, fits a slide with a title).
    pub const SIZE: (u32, u32) = (900, 540);

    /// Draws `drawing` twice (SVG and PNG), writes `<name>.svg` and `<name>.png` into the
    /// figures folder (`M8_OUT_DIR/figures`, by default `out/figures`) and returns both.
    pub fn render(name: &str, size: (u32, u32), drawing: &impl Draw) -> Result<Figure> {
        let dir = Settings::from_env().map(|s| s.figures_dir()).unwrap_or_else(|_| Settings::default().figures_dir());
        Self::render_into(&dir, name, size, drawing)
    }

    /// [`Figure::render`] into a given folder.
    pub fn render_into(dir: &Path, name: &str, size: (u32, u32), drawing: &impl Draw) -> Result<Figure> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::InvalidInput(format!("figure name `{name}` must be a plain file stem")));
        }
        register_fonts();
        let plot_err = |reason: String| Error::Plot { name: name.to_string(), reason };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| plot_err(e.to_string()))?;
            root.present().map_err(|e| plot_err(e.to_string()))?;
        }
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| plot_err(e.to_string()))?;
            root.present().map_err(|e| plot_err(e.to_string()))?;
        }
        let png = encode_png(&rgb, size).map_err(|e| plot_err(format!("PNG encoding failed: {e}")))?;
        let svg_path = dir.join(format!("{name}.svg"));
        let png_path = dir.join(format!("{name}.png"));
        write_file(&svg_path, svg.as_bytes())?;
        write_file(&png_path, &png)?;
        Ok(Figure { name: name.to_string(), svg, png, svg_path, png_path })
    }
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

impl NotebookDisplay for Figure {
    fn evcxr_display(&self) {
        // Both in one bundle: front-ends pick SVG for the page, PNG for PDF export.
        emit("image/png", &base64::engine::general_purpose::STANDARD.encode(&self.png));
        emit("image/svg+xml", &self.svg);
    }
}

