//! A window on the desktop (X11 or Wayland): Raspberry Pi OS and JetPack boot to a desktop,
//! and a lab's laptop with a USB microscope camera has nothing else to show on. Every rendered
//! frame is shown scaled to the window with its aspect kept (letterboxed), at the camera rate.
//!
//! winit opens the window and reads the keys, softbuffer puts the pixels in it on the CPU: both
//! are the Rust windowing project's own maintained crates, load the X11 or Wayland libraries at
//! run time (board builds need no desktop development files), and winit gives what a kiosk
//! needs (fullscreen on either window system, keys as text for a barcode scanner) where
//! minifb has no fullscreen switch. The window runs its event loop on a thread of its own; the
//! screening loop hands it frames through [`LatestFrame`] and never waits for it.
//!
//! Keys: F11 fullscreen; Space freezes the view and saves a snapshot (as the button does), again
//! resumes; typing (or a barcode scanner's keystrokes) fills a case-id prompt and Enter opens
//! that case; F2 closes the open case; Escape clears the prompt. Closing the window ends the
//! session as a stop signal does (records written, an open case left open and reported at the
//! next start).

use super::handoff::LatestFrame;
use super::{DisplaySink, SinkError};
use crate::cases::requests::Operator;
use melanoscope_shared::image::RgbImage;
use std::sync::Arc;

/// The window's title.
pub const TITLE: &str = "Melanoscope live screen";

fn fault(detail: impl Into<String>) -> SinkError {
    SinkError::Device { sink: "window".into(), detail: detail.into() }
}

/// Why no window can open here, before trying: no desktop session in the environment.
pub fn no_desktop() -> Option<SinkError> {
    let set = |k| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    (!set("DISPLAY") && !set("WAYLAND_DISPLAY")).then(|| {
        fault(
            "no desktop session: neither $DISPLAY nor $WAYLAND_DISPLAY is set (a service or a console). On a \
             console without a desktop use the framebuffer sink; from another computer, the web view ([web] \
             enabled = true); on a desktop, start screen from the desktop session (docs/boards/sinks.md)",
        )
    })
}

/// The desktop window (see the module's text).
#[derive(Debug)]
pub struct WindowSink {
    frames: Arc<LatestFrame>,
    #[cfg(feature = "window")]
    imp: imp::Handle,
}

impl WindowSink {
    /// Opens the window at `width` x `height` (the display size; the desktop may give another,
    /// the frame is scaled to it). `operator`: where its keys' requests go and the flag its
    /// closing sets; without one (a fault screen) the keys do nothing. `fullscreen`: open full
    /// screen (a kiosk).
    pub fn open(width: u32, height: u32, fullscreen: bool, operator: Option<Operator>) -> Result<Self, SinkError> {
        if let Some(e) = no_desktop() {
            return Err(e);
        }
        let frames = Arc::new(LatestFrame::default());
        #[cfg(feature = "window")]
        {
            let imp = imp::Handle::open(frames.clone(), width, height, fullscreen, operator)?;
            Ok(Self { frames, imp })
        }
        #[cfg(not(feature = "window"))]
        {
            let _ = (frames, width, height, fullscreen, operator);
            Err(fault(
                "this melanoscope-edge was built without the `window` feature; use the framebuffer sink or the web view",
            ))
        }
    }
}

impl DisplaySink for WindowSink {
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        self.frames.put(frame);
        #[cfg(feature = "window")]
        self.imp.wake();
        Ok(())
    }

    fn name(&self) -> String {
        "window".into()
    }
}

impl Drop for WindowSink {
    fn drop(&mut self) {
        self.frames.close();
        #[cfg(feature = "window")]
        self.imp.quit();
    }
}

#[cfg(feature = "window")]
mod imp;
