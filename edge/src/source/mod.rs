//! Where frames come from: a V4L2 camera, an MJPEG or raw RGB stream on standard input, or
//! image files replayed as a stream. Every source hands out decoded RGB frames; a corrupt
//! frame is an error the loop counts and skips, a lost camera one it reopens with backoff.

mod mjpeg;
mod reconnect;
mod replay;
mod v4l2;
mod yuyv;

pub use mjpeg::{MjpegStream, RawStream};
pub use reconnect::{Backoff, Reconnecting};
pub use replay::{Replay, expand_replay};
pub use v4l2::{PixelFormat, V4l2Camera, V4l2Settings};
pub use yuyv::yuyv_to_rgb;

use melanoscope_shared::image::{FrameBounds, ImageError, RgbImage, decode_rgb_into_bounded};

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: RgbImage,
    /// Counts frames delivered by this source, from 0.
    pub index: u64,
    /// Where it came from (a file name, or the device).
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// This frame could not be decoded; the next one may be fine.
    #[error("corrupt frame from {origin}: {detail}")]
    Corrupt { origin: String, detail: String },
    /// This frame is larger than the source accepts (refused from its header, undecoded).
    #[error("oversized frame from {origin}: {detail}")]
    Oversized { origin: String, detail: String },
    /// The device went away (unplugged, driver reset); reopen it.
    #[error("camera {device} lost: {detail}")]
    Disconnected { device: String, detail: String },
    /// The source cannot be opened at all (missing device, missing feature, bad settings).
    #[error("{0}")]
    Unavailable(String),
}

/// A stream of frames. `Ok(None)` is the end of a finite source (a replay or a closed pipe).
pub trait FrameSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// What the screen says the source is.
    fn describe(&self) -> String;
    /// Hands a delivered frame's image back once the loop is done with it, so that the next
    /// frame is decoded into its buffer instead of a new one (sources that decode do).
    fn recycle(&mut self, _image: RgbImage) {}
}

impl FrameSource for Box<dyn FrameSource> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        (**self).next_frame()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }

    fn recycle(&mut self, image: RgbImage) {
        (**self).recycle(image)
    }
}

/// Decodes `bytes` (a frame from `origin`, at most `bounds` by its header) into the spare
/// frame a source keeps (taken; a new one when it has none), putting the spare back when the
/// bytes do not decode, so a corrupt or oversized frame costs no buffer.
pub(crate) fn decode_into_spare(
    bytes: &[u8],
    spare: &mut Option<RgbImage>,
    bounds: FrameBounds,
    origin: &str,
) -> Result<RgbImage, SourceError> {
    let refused = |e: ImageError| match e {
        ImageError::Oversized { .. } | ImageError::TooManyPixels { .. } => {
            SourceError::Oversized { origin: origin.into(), detail: melanoscope_shared::errors::error_chain(&e) }
        }
        _ => SourceError::Corrupt { origin: origin.into(), detail: melanoscope_shared::errors::error_chain(&e) },
    };
    let mut image = match spare.take() {
        Some(image) => image,
        None => RgbImage::filled(1, 1, [0; 3]).map_err(refused)?,
    };
    match decode_rgb_into_bounded(bytes, &mut image, bounds) {
        Ok(()) => Ok(image),
        Err(e) => {
            *spare = Some(image);
            Err(refused(e))
        }
    }
}
