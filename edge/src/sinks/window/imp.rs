//! The window's thread: winit's event loop with a softbuffer surface.

use super::{LatestFrame, TITLE, fault};
use crate::cases::requests::{Operator, Reply, Request};
use crate::screen::render::text_bar;
use crate::sinks::{SinkError, scaled_pixels};
use melanoscope_shared::formats::MAX_CASE_ID_LEN;
use melanoscope_shared::image::RgbImage;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Fullscreen, Window, WindowId};

/// How long the window may take to open before the sink is given up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an answer stays on the window.
const MESSAGE_FOR: Duration = Duration::from_secs(6);

/// What wakes the window's loop.
#[derive(Debug, Clone, Copy)]
enum Wake {
    Frame,
    Quit,
}

/// The screening loop's side of the window.
#[derive(Debug)]
pub(super) struct Handle {
    proxy: EventLoopProxy<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    pub(super) fn open(
        frames: Arc<LatestFrame>,
        width: u32,
        height: u32,
        fullscreen: bool,
        operator: Option<Operator>,
    ) -> Result<Self, SinkError> {
        let (ready, opened) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("window".into())
            .spawn(move || run(frames, PhysicalSize::new(width, height), fullscreen, operator, ready))
            .map_err(|e| fault(format!("no thread for the window: {e}")))?;
        match opened.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(proxy)) => Ok(Self { proxy, thread: Some(thread) }),
            Ok(Err(detail)) => {
                let _ = thread.join();
                Err(fault(detail))
            }
            Err(_) => Err(fault(format!("the desktop did not open a window within {} s", OPEN_TIMEOUT.as_secs()))),
        }
    }

    pub(super) fn wake(&self) {
        // Fails only when the window's loop has ended (the window was closed).
        let _ = self.proxy.send_event(Wake::Frame);
    }

    pub(super) fn quit(&mut self) {
        if self.proxy.send_event(Wake::Quit).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}

type Ready = SyncSender<Result<EventLoopProxy<Wake>, String>>;

/// The window thread's body: builds the event loop (on this thread: winit allows it on Linux
/// with `any_thread`) and runs it until the window closes or the sink goes away.
fn run(frames: Arc<LatestFrame>, size: PhysicalSize<u32>, fullscreen: bool, operator: Option<Operator>, ready: Ready) {
    let mut builder = EventLoop::<Wake>::with_user_event();
    winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
    let event_loop = match builder.build() {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("the desktop refused the window's event loop: {e}")));
            return;
        }
    };
    let proxy = event_loop.create_proxy();
    let mut app = App {
        frames,
        size,
        fullscreen,
        operator,
        ready: Some((ready, proxy)),
        view: None,
        shown: None,
        seen: 0,
        prompt: String::new(),
        message: None,
        waiting: Vec::new(),
        scratch: None,
    };
    if let Err(e) = event_loop.run_app(&mut app) {
        tracing::error!(error = %e, "the window's event loop ended with an error");
    }
}

struct View {
    window: Rc<Window>,
    surface: softbuffer::Surface<Rc<Window>, Rc<Window>>,
}

struct App {
    frames: Arc<LatestFrame>,
    size: PhysicalSize<u32>,
    fullscreen: bool,
    operator: Option<Operator>,
    /// Told once whether the window opened.
    ready: Option<(Ready, EventLoopProxy<Wake>)>,
    view: Option<View>,
    /// The frame on the window (drawn again on a resize).
    shown: Option<RgbImage>,
    seen: u64,
    /// The case id being typed (or scanned).
    prompt: String,
    /// The last answer to a key, until it expires.
    message: Option<(String, Instant)>,
    /// Requests sent whose answers have not arrived.
    waiting: Vec<Receiver<Result<String, String>>>,
    /// The frame with the prompt bar drawn on it.
    scratch: Option<RgbImage>,
}

