//! The raw RGB24 stream on arbitrary bytes and frame sizes: never panics, every frame has the
//! stated size, and it ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::source::{FrameSource, RawStream};

fuzz_target!(|data: &[u8]| {
    let Some((&[w, h], stream)) = data.split_first_chunk::<2>() else { return };
    let (w, h) = (u32::from(w).max(1), u32::from(h).max(1));
    let mut s = RawStream::new(std::io::Cursor::new(stream), "fuzz", w, h);
    for _ in 0..=stream.len() + 1 {
        match s.next_frame() {
            Ok(Some(f)) => {
                assert_eq!((f.image.width(), f.image.height()), (w, h));
                s.recycle(f.image);
            }
            Ok(None) => return,
            Err(_) => {}
        }
    }
    panic!("the raw stream did not end on {} bytes", stream.len());
});
