//! Image files replayed as a camera stream: files, folders (their PNG/JPEG/TIFF files in name
//! order) and glob patterns, in the order given. Each file is bounded like a camera frame: an
//! image whose header claims more than [`FrameBounds::HARD`] is refused before decoding.

use super::{Frame, FrameSource, SourceError};
use melanoscope_shared::bounded::BoundedReadError;
use melanoscope_shared::image::FrameBounds;
use std::path::{Path, PathBuf};

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg", "tif", "tiff"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands `items` (files, folders, globs) into the list of image files; an item that names
/// nothing is an error that names it.
pub fn expand_replay(items: &[String]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for item in items {
        let path = Path::new(item);
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| SourceError::Unavailable(format!("replay folder {item}: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(SourceError::Unavailable(format!("replay folder {item} holds no PNG, JPEG or TIFF file")));
            }
            out.extend(files);
        } else if path.is_file() {
            out.push(path.to_path_buf());
        } else if item.contains(['*', '?', '[']) {
            let matches =
                glob::glob(item).map_err(|e| SourceError::Unavailable(format!("replay pattern {item}: {e}")))?;
            let mut files: Vec<PathBuf> = matches.filter_map(Result::ok).filter(|p| p.is_file()).collect();
            files.sort();
            if files.is_empty() {
                return Err(SourceError::Unavailable(format!("replay pattern {item} matches no file")));
            }
            out.extend(files);
        } else {
            return Err(SourceError::Unavailable(format!("replay item {item}: no such file or folder")));
        }
    }
    Ok(out)
}

/// A replayed file larger than this is refused before it is read: an uncompressed 16-bit TIFF
/// of a 4K camera is about 50 MB.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Replays a list of image files, once or in a loop.
#[derive(Debug)]
pub struct Replay {
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
    delivered: u64,
    /// The last delivered frame's image, handed back: the next file is decoded into it.
    spare: Option<melanoscope_shared::image::RgbImage>,
}

