use thiserror::Error;

/// Everything that can be wrong with an image or a spacing handed to the image code.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ImageError {
    #[error("image has zero size ({width}x{height}); expected both sides > 0")]
    ZeroSize { width: u32, height: u32 },
    #[error("pixel buffer holds {actual} bytes; a {width}x{height} RGB8 image needs {expected}")]
    BufferSize { width: u32, height: u32, expected: usize, actual: usize },
    #[error("image of {width}x{height} pixels is too large (over {max} pixels)")]
    TooLarge { width: u32, height: u32, max: u64 },
    #[error("frame of {width}x{height} pixels is larger than the {max_width}x{max_height} accepted")]
    Oversized { width: u32, height: u32, max_width: u32, max_height: u32 },
    #[error("frame of {width}x{height} pixels has more than the {max_pixels} pixels accepted")]
    TooManyPixels { width: u32, height: u32, max_pixels: u64 },
    #[error("µm/px {field} = {value} is not a finite positive number")]
    BadSpacing { field: &'static str, value: f64 },
    #[error(
        "target {target} µm/px is finer than the source {source_um} µm/px (beyond the {tolerance} tolerance): \
         enlarging cannot add detail the scan does not have"
    )]
    WouldUpsample { source_um: f64, target: f64, tolerance: f64 },
    #[error("resampling {width}x{height} from {source_um} to {target} µm/px leaves an empty image")]
    EmptyAfterResample { width: u32, height: u32, source_um: f64, target: f64 },
    #[error("field {x},{y} {w}x{h} lies outside the {width}x{height} image")]
    FieldOutOfBounds { x: u32, y: u32, w: u32, h: u32, width: u32, height: u32 },
    #[error("tensor buffer holds {actual} values; expected {expected} for a {w}x{h} RGB field")]
    TensorSize { w: u32, h: u32, expected: usize, actual: usize },
    #[error("normalisation {field}[{channel}] = {value} is invalid; expected a finite value{extra}")]
    BadNormalization { field: &'static str, channel: usize, value: f32, extra: &'static str },
    #[error("field size {0} is invalid; expected a positive number of pixels")]
    BadFieldSize(u32),
    #[error("{0}")]
    Io(String),
}
