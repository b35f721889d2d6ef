//! Rendered frames written to a folder as PNG files (every Nth frame), each atomically.

use super::{DisplaySink, SinkError};
use melanoscope_shared::image::{RgbImage, encode_rgb};
use std::path::PathBuf;

#[derive(Debug)]
pub struct FrameFolder {
    dir: PathBuf,
    every: u64,
    seen: u64,
    pub written: Vec<PathBuf>,
}

impl FrameFolder {
    /// Writes every `every`th frame shown (0: none; the button's snapshots go elsewhere).
    pub fn new(dir: PathBuf, every: u64) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&dir).map_err(|e| SinkError::Io {
            sink: format!("snapshot folder {}", dir.display()),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        Ok(Self { dir, every, seen: 0, written: Vec::new() })
    }
}

impl DisplaySink for FrameFolder {
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        let n = self.seen;
        self.seen += 1;
        if self.every == 0 || !n.is_multiple_of(self.every) {
            return Ok(());
        }
        let path = self.dir.join(format!("frame-{n:06}.png"));
        let err = |e: String| SinkError::Io { sink: path.display().to_string(), detail: e };
        let png =
            encode_rgb(frame, image::ImageFormat::Png).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?;
        melanoscope_shared::atomic::write_atomic(&path, &png)
            .map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?;
        self.written.push(path);
        Ok(())
    }

    fn name(&self) -> String {
        format!("folder {}", self.dir.display())
    }
}
