//! The Linux framebuffer (`/dev/fb0`): an HDMI screen on a board without a desktop. The
//! geometry comes from sysfs (`/sys/class/graphics/fbN/{virtual_size,bits_per_pixel,stride}`),
//! so no ioctl is needed; 32-bit modes are XRGB8888 and 16-bit modes RGB565, little-endian,
//! as the Pi's and Jetson's HDMI drivers use.

use super::{DisplaySink, SinkError, scaled_pixels};
use melanoscope_shared::image::RgbImage;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size and pixel layout of a framebuffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramebufferGeometry {
    pub width: u32,
    pub height: u32,
    pub bits_per_pixel: u32,
    /// Bytes per line (may exceed width x bytes per pixel).
    pub stride: u32,
}

impl FramebufferGeometry {
    /// Reads the geometry of `/dev/fbN` from its sysfs folder.
    pub fn from_sysfs(dir: &Path) -> Result<Self, SinkError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map(|s| s.trim().to_string()).map_err(|e| SinkError::Device {
                sink: p.display().to_string(),
                detail: melanoscope_shared::errors::error_chain(&e),
            })
        };
        let bad = |what: &str, v: &str| SinkError::Device {
            sink: dir.display().to_string(),
            detail: format!("{what} is {v:?}; expected {}", if what == "virtual_size" { "W,H" } else { "a number" }),
        };
        let size = read("virtual_size")?;
        let (w, h) = size.split_once(',').ok_or_else(|| bad("virtual_size", &size))?;
        let width: u32 = w.trim().parse().map_err(|_| bad("virtual_size", &size))?;
        let height: u32 = h.trim().parse().map_err(|_| bad("virtual_size", &size))?;
        let bpp = read("bits_per_pixel")?;
        let bits_per_pixel: u32 = bpp.parse().map_err(|_| bad("bits_per_pixel", &bpp))?;
        if ![16, 32].contains(&bits_per_pixel) {
            return Err(SinkError::Device {
                sink: dir.display().to_string(),
                detail: format!("{bits_per_pixel} bits per pixel; 16 (RGB565) and 32 (XRGB8888) are supported"),
            });
        }
        let stride = match read("stride") {
            Ok(s) => s.parse().map_err(|_| bad("stride", &s))?,
            Err(_) => width * bits_per_pixel / 8,
        };
        if width == 0 || height == 0 || stride < width * bits_per_pixel / 8 {
            return Err(bad("virtual_size/stride", &format!("{width}x{height} stride {stride}")));
        }
        Ok(Self { width, height, bits_per_pixel, stride })
    }
}

/// Frames written to a framebuffer device.
#[derive(Debug)]
pub struct Framebuffer {
    device: PathBuf,
    file: std::fs::File,
    geometry: FramebufferGeometry,
    buf: Vec<u8>,
}

impl Framebuffer {
    /// Opens `device` (e.g. `/dev/fb0`) with the geometry in `sysfs`
    /// (e.g. `/sys/class/graphics/fb0`).
    pub fn open(device: &Path, sysfs: &Path) -> Result<Self, SinkError> {
        let geometry = FramebufferGeometry::from_sysfs(sysfs)?;
        let file = std::fs::OpenOptions::new().write(true).open(device).map_err(|e| SinkError::Device {
            sink: device.display().to_string(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        let buf = vec![0; geometry.stride as usize * geometry.height as usize];
        Ok(Self { device: device.to_path_buf(), file, geometry, buf })
    }

    /// The sysfs folder of a device path such as `/dev/fb1`.
    pub fn sysfs_of(device: &Path) -> PathBuf {
        let name = device.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "fb0".into());
        PathBuf::from("/sys/class/graphics").join(name)
    }
}

impl DisplaySink for Framebuffer {
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        let g = self.geometry;
        let (stride, bpp) = (g.stride as usize, g.bits_per_pixel);
        let buf = &mut self.buf;
        scaled_pixels(frame, g.width, g.height, |x, y, [r, gr, b]| {
            let at = y as usize * stride;
            if bpp == 32 {
                let i = at + x as usize * 4;
                buf[i..i + 4].copy_from_slice(&[b, gr, r, 0xFF]);
            } else {
                let v = (u16::from(r >> 3) << 11) | (u16::from(gr >> 2) << 5) | u16::from(b >> 3);
                let i = at + x as usize * 2;
                buf[i..i + 2].copy_from_slice(&v.to_le_bytes());
            }
        });
        self.file.write_all_at(&self.buf, 0).map_err(|e| SinkError::Io {
            sink: self.device.display().to_string(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })
    }

    fn name(&self) -> String {
        format!(
            "framebuffer {} ({}x{} {} bpp)",
            self.device.display(),
            self.geometry.width,
            self.geometry.height,
            self.geometry.bits_per_pixel
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_fb(dir: &Path, size: &str, bpp: &str, stride: &str) -> (PathBuf, PathBuf) {
        let sys = dir.join("sys");
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(sys.join("virtual_size"), size).unwrap();
        std::fs::write(sys.join("bits_per_pixel"), bpp).unwrap();
        std::fs::write(sys.join("stride"), stride).unwrap();
        let dev = dir.join("fb0");
        std::fs::write(&dev, []).unwrap();
        (dev, sys)
    }

    #[test]
    fn writes_xrgb_and_rgb565_with_the_stride() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("fb");
        let mut img = RgbImage::filled(8, 4, [255, 0, 0]).unwrap();
        for (x, y) in [(6, 2), (7, 2), (6, 3), (7, 3)] {
            img.put(x, y, [0, 0, 255]);
        }
        let (dev, sys) = fake_fb(&dir, "4,2\n", "32\n", "20\n");
        let mut fb = Framebuffer::open(&dev, &sys).unwrap();
        fb.show(&img).unwrap();
        let bytes = std::fs::read(&dev).unwrap();
        assert_eq!(bytes.len(), 40);
        assert_eq!(&bytes[..4], &[0, 0, 255, 0xFF], "red as B,G,R,X");
        assert_eq!(&bytes[20 + 12..20 + 16], &[255, 0, 0, 0xFF], "bottom-right is the blue pixel");
        assert_eq!(&bytes[16..20], &[0; 4], "padding past the width is untouched");
        let (dev, sys) = fake_fb(&dir, "4,2", "16", "8");
        let mut fb = Framebuffer::open(&dev, &sys).unwrap();
        fb.show(&img).unwrap();
        assert_eq!(&std::fs::read(&dev).unwrap()[..2], &0xF800u16.to_le_bytes());
        let (dev, sys) = fake_fb(&dir, "4x2", "24", "8");
        let e = Framebuffer::open(&dev, &sys).unwrap_err().to_string();
        assert!(e.contains("virtual_size") && e.contains("4x2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