impl App {
    fn open_view(&self, event_loop: &ActiveEventLoop) -> Result<View, String> {
        let attributes = Window::default_attributes()
            .with_title(TITLE)
            .with_inner_size(self.size)
            .with_fullscreen(self.fullscreen.then_some(Fullscreen::Borderless(None)));
        let window = Rc::new(event_loop.create_window(attributes).map_err(|e| format!("no window: {e}"))?);
        let context = softbuffer::Context::new(window.clone()).map_err(|e| format!("no drawing context: {e}"))?;
        let surface =
            softbuffer::Surface::new(&context, window.clone()).map_err(|e| format!("no drawing surface: {e}"))?;
        Ok(View { window, surface })
    }

    fn send(&mut self, request: Request) {
        let Some(op) = &self.operator else { return };
        let (reply, answer) = Reply::channel();
        op.requests.offer(request, reply);
        self.waiting.push(answer);
    }

    fn say(&mut self, text: String) {
        tracing::info!(answer = %text, "window");
        self.message = Some((text, Instant::now()));
        self.redraw();
    }

    fn redraw(&self) {
        if let Some(v) = &self.view {
            v.window.request_redraw();
        }
    }

    fn key(&mut self, event_loop: &ActiveEventLoop, key: &KeyEvent) {
        if key.state != ElementState::Pressed {
            return;
        }
        match &key.logical_key {
            Key::Named(NamedKey::F11) => {
                if let Some(v) = &self.view {
                    let full = v.window.fullscreen().is_some();
                    v.window.set_fullscreen((!full).then_some(Fullscreen::Borderless(None)));
                }
            }
            Key::Named(NamedKey::Space) if self.prompt.is_empty() && !key.repeat => self.send(Request::Freeze),
            Key::Named(NamedKey::Enter) if !self.prompt.is_empty() => {
                let id = std::mem::take(&mut self.prompt);
                self.send(Request::Open(id));
                self.redraw();
            }
            Key::Named(NamedKey::F2) if !key.repeat => self.send(Request::Close),
            Key::Named(NamedKey::Backspace) => {
                self.prompt.pop();
                self.redraw();
            }
            Key::Named(NamedKey::Escape) => {
                if !self.prompt.is_empty() {
                    self.prompt.clear();
                    self.redraw();
                } else if let Some(v) = self.view.as_ref().filter(|v| v.window.fullscreen().is_some()) {
                    v.window.set_fullscreen(None);
                }
            }
            _ => {
                // Case-id characters only: anything else a scanner or a hand types is left out
                // here rather than refused by the screen after Enter.
                let typed = key.text.as_deref().unwrap_or("");
                let kept = typed.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                for c in kept {
                    if self.prompt.len() < MAX_CASE_ID_LEN {
                        self.prompt.push(c);
                    }
                }
                if !typed.is_empty() {
                    self.redraw();
                }
            }
        }
        let _ = event_loop;
    }

    /// The bar under the frame: the prompt while typing, else the last answer.
    fn bar(&self) -> Option<String> {
        if !self.prompt.is_empty() {
            return Some(format!("case id: {}_   (Enter: open, Esc: clear)", self.prompt));
        }
        self.message.as_ref().filter(|(_, at)| at.elapsed() < MESSAGE_FOR).map(|(t, _)| t.clone())
    }

    fn draw(&mut self) {
        let bar = self.bar();
        let Some(view) = &mut self.view else { return };
        let size = view.window.inner_size();
        let (Some(w), Some(h)) = (NonZeroU32::new(size.width), NonZeroU32::new(size.height)) else { return };
        if let Err(e) = view.surface.resize(w, h) {
            tracing::warn!(error = %e, "window: resize");
            return;
        }
        let mut buffer = match view.surface.buffer_mut() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "window: no buffer");
                return;
            }
        };
        buffer.fill(0);
        let frame = match (&self.shown, bar) {
            (Some(f), Some(text)) => {
                let scratch = self.scratch.get_or_insert_with(|| f.clone());
                if scratch.reshape(f.width(), f.height()).is_ok() {
                    scratch.as_raw_mut().copy_from_slice(f.as_raw());
                    text_bar(scratch, &text);
                }
                Some(&*scratch)
            }
            (f, _) => f.as_ref(),
        };
        if let Some(f) = frame {
            let (ww, wh) = (size.width, size.height);
            let (dw, dh) = fit(f.width(), f.height(), ww, wh);
            let (ox, oy) = ((ww - dw) / 2, (wh - dh) / 2);
            scaled_pixels(f, dw, dh, |x, y, [r, g, b]| {
                let i = (oy + y) as usize * ww as usize + (ox + x) as usize;
                buffer[i] = (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b);
            });
        }
        if let Err(e) = buffer.present() {
            tracing::warn!(error = %e, "window: present");
        }
    }
}

