//! A V4L2 camera (USB microscope cameras; the Pi camera through its V4L2 bridge): MJPEG or
//! YUYV at a chosen size and frame rate, through memory-mapped buffers. Without the `v4l2`
//! feature the type still exists and opening it returns an error that names the feature.

use super::{Frame, FrameSource, SourceError};

/// The pixel format asked of a V4L2 camera (`camera.pixel_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PixelFormat {
    /// Motion JPEG: what most USB microscope cameras send at full size.
    Mjpeg,
    /// Packed YUV 4:2:2, uncompressed.
    Yuyv,
}

/// What to ask the camera for.
#[derive(Debug, Clone, PartialEq)]
pub struct V4l2Settings {
    pub device: String,
    pub pixel_format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

#[cfg(feature = "v4l2")]
mod imp {
    use super::*;
    use melanoscope_shared::image::{FrameBounds, RgbImage};
    use v4l::buffer::Type;
    use v4l::io::mmap::Stream;
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;
    use v4l::video::capture::Parameters;
    use v4l::{Device, Format, FourCC};

    pub struct Camera {
        // The stream holds the device's handle; the device is kept for its controls.
        _device: Device,
        stream: Stream<'static>,
        format: Format,
        yuyv: bool,
        rgb: Vec<u8>,
    }

    impl std::fmt::Debug for Camera {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Camera").field("format", &self.format.to_string()).finish()
        }
    }

    pub fn open(s: &V4l2Settings) -> Result<Camera, SourceError> {
        let fail =
            |what: &str, e: std::io::Error| SourceError::Unavailable(format!("camera {}: {what}: {e}", s.device));
        let device = Device::with_path(&s.device).map_err(|e| fail("cannot open", e))?;
        let yuyv = s.pixel_format == PixelFormat::Yuyv;
        let fourcc = FourCC::new(if yuyv { b"YUYV" } else { b"MJPG" });
        let format = device.set_format(&Format::new(s.width, s.height, fourcc)).map_err(|e| fail("set format", e))?;
        if format.fourcc != fourcc {
            return Err(SourceError::Unavailable(format!(
                "camera {} offers {} instead of {}; set camera.pixel_format to what it supports",
                s.device, format.fourcc, fourcc
            )));
        }
        if format.width != s.width || format.height != s.height {
            tracing::warn!(device = %s.device, asked = %format!("{}x{}", s.width, s.height), got = %format!("{}x{}", format.width, format.height), "camera chose another frame size");
        }
        device.set_params(&Parameters::with_fps(s.fps)).map_err(|e| fail("set frame rate", e))?;
        let stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(|e| fail("map buffers", e))?;
        Ok(Camera { _device: device, stream, format, yuyv, rgb: Vec::new() })
    }

    impl Camera {
        /// The next frame, decoded into `spare` (a frame the loop handed back) when given.
        pub fn next(&mut self, index: u64, name: &str, spare: &mut Option<RgbImage>) -> Result<Frame, SourceError> {
            let (buf, meta) = self.stream.next().map_err(|e| SourceError::Disconnected {
                device: name.into(),
                detail: melanoscope_shared::errors::error_chain(&e),
            })?;
            let used = (meta.bytesused as usize).min(buf.len());
            let corrupt = |detail: String| SourceError::Corrupt { origin: name.into(), detail };
            let image = if self.yuyv {
                if let Some(spare) = spare.take() {
                    self.rgb = spare.into_raw();
                }
                if !super::super::yuyv_to_rgb(&buf[..used], self.format.width, self.format.height, &mut self.rgb) {
                    return Err(corrupt(format!("YUYV buffer of {used} bytes for {}", self.format)));
                }
                RgbImage::from_raw(self.format.width, self.format.height, std::mem::take(&mut self.rgb))
                    .map_err(|e| corrupt(melanoscope_shared::errors::error_chain(&e)))?
            } else {
                let bounds = FrameBounds::camera(self.format.width, self.format.height);
                super::super::decode_into_spare(&buf[..used], spare, bounds, name)?
            };
            Ok(Frame { image, index, origin: name.into() })
        }

        pub fn describe(&self) -> String {
            self.format.to_string()
        }
    }
}

#[cfg(not(feature = "v4l2"))]
mod imp {
    use super::*;

    #[derive(Debug)]
    pub enum Camera {}

    pub fn open(s: &V4l2Settings) -> Result<Camera, SourceError> {
        Err(SourceError::Unavailable(format!(
            "camera {}: this build has no V4L2 capture; rebuild melanoscope-edge with `--features v4l2`, \
             or feed frames on standard input (camera.source = \"stdin-mjpeg\")",
            s.device
        )))
    }

    impl Camera {
        pub fn next(
            &mut self,
            _index: u64,
            _name: &str,
            _spare: &mut Option<melanoscope_shared::image::RgbImage>,
        ) -> Result<Frame, SourceError> {
            match *self {}
        }

        pub fn describe(&self) -> String {
            match *self {}
        }
    }
}

/// An open V4L2 camera.
#[derive(Debug)]
pub struct V4l2Camera {
    camera: imp::Camera,
    settings: V4l2Settings,
    delivered: u64,
    /// A frame the loop handed back, decoded into next.
    spare: Option<melanoscope_shared::image::RgbImage>,
}

impl V4l2Camera {
    pub fn open(settings: &V4l2Settings) -> Result<Self, SourceError> {
        Ok(Self { camera: imp::open(settings)?, settings: settings.clone(), delivered: 0, spare: None })
    }
}

impl FrameSource for V4l2Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let frame = self.camera.next(self.delivered, &self.settings.device, &mut self.spare)?;
        self.delivered += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.settings.device, self.camera.describe())
    }

    fn recycle(&mut self, image: melanoscope_shared::image::RgbImage) {
        self.spare = Some(image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_an_error_naming_it() {
        let s = V4l2Settings {
            device: "/dev/video-none".into(),
            pixel_format: PixelFormat::Mjpeg,
            width: 640,
            height: 480,
            fps: 15,
        };
        let e = V4l2Camera::open(&s).unwrap_err().to_string();
        assert!(e.contains("/dev/video-none"), "{e}");
        #[cfg(not(feature = "v4l2"))]
        assert!(e.contains("--features v4l2"), "{e}");
    }
}
