use super::ImageError;

/// Largest image accepted (1 gigapixel); bigger inputs come from slides and are read region by region.
const MAX_PIXELS: u64 = 1 << 30;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl core::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    fn check_size(width: u32, height: u32) -> Result<usize, ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::ZeroSize { width, height });
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > MAX_PIXELS {
            return Err(ImageError::TooLarge { width, height, max: MAX_PIXELS });
        }
        Ok(pixels as usize * 3)
    }

    /// Wraps an interleaved RGB buffer, checking that its length matches the size.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Result<Self, ImageError> {
        let expected = Self::check_size(width, height)?;
        if data.len() != expected {
            return Err(ImageError::BufferSize { width, height, expected, actual: data.len() });
        }
        Ok(Self { width, height, data })
    }

    /// An image filled with one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Result<Self, ImageError> {
        let len = Self::check_size(width, height)?;
        let mut data = Vec::with_capacity(len);
        for _ in 0..len / 3 {
            data.extend_from_slice(&rgb);
        }
        Ok(Self { width, height, data })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The interleaved RGB bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    pub fn as_raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    /// One row of interleaved RGB bytes. `y` must be below the height.
    pub fn row(&self, y: u32) -> &[u8] {
        let stride = self.width as usize * 3;
        let start = y as usize * stride;
        &self.data[start..start + stride]
    }

    /// The pixel at (x, y), or `None` outside the image.
    pub fn get(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }

    /// Sets the pixel at (x, y); ignored outside the image.
    pub fn put(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// Copies out a rectangle, failing if it does not lie inside the image.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Result<RgbImage, ImageError> {
        let inside = w > 0
            && h > 0
            && x.checked_add(w).is_some_and(|r| r <= self.width)
            && y.checked_add(h).is_some_and(|b| b <= self.height);
        if !inside {
            return Err(ImageError::FieldOutOfBounds { x, y, w, h, width: self.width, height: self.height });
        }
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for row in y..y + h {
            let r = self.row(row);
            data.extend_from_slice(&r[x as usize * 3..(x + w) as usize * 3]);
        }
        Ok(RgbImage { width: w, height: h, data })
    }

    /// Reuses this image's allocation for a new size (contents unspecified afterwards): a
    /// camera's next frame decoded where the last one was.
    pub fn reshape(&mut self, width: u32, height: u32) -> Result<(), ImageError> {
        let len = Self::check_size(width, height)?;
        self.width = width;
        self.height = height;
        self.data.resize(len, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_buffers() {
        assert!(matches!(RgbImage::from_raw(0, 4, vec![]), Err(ImageError::ZeroSize { .. })));
        assert!(matches!(
            RgbImage::from_raw(2, 2, vec![0; 11]),
            Err(ImageError::BufferSize { expected: 12, actual: 11, .. })
        ));
        assert!(matches!(RgbImage::filled(1 << 16, 1 << 16, [0; 3]), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn crop_checks_bounds_and_copies() {
        let mut img = RgbImage::filled(4, 3, [1, 2, 3]).unwrap();
        img.put(2, 1, [9, 9, 9]);
        let c = img.crop(2, 1, 2, 2).unwrap();
        assert_eq!(c.get(0, 0), Some([9, 9, 9]));
        assert_eq!(c.get(1, 1), Some([1, 2, 3]));
        assert!(img.crop(3, 0, 2, 1).is_err());
        assert!(img.crop(u32::MAX, 0, 2, 1).is_err());
    }
}