/// The largest `w` x `h` with the frame's aspect that fits the window.
pub(super) fn fit(fw: u32, fh: u32, ww: u32, wh: u32) -> (u32, u32) {
    let (fw, fh) = (u64::from(fw.max(1)), u64::from(fh.max(1)));
    let (ww, wh) = (u64::from(ww), u64::from(wh));
    // Width-bound when the window is narrower than the frame's aspect (ww/wh <= fw/fh).
    if ww * fh <= wh * fw { (ww as u32, (ww * fh / fw) as u32) } else { ((wh * fw / fh) as u32, wh as u32) }
}

impl ApplicationHandler<Wake> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.view.is_some() {
            return;
        }
        let opened = self.open_view(event_loop);
        let Some((ready, proxy)) = self.ready.take() else { return };
        match opened {
            Ok(view) => {
                self.view = Some(view);
                let _ = ready.send(Ok(proxy));
            }
            Err(detail) => {
                let _ = ready.send(Err(detail));
                event_loop.exit();
            }
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, wake: Wake) {
        match wake {
            Wake::Quit => event_loop.exit(),
            Wake::Frame => {
                if let Some((frame, generation)) = self.frames.take_newer(self.seen, Duration::ZERO) {
                    self.seen = generation;
                    if let Some(old) = self.shown.replace(frame) {
                        self.frames.give_back(old);
                    }
                    self.redraw();
                }
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => {
                tracing::info!("the window was closed: the session ends");
                if let Some(op) = &self.operator {
                    op.stop.store(true, Ordering::SeqCst);
                }
                self.view = None;
                event_loop.exit();
            }
            WindowEvent::RedrawRequested => self.draw(),
            WindowEvent::Resized(_) => self.redraw(),
            WindowEvent::KeyboardInput { event, .. } => self.key(event_loop, &event),
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        let mut answers = Vec::new();
        self.waiting.retain(|w| match w.try_recv() {
            Ok(answer) => {
                answers.push(answer);
                false
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => true,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => false,
        });
        for answer in answers {
            self.say(answer.unwrap_or_else(|why| format!("refused: {why}")));
        }
        let expiring = self.message.as_ref().is_some_and(|(_, at)| at.elapsed() < MESSAGE_FOR);
        if let Some((_, at)) = &self.message
            && at.elapsed() >= MESSAGE_FOR
        {
            self.message = None;
            self.redraw();
        }
        // Answers arrive on channels, not as window events: look again soon while any wait.
        if !self.waiting.is_empty() || expiring {
            event_loop.set_control_flow(ControlFlow::WaitUntil(Instant::now() + Duration::from_millis(100)));
        } else {
            event_loop.set_control_flow(ControlFlow::Wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn frames_fit_the_window_with_their_aspect() {
        assert_eq!(fit(800, 480, 800, 480), (800, 480));
        assert_eq!(fit(800, 480, 1600, 480), (800, 480), "letterboxed left and right");
        assert_eq!(fit(800, 480, 400, 1000), (400, 240), "letterboxed above and below");
        assert_eq!(fit(1920, 1080, 1280, 1024), (1280, 720));
        assert_eq!(fit(0, 0, 10, 10), (10, 10), "a degenerate frame divides by nothing");
    }
}
