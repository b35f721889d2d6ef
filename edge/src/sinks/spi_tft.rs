//! An SPI TFT (ST7789 or ILI9341) through `mipidsi`, on any embedded-hal 1.0 SPI device and
//! pins (`boards` provides them for the Pi and Jetson, and mocks for tests). The panel keeps
//! its picture, so only the rows that changed since the last frame are sent: a steady verdict
//! costs no SPI traffic and the screen does not flicker.

use super::{DisplaySink, SinkError, scaled_pixels};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;
use melanoscope_shared::image::RgbImage;
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::ColorInversion;
use mipidsi::{Builder, Display};

/// A display driven through embedded-graphics, sent changed rows only.
#[derive(Debug)]
pub struct SpiTft<D> {
    display: D,
    width: u32,
    height: u32,
    shown: Vec<Rgb565>,
    next: Vec<Rgb565>,
    name: String,
    /// Rows sent in the last frame (0 when nothing changed).
    pub rows_sent: u32,
}

impl<D> SpiTft<D>
where
    D: DrawTarget<Color = Rgb565>,
    D::Error: core::fmt::Debug,
{
    pub fn new(display: D, width: u32, height: u32, name: &str) -> Self {
        Self { display, width, height, shown: Vec::new(), next: Vec::new(), name: name.into(), rows_sent: 0 }
    }

    pub fn release(self) -> D {
        self.display
    }
}

impl<D> DisplaySink for SpiTft<D>
where
    D: DrawTarget<Color = Rgb565>,
    D::Error: core::fmt::Debug,
{
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        let (w, h) = (self.width, self.height);
        self.next.clear();
        let next = &mut self.next;
        scaled_pixels(frame, w, h, |_, _, [r, g, b]| next.push(Rgb565::new(r >> 3, g >> 2, b >> 3)));
        let row = |buf: &[Rgb565], y: u32| -> Option<Vec<Rgb565>> {
            buf.get((y * w) as usize..((y + 1) * w) as usize).map(<[Rgb565]>::to_vec)
        };
        let changed: Vec<u32> = (0..h).filter(|y| row(&self.shown, *y) != row(&self.next, *y)).collect();
        self.rows_sent = 0;
        if let (Some(first), Some(last)) = (changed.first(), changed.last()) {
            let span = last - first + 1;
            let area = Rectangle::new(Point::new(0, *first as i32), Size::new(w, span));
            let pixels = self.next[(first * w) as usize..((last + 1) * w) as usize].iter().copied();
            self.display
                .fill_contiguous(&area, pixels)
                .map_err(|e| SinkError::Device { sink: self.name.clone(), detail: format!("{e:?}") })?;
            self.rows_sent = span;
        }
        std::mem::swap(&mut self.shown, &mut self.next);
        Ok(())
    }

    fn name(&self) -> String {
        format!("{} {}x{}", self.name, self.width, self.height)
    }
}

fn interface<SPI: SpiDevice, DC: OutputPin>(spi: SPI, dc: DC) -> SpiInterface<'static, SPI, DC> {
    // One transfer buffer for the life of the process (the display lives as long).
    SpiInterface::new(spi, dc, Box::leak(vec![0u8; 4096].into_boxed_slice()))
}

/// A `model` panel on an SPI device with D/C and reset pins, as a display sink.
pub type Panel<M, SPI, DC, RST> = SpiTft<Display<SpiInterface<'static, SPI, DC>, M, RST>>;

/// A panel controller `mipidsi` drives in RGB565, with what the sink needs to know of it.
pub trait PanelModel: Model<ColorFormat = Rgb565> + Sized {
    const NAME: &'static str;
    /// Whether its usual modules need inverted colours.
    const INVERT: bool;
    fn model() -> Self;
}

impl PanelModel for ST7789 {
    const NAME: &'static str = "ST7789";
    // Most ST7789 modules are wired for inverted colours.
    const INVERT: bool = true;
    fn model() -> Self {
        ST7789
    }
}

