//! Where rendered frames go: the Linux framebuffer (an HDMI screen without a desktop), an SPI
//! TFT through `mipidsi`, a window on a desktop, a folder of PNG files, and the web view
//! (`crate::web`, which takes frames through the same trait).

mod folder;
mod framebuffer;
pub mod handoff;
mod spi_tft;
pub mod window;

pub use folder::FrameFolder;
pub use framebuffer::{Framebuffer, FramebufferGeometry};
pub use mipidsi::models::{ILI9341Rgb565, ST7789};
pub use spi_tft::{Panel, PanelModel, PanelWiring, SpiTft, open_panel};
pub use window::WindowSink;

use melanoscope_shared::image::RgbImage;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: {detail}")]
    Io { sink: String, detail: String },
    #[error("{sink}: {detail}")]
    Device { sink: String, detail: String },
}

/// What the screen shows besides its pixels, as text: for the sinks that show text (the web
/// view's page, which screen readers read too).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LiveStatus {
    /// The frame shown.
    pub frame: u64,
    pub verdict: Option<String>,
    pub probability: Option<f64>,
    pub threshold: f64,
    /// The status line (case, objective, file, fields, focus, frame).
    pub status: String,
    /// What the banner says besides the verdict (a log that fails, an unsigned model).
    pub warning: Option<String>,
    pub case: Option<String>,
    /// The open case's verdict so far.
    pub case_verdict: Option<String>,
    pub frozen: bool,
    /// A full-screen problem shown instead of a frame (camera away, screening error).
    pub problem: Option<String>,
}

/// A display that shows rendered frames.
pub trait DisplaySink {
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError>;
    fn name(&self) -> String;
    /// The screen's text for the frame shown next; sinks that show only pixels ignore it.
    fn status(&mut self, _status: &LiveStatus) {}
}

/// Nearest-neighbour resize of `src` into `dst_w` x `dst_h`, calling `put(x, y, rgb)` for each
/// destination pixel in row order.
pub(crate) fn scaled_pixels(src: &RgbImage, dst_w: u32, dst_h: u32, mut put: impl FnMut(u32, u32, [u8; 3])) {
    let (sw, sh) = (src.width().max(1), src.height().max(1));
    for y in 0..dst_h {
        let sy = (u64::from(y) * u64::from(sh) / u64::from(dst_h.max(1))) as u32;
        let row = src.row(sy.min(sh - 1));
        for x in 0..dst_w {
            let sx = (u64::from(x) * u64::from(sw) / u64::from(dst_w.max(1))) as usize;
            let i = sx.min(sw as usize - 1) * 3;
            put(x, y, [row[i], row[i + 1], row[i + 2]]);
        }
    }
}
