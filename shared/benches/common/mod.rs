//! The benches' camera frame.

use melanoscope_shared::image::RgbImage;
use melanoscope_shared::rng::SplitMix64;

/// A frame that is two-thirds stained tissue (purple nuclei on pink stroma, with noise) and
/// one-third glass, so that tissue tests, stain fits and tensor writers all do real work.
pub fn camera_frame(w: u32, h: u32) -> RgbImage {
    let mut rng = SplitMix64::new(5);
    let mut img = RgbImage::filled(w, h, [236, 234, 240]).unwrap();
    for y in 0..h {
        for x in 0..(w * 2 / 3) {
            let noise = (rng.next_u64() % 24) as u8;
            let nucleus = ((x / 7) * 31 + (y / 7) * 17) % 11 == 0;
            let px =
                if nucleus { [90 + noise, 50 + noise, 140 + noise] } else { [210 + noise, 130 + noise, 180 + noise] };
            img.put(x, y, px);
        }
    }
    img
}
