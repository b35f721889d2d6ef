//! The picture on the screen: the corrected frame letterboxed into the display, the CAM of
//! each screened field blended over it, a verdict banner and a probability bar with the
//! threshold marked. A field's CAM is only redrawn when its probability moved by the
//! configured amount (or the view changed), so the overlay does not flicker.

use crate::analysis::FieldResult;
use embedded_graphics::mono_font::MonoTextStyle;
// Latin-1 fonts: µ (µm/px in the service messages), °, ×, and accented names draw as
// themselves; the ASCII fonts drew them as '?'.
use embedded_graphics::mono_font::iso_8859_1::{FONT_6X10, FONT_10X20};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use melanoscope_shared::cam::{Colormap, viridis};
use melanoscope_shared::formats::Verdict;
use melanoscope_shared::image::{ImageError, RgbImage};
use std::collections::BTreeMap;

const BANNER_H: u32 = 44;
const BAR_H: u32 = 14;
const STATUS_H: u32 = 14;
/// Heat below this stays transparent (tissue visible), above it blends at `ALPHA`.
const MIN_HEAT: f32 = 0.25;
const ALPHA: f32 = 0.45;
/// The outline of an unfamiliar field: cyan, a colour no verdict, heat or warning uses.
pub const UNFAMILIAR_COLOR: [u8; 3] = [0, 210, 255];

/// The banner colour of a verdict (red, green, amber; grey while there is none).
pub fn verdict_color(v: Option<Verdict>) -> [u8; 3] {
    match v {
        Some(Verdict::MelanomaSuspected) => [200, 30, 30],
        Some(Verdict::Nevus) => [30, 150, 60],
        Some(_) => [215, 140, 0],
        None => [90, 90, 90],
    }
}

/// `text` in the characters the Latin-1 fonts have: typographic dashes, quotes, ellipses and
/// arrows that messages may carry become their ASCII forms; anything else unknown becomes '?'.
pub fn displayable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' | '\u{2032}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2026}' => out.push_str("..."),
            '\u{2192}' => out.push_str("->"),
            '\u{2264}' => out.push_str("<="),
            '\u{2265}' => out.push_str(">="),
            '\t' => out.push(' '),
            c if (c as u32) < 0x20 || (0x7F..0xA0).contains(&(c as u32)) => {}
            c if (c as u32) <= 0xFF => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// `text` broken into lines of at most `per_line` characters at spaces; a word longer than a
