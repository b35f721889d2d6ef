//! The hand-off from the screening loop to a viewer on another thread (the desktop window, the
//! web view's encoder): one slot holding the newest frame. The loop copies its frame in and
//! goes on; a viewer that is slower than the camera gets the newest frame when it is ready and
//! never sees the ones in between (drop-oldest), and the loop never waits for it. Two buffers
//! are recycled between the sides, so a steady stream allocates nothing.

use melanoscope_shared::image::RgbImage;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

#[derive(Debug, Default)]
struct Slot {
    newest: Option<RgbImage>,
    /// A buffer to copy the next frame into (the one a viewer gave back, or an overwritten one).
    spare: Option<RgbImage>,
    /// Frames put so far (a viewer asks for one newer than the last it took).
    generation: u64,
    closed: bool,
    /// Frames overwritten before any viewer took them.
    dropped: u64,
}

/// One frame's slot between the loop and a viewer thread.
#[derive(Debug, Default)]
pub struct LatestFrame {
    slot: Mutex<Slot>,
    fresh: Condvar,
}

impl LatestFrame {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A viewer thread that panicked holding the lock left a slot that is still whole.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies `frame` in as the newest (the loop's side; never waits on a viewer, only for the
    /// lock, which a viewer holds for a swap of two buffers).
    pub fn put(&self, frame: &RgbImage) {
        let spare = self.lock().spare.take();
        // Copied outside the lock: a 1080p frame is 6 MB.
        let mut buf = match spare {
            Some(mut b) => match b.reshape(frame.width(), frame.height()) {
                Ok(()) => b,
                Err(_) => frame.clone(),
            },
            None => frame.clone(),
        };
        buf.as_raw_mut().copy_from_slice(frame.as_raw());
        let mut slot = self.lock();
        if let Some(old) = slot.newest.replace(buf) {
            slot.dropped += 1;
            slot.spare = Some(old);
        }
        slot.generation += 1;
        drop(slot);
        self.fresh.notify_all();
    }

    /// The newest frame if it is newer than generation `seen`, waiting up to `wait` for one;
    /// with its generation. `None`: nothing newer in time, or closed. Give the frame back with
    /// [`LatestFrame::give_back`] when done with it.
    pub fn take_newer(&self, seen: u64, wait: Duration) -> Option<(RgbImage, u64)> {
        let slot = self.lock();
        let (mut slot, _) = self
            .fresh
            .wait_timeout_while(slot, wait, |s| !s.closed && (s.generation <= seen || s.newest.is_none()))
            .unwrap_or_else(PoisonError::into_inner);
        if slot.closed || slot.generation <= seen {
            return None;
        }
        let generation = slot.generation;
        slot.newest.take().map(|f| (f, generation))
    }

    /// A frame taken with [`LatestFrame::take_newer`], for the loop to copy the next one into.
    pub fn give_back(&self, frame: RgbImage) {
        let mut slot = self.lock();
        if slot.spare.is_none() {
            slot.spare = Some(frame);
        }
    }

    /// Wakes and ends every viewer's wait (the sink is going away).
    pub fn close(&self) {
        self.lock().closed = true;
        self.fresh.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Frames overwritten before a viewer took them.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(v: u8) -> RgbImage {
        RgbImage::filled(4, 2, [v; 3]).unwrap()
    }

    /// A viewer that takes nothing never holds the loop; when it looks, it gets the newest.
    #[test]
    fn a_slow_viewer_gets_the_newest_frame_and_the_loop_never_waits() {
        let slot = LatestFrame::default();
        for v in 1..=5 {
            slot.put(&img(v));
        }
        assert_eq!(slot.dropped(), 4);
        let (frame, generation) = slot.take_newer(0, Duration::ZERO).unwrap();
        assert_eq!((frame.get(0, 0), generation), (Some([5; 3]), 5));
        assert!(slot.take_newer(generation, Duration::from_millis(1)).is_none(), "nothing newer");
        slot.give_back(frame);
        // A frame of another size reuses the buffer after reshaping it.
        slot.put(&RgbImage::filled(3, 3, [9; 3]).unwrap());
        let (frame, _) = slot.take_newer(generation, Duration::ZERO).unwrap();
        assert_eq!((frame.width(), frame.height(), frame.get(2, 2)), (3, 3, Some([9; 3])));
    }

    /// A viewer waiting for a frame is woken by the next one, and by closing.
    #[test]
    fn waiting_viewers_wake_on_a_frame_and_on_close() {
        let slot = std::sync::Arc::new(LatestFrame::default());
        let viewer = std::thread::spawn({
            let slot = slot.clone();
            move || slot.take_newer(0, Duration::from_secs(60)).map(|(f, g)| (f.get(0, 0), g))
        });
        slot.put(&img(7));
        assert_eq!(viewer.join().unwrap(), Some((Some([7; 3]), 1)));
        let waiting = std::thread::spawn({
            let slot = slot.clone();
            move || slot.take_newer(1, Duration::from_secs(60)).is_none()
        });
        slot.close();
        assert!(waiting.join().unwrap());
        assert!(slot.is_closed());
    }
}