impl PanelModel for ILI9341Rgb565 {
    const NAME: &'static str = "ILI9341";
    const INVERT: bool = false;
    fn model() -> Self {
        ILI9341Rgb565
    }
}

/// The SPI device and pins of a panel, and its size in pixels.
#[derive(Debug)]
pub struct PanelWiring<SPI, DC, RST> {
    pub spi: SPI,
    pub dc: DC,
    pub rst: RST,
    pub width: u16,
    pub height: u16,
}

/// A panel of model `M` on `wiring`, initialised (hardware reset first), as a display sink.
pub fn open_panel<M, SPI, DC, RST>(
    wiring: PanelWiring<SPI, DC, RST>,
    delay: &mut impl DelayNs,
) -> Result<Panel<M, SPI, DC, RST>, SinkError>
where
    M: PanelModel,
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
    SPI::Error: core::fmt::Debug,
    DC::Error: core::fmt::Debug,
    RST::Error: core::fmt::Debug,
{
    let PanelWiring { spi, dc, rst, width, height } = wiring;
    let inversion = if M::INVERT { ColorInversion::Inverted } else { ColorInversion::Normal };
    let display = Builder::new(M::model(), interface(spi, dc))
        .reset_pin(rst)
        .display_size(width, height)
        .invert_colors(inversion)
        .init(delay)
        .map_err(|e| SinkError::Device { sink: M::NAME.into(), detail: format!("init failed: {e:?}") })?;
    Ok(SpiTft::new(display, u32::from(width), u32::from(height), M::NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_boards::mock::{MockBus, MockDelay, MockSpi, PinEvent};

    #[test]
    fn st7789_resets_initialises_and_sends_only_changed_rows() {
        let bus = MockBus::default();
        let spi = MockSpi::new(&bus, "dc");
        let mut delay = MockDelay::default();
        let wiring = PanelWiring { spi: spi.clone(), dc: bus.pin("dc"), rst: bus.pin("rst"), width: 240, height: 320 };
        let mut tft = open_panel::<ST7789, _, _, _>(wiring, &mut delay).unwrap();
        // Hardware reset first: reset low, then high.
        let events = bus.events();
        let rst: Vec<_> = events.iter().filter(|e| matches!(e, PinEvent::High("rst") | PinEvent::Low("rst"))).collect();
        assert_eq!(rst, vec![&PinEvent::Low("rst"), &PinEvent::High("rst")]);
        let cmds: Vec<u8> = spi.writes().iter().filter(|w| !w.data_mode).map(|w| w.bytes[0]).collect();
        assert!(cmds.contains(&0x11) && cmds.contains(&0x29), "sleep out and display on: {cmds:x?}");
        assert!(delay.total_ns > 0, "the init waited (without sleeping in the test)");
        spi.clear();
        let mut frame = RgbImage::filled(480, 640, [255, 0, 0]).unwrap();
        tft.show(&frame).unwrap();
        assert_eq!(tft.rows_sent, 320);
        let pixel_bytes: usize = spi.writes().iter().filter(|w| w.data_mode).map(|w| w.bytes.len()).sum();
        assert!(pixel_bytes >= 240 * 320 * 2, "a whole frame of RGB565: {pixel_bytes}");
        assert!(spi.writes().iter().any(|w| !w.data_mode && w.bytes == [0x2C]), "memory write command");
        // Red in RGB565 is F800, sent big-endian.
        assert!(spi.writes().iter().any(|w| w.data_mode && w.bytes.starts_with(&[0xF8, 0x00, 0xF8, 0x00])));
        spi.clear();
        tft.show(&frame).unwrap();
        assert_eq!((tft.rows_sent, spi.writes().len()), (0, 0), "an unchanged frame sends nothing");
        for x in 0..480 {
            frame.put(x, 100, [0, 255, 0]);
        }
        tft.show(&frame).unwrap();
        assert_eq!(tft.rows_sent, 1, "one changed row of the panel");
    }
}