/// line (a long path) is cut, at '/' where it has one.
pub fn wrap_words(text: &str, per_line: usize) -> Vec<String> {
    let per_line = per_line.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= per_line {
            line.push(' ');
            line.extend(word.iter());
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > per_line {
            // Cut after the last '/' that fits, else at the line's end.
            let cut = word[..per_line].iter().rposition(|c| *c == '/').map_or(per_line, |i| i + 1);
            lines.push(word.drain(..cut).collect());
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The banner's text: the verdict and the melanoma probability, labelled (a bare "p=0.71"
/// beside NEVUS read as a contradiction).
pub fn banner_label(verdict: Option<Verdict>, probability: Option<f64>) -> String {
    match (verdict, probability) {
        (Some(v), Some(p)) => format!("{}  melanoma {p:.2}", v.label()),
        (Some(v), None) => v.label().to_string(),
        (None, _) => "STARTING".to_string(),
    }
}

/// An embedded-graphics target over an RGB image (the same text and shapes on the HDMI
/// framebuffer, the snapshot files and, converted, the SPI display).
struct Canvas<'a>(&'a mut RgbImage);

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 {
                self.0.put(p.x as u32, p.y as u32, [c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct CachedField {
    probability: f32,
    heat: Vec<f32>,
    heat_size: (usize, usize),
    frame_rect: (f64, f64, f64),
    unfamiliar: bool,
}

/// What to draw for one frame.
#[derive(Debug, Clone, Copy)]
pub struct ScreenState<'a> {
    pub frame: &'a RgbImage,
    pub verdict: Option<Verdict>,
    pub probability: Option<f64>,
    pub threshold: f64,
    pub fields: &'a [FieldResult],
    /// Positive class index into each field's probabilities.
    pub positive: usize,
    /// The view changed: drop every cached CAM.
    pub restarted: bool,
    /// The line under the bar (objective, fields, rate).
    pub status: &'a str,
    /// Shown boxed at the right of the banner: what the user must know about every verdict
    /// (UNSIGNED MODEL, LOG WRITE FAILED).
    pub warning: Option<&'a str>,
}

/// A bar of white text on dark grey along the bottom of `img` (the window's case-id prompt and
/// the answers to its keys), over what is there.
pub fn text_bar(img: &mut RgbImage, text: &str) {
    let (w, h) = (img.width(), img.height());
    let (font, cw, ch) = if w >= 600 { (&FONT_10X20, 10, 20) } else { (&FONT_6X10, 6, 10) };
    let bar_h = ch + 8;
    let y = h.saturating_sub(bar_h) as i32;
    let mut canvas = Canvas(img);
    let _ = Rectangle::new(Point::new(0, y), Size::new(w, bar_h))
        .into_styled(PrimitiveStyle::with_fill(Rgb888::new(30, 30, 30)))
        .draw(&mut canvas);
    let per_line = ((w.saturating_sub(12)) / cw).max(1) as usize;
    let shown: String = displayable(text).chars().take(per_line).collect();
    let style = MonoTextStyle::new(font, Rgb888::WHITE);
    let _ = Text::with_baseline(&shown, Point::new(6, y + 4), style, Baseline::Top).draw(&mut canvas);
}

/// Renders frames into one reused display-sized image.
#[derive(Debug, Clone)]
pub struct Renderer {
    canvas: RgbImage,
    cache: BTreeMap<(u16, u16), CachedField>,
    min_change: f32,
    colormap: Colormap,
}

impl Renderer {
    pub fn new(width: u32, height: u32, min_change: f64) -> Result<Self, ImageError> {
        Ok(Self {
            canvas: RgbImage::filled(width, height.max(BANNER_H + BAR_H + STATUS_H + 8), [0; 3])?,
            cache: BTreeMap::new(),
            min_change: min_change as f32,
            colormap: viridis(),
        })
    }

    pub fn canvas(&self) -> &RgbImage {
        &self.canvas
    }

    /// Keeps the cached CAM of fields whose probability barely moved.
    fn update_cache(&mut self, s: &ScreenState<'_>) {
        if s.restarted || s.fields.is_empty() {
            self.cache.clear();
        }
        self.cache.retain(|k, _| s.fields.iter().any(|f| (f.col, f.row) == *k));
        for f in s.fields {
            let p = f.probabilities.get(s.positive).copied().unwrap_or(0.0);
            let stale = self
                .cache
                .get(&(f.col, f.row))
                .is_none_or(|c| (c.probability - p).abs() >= self.min_change || c.unfamiliar != f.unfamiliar);
            if stale {
                self.cache.insert(
                    (f.col, f.row),
                    CachedField {
                        probability: p,
                        heat: f.heat.clone(),
                        heat_size: f.heat_size,
                        frame_rect: f.frame_rect,
                        unfamiliar: f.unfamiliar,
                    },
                );
            }
        }
    }

    /// Draws one frame with its overlay, banner and bar.
    pub fn render(&mut self, s: &ScreenState<'_>) -> &RgbImage {
        self.update_cache(s);
        let (w, h) = (self.canvas.width(), self.canvas.height());
        let area_h = h - BANNER_H - BAR_H - STATUS_H;
        let (fw, fh) = (s.frame.width().max(1), s.frame.height().max(1));
        let scale = (f64::from(w) / f64::from(fw)).min(f64::from(area_h) / f64::from(fh));
        let (dw, dh) = ((f64::from(fw) * scale) as u32, (f64::from(fh) * scale) as u32);
        let (ox, oy) = ((w - dw.min(w)) / 2, BANNER_H + (area_h - dh.min(area_h)) / 2);
        self.canvas.as_raw_mut().fill(0);
        // Nearest-neighbour letterbox: the display is smaller than the frame, and this is cheap.
        for y in 0..dh.min(area_h) {
            let sy = ((f64::from(y) + 0.5) / scale) as u32;
            let src = s.frame.row(sy.min(fh - 1));
            let dst_row = (oy + y) as usize * w as usize * 3;
            for x in 0..dw.min(w) {
                let sx = (((f64::from(x) + 0.5) / scale) as u32).min(fw - 1) as usize * 3;
                let d = dst_row + (ox + x) as usize * 3;
                self.canvas.as_raw_mut()[d..d + 3].copy_from_slice(&src[sx..sx + 3]);
            }
        }
        for field in self.cache.values() {
            let (fx, fy, fs) = field.frame_rect;
            let (x0, y0) = (ox as f64 + fx * scale, oy as f64 + fy * scale);
            let side = fs * scale;
            if field.unfamiliar {
                // No heat where the model's answer means nothing: a dashed outline instead.
                outline_dashed(&mut self.canvas, (x0, y0, side), (ox + dw, oy + dh), UNFAMILIAR_COLOR);
                continue;
            }
            let (hh, hw) = field.heat_size;
            for y in y0 as u32..((y0 + side) as u32).min(oy + dh) {
                for x in x0 as u32..((x0 + side) as u32).min(ox + dw) {
                    let u = ((f64::from(x) + 0.5 - x0) / side * hw as f64).clamp(0.0, hw as f64 - 1.0) as usize;
                    let v = ((f64::from(y) + 0.5 - y0) / side * hh as f64).clamp(0.0, hh as f64 - 1.0) as usize;
                    let heat = field.heat.get(v * hw + u).copied().unwrap_or(0.0);
                    if heat >= MIN_HEAT {
                        let c = self.colormap.color(heat);
                        let Some(p) = self.canvas.get(x, y) else { continue };
                        let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - ALPHA) + f32::from(b) * ALPHA + 0.5) as u8;
                        self.canvas.put(x, y, [mix(p[0], c[0]), mix(p[1], c[1]), mix(p[2], c[2])]);
                    }
                }
            }
        }
        self.chrome(s.verdict, s.probability, s.threshold, s.status);
        if let Some(w) = s.warning {
            self.warning(w);
        }
        &self.canvas
    }

    /// A magenta box at the right end of the banner (no verdict colour is magenta).
    fn warning(&mut self, text: &str) {
        let w = self.canvas.width();
        // The banner's own label takes up to ~26 characters of 10 px; narrow panels get 6 px ones.
        let (font, cw, ch) = if w >= 600 { (&FONT_10X20, 10, 20) } else { (&FONT_6X10, 6, 10) };
        let box_w = (text.chars().count() as u32 * cw + 12).min(w);
        let x = (w - box_w) as i32;
        let mut canvas = Canvas(&mut self.canvas);
        let _ = Rectangle::new(Point::new(x, 4), Size::new(box_w, BANNER_H - 8))
            .into_styled(PrimitiveStyle::with_fill(Rgb888::new(200, 0, 200)))
            .draw(&mut canvas);
        let y = ((BANNER_H - ch) / 2) as i32;
        let style = MonoTextStyle::new(font, Rgb888::WHITE);
        let _ = Text::with_baseline(&displayable(text), Point::new(x + 6, y), style, Baseline::Top).draw(&mut canvas);
    }

    /// Banner, probability bar and status line.
    fn chrome(&mut self, verdict: Option<Verdict>, probability: Option<f64>, threshold: f64, status: &str) {
        let (w, h) = (self.canvas.width(), self.canvas.height());
        let c = verdict_color(verdict);
        let mut canvas = Canvas(&mut self.canvas);
        let fill = |c: [u8; 3]| PrimitiveStyle::with_fill(Rgb888::new(c[0], c[1], c[2]));
        let _ = Rectangle::new(Point::zero(), Size::new(w, BANNER_H)).into_styled(fill(c)).draw(&mut canvas);
        let label = banner_label(verdict, probability);
        let big = MonoTextStyle::new(&FONT_10X20, Rgb888::WHITE);
        let _ = Text::with_baseline(&label, Point::new(10, 12), big, Baseline::Top).draw(&mut canvas);
        let bar_y = (h - BAR_H - STATUS_H) as i32;
        let _ =
            Rectangle::new(Point::new(0, bar_y), Size::new(w, BAR_H)).into_styled(fill([40, 40, 40])).draw(&mut canvas);
        if let Some(p) = probability {
            let len = (p.clamp(0.0, 1.0) * f64::from(w)) as u32;
            let _ = Rectangle::new(Point::new(0, bar_y + 2), Size::new(len, BAR_H - 4))
                .into_styled(fill(c))
                .draw(&mut canvas);
        }
        let tick = (threshold.clamp(0.0, 1.0) * f64::from(w)) as i32;
        let _ = Rectangle::new(Point::new(tick - 1, bar_y), Size::new(3, BAR_H))
            .into_styled(fill([255; 3]))
            .draw(&mut canvas);
        // The tick says what it is, beside it (on its left when it sits near the right edge).
        if probability.is_some() {
            let text = format!("threshold {threshold:.2}");
            let text_w = text.len() as i32 * 6;
            let x = if tick + 4 + text_w <= w as i32 { tick + 4 } else { (tick - 4 - text_w).max(0) };
            let label = MonoTextStyle::new(&FONT_6X10, Rgb888::WHITE);
            let _ = Text::with_baseline(&text, Point::new(x, bar_y + 2), label, Baseline::Top).draw(&mut canvas);
        }
        let small = MonoTextStyle::new(&FONT_6X10, Rgb888::new(220, 220, 220));
        let _ =
            Text::with_baseline(&displayable(status), Point::new(4, bar_y + BAR_H as i32 + 2), small, Baseline::Top)
                .draw(&mut canvas);
    }

    /// A full-screen message (camera lost, no bundle, self-test failed) instead of a frame.
    pub fn message(&mut self, title: &str, detail: &str) -> &RgbImage {
        self.cache.clear();
        self.canvas.as_raw_mut().fill(0);
        self.chrome(Some(Verdict::Uncertain), None, 0.0, "");
        let w = self.canvas.width();
        let mut canvas = Canvas(&mut self.canvas);
        let _ = Rectangle::new(Point::zero(), Size::new(w, BANNER_H))
            .into_styled(PrimitiveStyle::with_fill(Rgb888::new(215, 140, 0)))
            .draw(&mut canvas);
        let big = MonoTextStyle::new(&FONT_10X20, Rgb888::WHITE);
        let _ = Text::with_baseline(&displayable(title), Point::new(10, 12), big, Baseline::Top).draw(&mut canvas);
        // Wrap the detail to the screen width, at word boundaries.
        let per_line = ((w as usize).saturating_sub(20) / 10).max(10);
        let mut y = BANNER_H as i32 + 20;
        for line in wrap_words(&displayable(detail), per_line) {
            let _ = Text::with_baseline(&line, Point::new(10, y), big, Baseline::Top).draw(&mut canvas);
            y += 24;
        }
        &self.canvas
    }
}

/// A 2 px dashed square outline (8 px on, 4 off) at `(x0, y0, side)` on `canvas`, clipped to
/// `(x1, y1)`.
fn outline_dashed(canvas: &mut RgbImage, (x0, y0, side): (f64, f64, f64), (x1, y1): (u32, u32), c: [u8; 3]) {
    let (left, top) = (x0.max(0.0) as u32, y0.max(0.0) as u32);
    let (right, bottom) = (((x0 + side) as u32).min(x1), ((y0 + side) as u32).min(y1));
    for t in 0..2 {
        for x in (left..right).filter(|x| (x - left) % 12 < 8) {
            for y in [top + t, bottom.saturating_sub(1 + t)] {
                canvas.put(x, y, c);
            }
        }
        for y in (top..bottom).filter(|y| (y - top) % 12 < 8) {
            for x in [left + t, right.saturating_sub(1 + t)] {
                canvas.put(x, y, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(p: f32, heat: f32) -> FieldResult {
        FieldResult {
            col: 0,
            row: 0,
            frame_rect: (100.0, 50.0, 200.0),
            probabilities: vec![1.0 - p, p],
            heat: vec![heat; 4],
            heat_size: (2, 2),
            familiarity: Some(0.5),
            unfamiliar: false,
        }
    }

    /// An unfamiliar field gets the dashed cyan outline and no heat, however hot its CAM.
    #[test]
    fn unfamiliar_fields_are_outlined_not_heated() {
        let frame = RgbImage::filled(400, 300, [200, 200, 200]).unwrap();
        let mut r = Renderer::new(320, 240, 0.05).unwrap();
        let odd = [FieldResult { unfamiliar: true, ..field(0.9, 0.9) }];
        let img = r.render(&state(&frame, &odd, Verdict::UnfamiliarTissue, 0.9)).clone();
        let scale = 168.0 / 300.0;
        let (x0, y0) = ((320.0 - 400.0 * scale) / 2.0 + 100.0 * scale, 44.0 + 50.0 * scale);
        let side = 200.0 * scale;
        assert_eq!(img.get(x0 as u32 + 2, y0 as u32), Some(UNFAMILIAR_COLOR), "top edge");
        assert_eq!(img.get((x0 + side / 2.0) as u32, (y0 + side / 2.0) as u32), Some([200, 200, 200]), "no heat");
        assert_eq!(img.get(2, 2), Some(verdict_color(Some(Verdict::UnfamiliarTissue))));
    }

    fn state<'a>(frame: &'a RgbImage, fields: &'a [FieldResult], v: Verdict, p: f64) -> ScreenState<'a> {
        ScreenState {
            frame,
            verdict: Some(v),
            probability: Some(p),
            threshold: 0.5,
            fields,
            positive: 1,
            restarted: false,
            status: "10x",
            warning: None,
        }
    }

    /// The pixels `text` lights on a small black canvas.
    fn glyphs(text: &str) -> Vec<u8> {
        let mut img = RgbImage::filled(60, 24, [0; 3]).unwrap();
        let style = MonoTextStyle::new(&FONT_10X20, Rgb888::WHITE);
        let _ =
            Text::with_baseline(&displayable(text), Point::new(0, 0), style, Baseline::Top).draw(&mut Canvas(&mut img));
        img.as_raw().to_vec()
    }

    #[test]
    fn micro_and_other_latin_1_signs_are_drawn_not_question_marks() {
        for c in ["µ", "°", "×", "é"] {
            assert_ne!(glyphs(c), glyphs("?"), "{c} drawn as '?'");
            assert!(glyphs(c).iter().any(|v| *v > 0), "{c} not drawn");
        }
        assert_eq!(displayable("0.25 µm/px – 40× … → ok"), "0.25 µm/px - 40× ... -> ok");
        assert_eq!(displayable("a\u{7}b\u{1F600}"), "ab?");
    }

    #[test]
    fn long_messages_wrap_between_words() {
        let text = "this model needs a 40X objective (0.25 µm/px); objective 10x gives 1.0 µm/px";
        let lines = wrap_words(text, 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        // No word is split: the lines rejoined by spaces give the text back.
        assert_eq!(lines.join(" "), text);
        assert_eq!(lines[0], "this model needs a 40X");
        // A path longer than a line is cut at its slashes.
        let long = wrap_words("/var/lib/melanoscope/snapshots/2026-12-01/frame.jpg", 20);
        assert!(long.iter().all(|l| l.chars().count() <= 20), "{long:?}");
        assert_eq!(long.concat(), "/var/lib/melanoscope/snapshots/2026-12-01/frame.jpg");
        assert_eq!(long[0], "/var/lib/");
        assert!(wrap_words("", 10).is_empty());
    }

    #[test]
    fn the_probability_and_the_threshold_tick_are_labelled() {
        assert_eq!(banner_label(Some(Verdict::Nevus), Some(0.71)), "NEVUS  melanoma 0.71");
        let frame = RgbImage::filled(400, 300, [200, 200, 200]).unwrap();
        let mut r = Renderer::new(640, 480, 0.05).unwrap();
        let shown = r.render(&state(&frame, &[], Verdict::Nevus, 0.2)).clone();
        // Right of the tick (at 0.5 of the width) the bar carries white label text.
        let bar_y = 480 - BAR_H - STATUS_H;
        let lit = (324..420).flat_map(|x| (bar_y + 2..bar_y + BAR_H - 2).map(move |y| (x, y)));
        let white = lit.filter(|&(x, y)| shown.get(x, y) == Some([255; 3])).count();
        assert!(white > 40, "{white} label pixels beside the tick");
        // Near the right edge the label moves to the tick's left and stays on screen.
        let high = r.render(&ScreenState { threshold: 0.95, ..state(&frame, &[], Verdict::Nevus, 0.2) }).clone();
        let left = (500..600).filter(|&x| high.get(x, bar_y + 6) == Some([255; 3])).count();
        assert!(left > 0, "label left of a tick near the edge");
    }

    #[test]
    fn a_warning_is_boxed_at_the_right_of_the_banner() {
        let frame = RgbImage::filled(400, 300, [200, 200, 200]).unwrap();
        for width in [800, 320] {
            let mut r = Renderer::new(width, 480, 0.05).unwrap();
            let plain = r.render(&state(&frame, &[], Verdict::Nevus, 0.2)).clone();
            let warned = r
                .render(&ScreenState { warning: Some("UNSIGNED MODEL"), ..state(&frame, &[], Verdict::Nevus, 0.2) })
                .clone();
            let magenta = (0..width).filter(|&x| warned.get(x, 6) == Some([200, 0, 200])).count();
            assert!(magenta > 60, "width {width}: {magenta} magenta pixels");
            assert_eq!(warned.get(2, 2), plain.get(2, 2), "the verdict colour stays at the left");
            assert_eq!(plain.get(width - 3, 6), Some(verdict_color(Some(Verdict::Nevus))));
        }
    }

    #[test]
    fn banner_colour_overlay_and_no_flicker_on_small_changes() {
        let frame = RgbImage::filled(400, 300, [200, 200, 200]).unwrap();
        let mut r = Renderer::new(320, 240, 0.05).unwrap();
        let hot = [field(0.9, 0.9)];
        let first = r.render(&state(&frame, &hot, Verdict::MelanomaSuspected, 0.9)).clone();
        assert_eq!(first.get(2, 2), Some(verdict_color(Some(Verdict::MelanomaSuspected))));
        // Frame 400x300 into 320x168 of image area: scale 0.56; field centre at (200,150) * 0.56.
        let scale = 168.0 / 300.0;
        let (cx, cy) = ((320.0 - 400.0 * scale) / 2.0 + 200.0 * scale, 44.0 + 150.0 * scale);
        let inside = first.get(cx as u32, cy as u32).unwrap();
        assert_ne!(inside, [200, 200, 200], "hot field is tinted");
        // A small change of the field keeps the overlay pixel for pixel.
        let warm = [field(0.88, 0.5)];
        let second = r.render(&state(&frame, &warm, Verdict::MelanomaSuspected, 0.9)).clone();
        assert_eq!(second.get(cx as u32, cy as u32).unwrap(), inside);
        // A meaningful change redraws it: cold heat is transparent.
        let cold = [field(0.2, 0.1)];
        let third = r.render(&state(&frame, &cold, Verdict::Nevus, 0.2)).clone();
        assert_eq!(third.get(cx as u32, cy as u32).unwrap(), [200, 200, 200]);
        assert_eq!(third.get(2, 2), Some(verdict_color(Some(Verdict::Nevus))));
        let m = r.message("CAMERA LOST", "/dev/video0: reopening in 2.0 s").clone();
        assert_eq!(m.get(2, 2), Some(verdict_color(Some(Verdict::Uncertain))));
    }
}
