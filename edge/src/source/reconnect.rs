//! A camera that disappears is reopened with backoff. The wrapper never blocks: while the
//! camera is away each call returns at once with the reason and the time to the next attempt,
//! so the loop keeps the screen saying so.

use super::{Frame, FrameSource, SourceError};

/// Waits between reopening attempts, in milliseconds; the last repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    steps_ms: Vec<u64>,
}

impl Backoff {
    pub fn from_seconds(steps: &[f64]) -> Self {
        let steps_ms: Vec<u64> = steps.iter().map(|s| (s.max(0.0) * 1000.0).round() as u64).collect();
        Self { steps_ms: if steps_ms.is_empty() { vec![1000] } else { steps_ms } }
    }

    /// The wait before attempt `n` (0-based) after a loss.
    pub fn wait_ms(&self, attempt: usize) -> u64 {
        self.steps_ms[attempt.min(self.steps_ms.len() - 1)]
    }
}

/// Wraps a source opened by `open`, reopening it after [`SourceError::Disconnected`] or a
/// failed open. `now_ms` is the clock (milliseconds since any fixed point).
pub struct Reconnecting<S, O, C> {
    open: O,
    clock: C,
    backoff: Backoff,
    source: Option<S>,
    attempt: usize,
    next_try_ms: u64,
    last_error: String,
    /// How many times the source was lost.
    pub losses: u64,
    name: String,
}

impl<S, O, C> std::fmt::Debug for Reconnecting<S, O, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting").field("name", &self.name).field("attempt", &self.attempt).finish()
    }
}

impl<S, O, C> Reconnecting<S, O, C>
where
    S: FrameSource,
    O: FnMut() -> Result<S, SourceError>,
    C: FnMut() -> u64,
{
    pub fn new(name: &str, open: O, clock: C, backoff: Backoff) -> Self {
        Self {
            open,
            clock,
            backoff,
            source: None,
            attempt: 0,
            next_try_ms: 0,
            last_error: String::new(),
            losses: 0,
            name: name.into(),
        }
    }

    fn lost(&mut self, detail: String, now: u64) -> SourceError {
        self.source = None;
        let wait = self.backoff.wait_ms(self.attempt);
        self.attempt += 1;
        self.next_try_ms = now + wait;
        self.last_error = detail;
        SourceError::Disconnected {
            device: self.name.clone(),
            detail: format!("{}; reopening in {:.1} s", self.last_error, wait as f64 / 1000.0),
        }
    }
}

impl<S, O, C> FrameSource for Reconnecting<S, O, C>
where
    S: FrameSource,
    O: FnMut() -> Result<S, SourceError>,
    C: FnMut() -> u64,
{
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let now = (self.clock)();
        if self.source.is_none() {
            if now < self.next_try_ms {
                return Err(SourceError::Disconnected {
                    device: self.name.clone(),
                    detail: format!(
                        "{}; reopening in {:.1} s",
                        self.last_error,
                        (self.next_try_ms - now) as f64 / 1000.0
                    ),
                });
            }
            match (self.open)() {
                Ok(s) => self.source = Some(s),
                Err(e) => return Err(self.lost(melanoscope_shared::errors::error_chain(&e), now)),
            }
        }
        let Some(source) = self.source.as_mut() else { return Ok(None) };
        match source.next_frame() {
            Ok(f) => {
                self.attempt = 0;
                Ok(f)
            }
            Err(SourceError::Disconnected { detail, .. }) => {
                self.losses += 1;
                Err(self.lost(detail, now))
            }
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        match &self.source {
            Some(s) => s.describe(),
            None => format!("{} (not open)", self.name),
        }
    }

    fn recycle(&mut self, image: melanoscope_shared::image::RgbImage) {
        if let Some(source) = self.source.as_mut() {
            source.recycle(image);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::image::RgbImage;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Delivers `frames` frames, then reports the device lost.
    struct Flaky(u32);
    impl FrameSource for Flaky {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            if self.0 == 0 {
                return Err(SourceError::Disconnected { device: "cam".into(), detail: "ENODEV".into() });
            }
            self.0 -= 1;
            Ok(Some(Frame { image: RgbImage::filled(2, 2, [1; 3]).unwrap(), index: 0, origin: "cam".into() }))
        }
        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn lost_camera_is_reopened_on_the_backoff_schedule() {
        let now = Rc::new(Cell::new(0u64));
        let opens = Rc::new(Cell::new(0u32));
        let (n, o) = (now.clone(), opens.clone());
        // Opening fails twice (unplugged), then the camera gives two frames before it is lost.
        let open = move || {
            o.set(o.get() + 1);
            if o.get() <= 2 { Err(SourceError::Unavailable("no /dev/video0".into())) } else { Ok(Flaky(2)) }
        };
        let mut cam = Reconnecting::new("/dev/video0", open, move || n.get(), Backoff::from_seconds(&[0.5, 2.0]));
        let e = cam.next_frame().unwrap_err().to_string();
        assert!(e.contains("no /dev/video0") && e.contains("reopening in 0.5 s"), "{e}");
        now.set(400);
        assert!(cam.next_frame().is_err());
        assert_eq!(opens.get(), 1, "no attempt before the wait is over");
        now.set(500);
        let e = cam.next_frame().unwrap_err().to_string();
        assert!(e.contains("reopening in 2.0 s"), "second wait: {e}");
        now.set(2500);
        assert!(cam.next_frame().unwrap().is_some());
        assert!(cam.next_frame().unwrap().is_some());
        let e = cam.next_frame().unwrap_err().to_string();
        assert!(e.contains("ENODEV") && e.contains("reopening in 0.5 s"), "backoff restarts after a good frame: {e}");
        assert_eq!((opens.get(), cam.losses), (3, 1));
    }
}