impl Replay {
    pub fn new(items: &[String], looping: bool) -> Result<Self, SourceError> {
        Ok(Self { files: expand_replay(items)?, next: 0, looping, delivered: 0, spare: None })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next == self.files.len() {
            if !self.looping || self.files.is_empty() {
                return Ok(None);
            }
            self.next = 0;
        }
        let path = &self.files[self.next];
        self.next += 1;
        let origin = path.display().to_string();
        let corrupt = |detail: String| SourceError::Corrupt { origin: origin.clone(), detail };
        let bytes = melanoscope_shared::bounded::read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
            BoundedReadError::Io(e) => corrupt(melanoscope_shared::errors::error_chain(&e)),
            BoundedReadError::TooLarge { .. } => SourceError::Oversized {
                origin: origin.clone(),
                detail: format!("over {MAX_FILE_BYTES} bytes; a frame file is at most that"),
            },
        })?;
        let image = super::decode_into_spare(&bytes, &mut self.spare, FrameBounds::HARD, &origin)?;
        let index = self.delivered;
        self.delivered += 1;
        Ok(Some(Frame { image, index, origin }))
    }

    fn describe(&self) -> String {
        format!("replay of {} files", self.files.len())
    }

    fn recycle(&mut self, image: melanoscope_shared::image::RgbImage) {
        self.spare = Some(image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::image::{RgbImage, save_rgb};

    #[test]
    fn folders_globs_and_files_expand_in_order_and_bad_files_are_skippable() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("replay");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let img = RgbImage::filled(8, 8, [200, 100, 150]).unwrap();
        save_rgb(&dir.join("sub/b.png"), &img).unwrap();
        save_rgb(&dir.join("sub/a.png"), &img).unwrap();
        std::fs::write(dir.join("sub/notes.txt"), "x").unwrap();
        std::fs::write(dir.join("broken.jpg"), b"not a jpeg").unwrap();
        let items = [
            dir.join("sub").display().to_string(),
            dir.join("sub/a.*").display().to_string(),
            dir.join("broken.jpg").display().to_string(),
        ];
        let mut r = Replay::new(&items, false).unwrap();
        assert_eq!(r.len(), 4);
        let names: Vec<String> = (0..2).map(|_| r.next_frame().unwrap().unwrap().origin).collect();
        assert!(names[0].ends_with("a.png") && names[1].ends_with("b.png"), "{names:?}");
        assert!(r.next_frame().unwrap().unwrap().origin.ends_with("a.png"));
        let e = r.next_frame().unwrap_err();
        assert!(matches!(e, SourceError::Corrupt { .. }) && e.to_string().contains("broken.jpg"), "{e}");
        assert!(r.next_frame().unwrap().is_none(), "the replay ends");
        let e = Replay::new(&[dir.join("nothing-*.png").display().to_string()], false).unwrap_err().to_string();
        assert!(e.contains("matches no file"), "{e}");
        let e = Replay::new(&["/no/such/frame.png".into()], false).unwrap_err().to_string();
        assert!(e.contains("/no/such/frame.png"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Microscope cameras save TIFF, often 16-bit: replayed like PNG and JPEG.
    #[test]
    fn tiff_frames_replay_8_and_16_bit() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("replay-tiff");
        let deep = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(12, 8, |x, _| {
            image::Rgb([x as u16 * 5000, 30_000, 65_535])
        });
        deep.save(dir.join("a-16bit.tif")).unwrap();
        save_rgb(&dir.join("b.tiff"), &RgbImage::filled(12, 8, [200, 100, 150]).unwrap()).unwrap();
        let mut r = Replay::new(&[dir.display().to_string()], false).unwrap();
        assert_eq!(r.len(), 2);
        let a = r.next_frame().unwrap().unwrap().image;
        assert_eq!((a.width(), a.height(), a.get(2, 0)), (12, 8, Some([39, 117, 255])));
        assert_eq!(r.next_frame().unwrap().unwrap().image.get(3, 3), Some([200, 100, 150]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Truncated, garbage and oversized frame files are skipped with the reason, and a frame
    /// handed back is reused for the next file.
    #[test]
    fn bad_tiff_frames_are_refused_by_name_and_buffers_are_reused() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("replay-bad");
        // JPEG frames around the bad ones: they decode straight into a handed-back buffer.
        save_rgb(&dir.join("a.jpg"), &RgbImage::filled(64, 48, [200, 100, 150]).unwrap()).unwrap();
        save_rgb(&dir.join("tiff.tmp.tif"), &RgbImage::filled(64, 48, [200, 100, 150]).unwrap()).unwrap();
        let whole = std::fs::read(dir.join("tiff.tmp.tif")).unwrap();
        std::fs::remove_file(dir.join("tiff.tmp.tif")).unwrap();
        std::fs::write(dir.join("b-truncated.tif"), &whole[..whole.len() / 2]).unwrap();
        std::fs::write(dir.join("c-garbage.tiff"), b"II*\0 not really").unwrap();
        // A TIFF header claiming 100000 x 100000: refused from the header, nothing decoded.
        let mut huge = whole.clone();
        let ifd = u32::from_le_bytes(huge[4..8].try_into().unwrap()) as usize;
        let n = u16::from_le_bytes(huge[ifd..ifd + 2].try_into().unwrap()) as usize;
        for e in 0..n {
            let at = ifd + 2 + 12 * e;
            let tag = u16::from_le_bytes(huge[at..at + 2].try_into().unwrap());
            if tag == 256 || tag == 257 {
                let ty = u16::from_le_bytes(huge[at + 2..at + 4].try_into().unwrap());
                if ty == 3 {
                    huge[at + 8..at + 10].copy_from_slice(&60_000u16.to_le_bytes());
                } else {
                    huge[at + 8..at + 12].copy_from_slice(&100_000u32.to_le_bytes());
                }
            }
        }
        std::fs::write(dir.join("d-huge.tif"), &huge).unwrap();
        save_rgb(&dir.join("e.jpg"), &RgbImage::filled(64, 48, [10, 20, 30]).unwrap()).unwrap();
        let mut r = Replay::new(&[dir.display().to_string()], false).unwrap();
        let first = r.next_frame().unwrap().unwrap().image;
        let at = first.as_raw().as_ptr();
        r.recycle(first);
        for bad in ["b-truncated.tif", "c-garbage.tiff", "d-huge.tif"] {
            match r.next_frame() {
                Err(e @ (SourceError::Corrupt { .. } | SourceError::Oversized { .. })) => {
                    assert!(e.to_string().contains(bad), "{e}")
                }
                other => panic!("{bad}: expected a refusal, got {other:?}"),
            }
        }
        let last = r.next_frame().unwrap().unwrap().image;
        let p = last.get(0, 0).unwrap();
        assert!(p.iter().zip([10u8, 20, 30]).all(|(a, b)| a.abs_diff(b) <= 3), "{p:?}");
        assert_eq!(last.as_raw().as_ptr(), at, "the handed-back buffer was reused");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
