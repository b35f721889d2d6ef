//! H&E views re-rendered in other stains, for testing what a model does with tissue it was
//! never trained on: each pixel's optical density is separated into haematoxylin and eosin
//! (colour deconvolution with Ruifrok and Johnston's stain vectors) and recomposed with the
//! eosin replaced by another stain. The tissue, its layout and its nuclei stay; only the
//! chemistry changes, as on a slide stained for another purpose.

use melanoscope_shared::image::RgbImage;

/// A stain that takes eosin's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherStain {
    /// Immunohistochemistry: haematoxylin counterstain with brown DAB.
    IhcDab,
    /// Masson's trichrome: collagen in aniline blue.
    Trichrome,
    /// Periodic acid-Schiff: magenta.
    Pas,
}

impl OtherStain {
    pub const ALL: [OtherStain; 3] = [OtherStain::IhcDab, OtherStain::Trichrome, OtherStain::Pas];

    pub fn name(self) -> &'static str {
        match self {
            OtherStain::IhcDab => "ihc-dab",
            OtherStain::Trichrome => "trichrome",
            OtherStain::Pas => "pas",
        }
    }

    /// The stain's optical density per unit amount in R, G, B (unit length).
    fn vector(self) -> [f32; 3] {
        match self {
            OtherStain::IhcDab => [0.27, 0.57, 0.78],
            OtherStain::Trichrome => [0.83, 0.54, 0.12],
            OtherStain::Pas => [0.18, 0.95, 0.25],
        }
    }
}

const HAEMATOXYLIN: [f32; 3] = [0.650, 0.704, 0.286];
const EOSIN: [f32; 3] = [0.072, 0.990, 0.105];

fn normalise(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-6);
    [v[0] / n, v[1] / n, v[2] / n]
}

/// The inverse of the 3x3 matrix whose rows are `m`'s (by cofactors).
fn inverse(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let c = |r: usize, k: usize| {
        let (r1, r2, k1, k2) = ((r + 1) % 3, (r + 2) % 3, (k + 1) % 3, (k + 2) % 3);
        m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    let mut inv = [[0.0; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            *v = c(k, r) / det;
        }
    }
    inv
}

/// How one view is recomposed from its haematoxylin and eosin amounts.
struct Recipe {
    /// Scales of the haematoxylin and eosin amounts.
    amounts: [f32; 2],
    /// The vectors they are recomposed with.
    haematoxylin: [f32; 3],
    eosin: [f32; 3],
    /// Transmitted light per channel (1: the scanner's white).
    light: [f32; 3],
}

/// `image` deconvolved into haematoxylin and eosin (Ruifrok and Johnston's vectors) and
/// recomposed by `recipe`.
fn recompose(image: &RgbImage, recipe: &Recipe) -> RgbImage {
    let h = normalise(HAEMATOXYLIN);
    let e = normalise(EOSIN);
    // The third vector completes the basis (what neither stain explains).
    let r = normalise([h[1] * e[2] - h[2] * e[1], h[2] * e[0] - h[0] * e[2], h[0] * e[1] - h[1] * e[0]]);
    let unmix = inverse([h, e, r]);
    let (nh, ne) = (normalise(recipe.haematoxylin), normalise(recipe.eosin));
    let mut out = image.clone();
    for px in out.as_raw_mut().chunks_exact_mut(3) {
        let od: [f32; 3] = core::array::from_fn(|c| -((f32::from(px[c]) + 1.0) / 256.0).log10());
        // Amounts: od = a_h h + a_e e + a_r r, so a = od · inverse.
        let amount = |k: usize| od[0] * unmix[0][k] + od[1] * unmix[1][k] + od[2] * unmix[2][k];
        let (ah, ae, ar) = (amount(0).max(0.0), amount(1).max(0.0), amount(2));
        let (ah, ae) = (ah * recipe.amounts[0], ae * recipe.amounts[1]);
        for c in 0..3 {
            let d = ah * nh[c] + ae * ne[c] + ar * r[c];
            let v = 256.0 * recipe.light[c] * 10f32.powf(-d.max(0.0)) - 1.0;
            px[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `image` (an H&E view) with its eosin replaced by `stain`.
pub fn restain(image: &RgbImage, stain: OtherStain) -> RgbImage {
    let recipe = Recipe { amounts: [1.0, 1.0], haematoxylin: HAEMATOXYLIN, eosin: stain.vector(), light: [1.0; 3] };
    recompose(image, &recipe)
}

/// Another lab's H&E, beyond the training's stain jitter (HED σ 0.05): the same stains in
/// other amounts, another haematoxylin, or an aged slide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabStyle {
    /// Haematoxylin at 55% (a short haematoxylin time, over-differentiation).
    WeakHaematoxylin,
    /// Eosin at 170% (a long eosin time or a strong batch).
    StrongEosin,
    /// A bluer haematoxylin (absorbing more red and less blue: another alum haematoxylin,
    /// another bluing) under a cool, slightly dim light: the whole slide reads blue-grey.
    BlueGreyCast,
    /// An aged, faded slide: haematoxylin at 60%, eosin at 50%, and a yellowed mountant.
    Faded,
}

impl LabStyle {
    pub const ALL: [LabStyle; 4] =
        [LabStyle::WeakHaematoxylin, LabStyle::StrongEosin, LabStyle::BlueGreyCast, LabStyle::Faded];

    /// The style of `name` (as [`Self::name`] gives it).
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.name() == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            format!("{name:?}; expected one of {}", names.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LabStyle::WeakHaematoxylin => "weak-haematoxylin",
            LabStyle::StrongEosin => "strong-eosin",
            LabStyle::BlueGreyCast => "blue-grey-cast",
            LabStyle::Faded => "faded",
        }
    }

    fn recipe(self) -> Recipe {
        let he = Recipe { amounts: [1.0, 1.0], haematoxylin: HAEMATOXYLIN, eosin: EOSIN, light: [1.0; 3] };
        match self {
            LabStyle::WeakHaematoxylin => Recipe { amounts: [0.55, 1.0], ..he },
            LabStyle::StrongEosin => Recipe { amounts: [1.0, 1.7], ..he },
            LabStyle::BlueGreyCast => Recipe { haematoxylin: [0.76, 0.62, 0.20], light: [0.90, 0.94, 0.98], ..he },
            LabStyle::Faded => Recipe { amounts: [0.6, 0.5], light: [1.0, 0.98, 0.90], ..he },
        }
    }
}

/// `image` (an H&E view) as `style`'s lab would have stained it.
pub fn restyle(image: &RgbImage, style: LabStyle) -> RgbImage {
    recompose(image, &style.recipe())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White stays white; an eosin-pink pixel turns brown under DAB, blue under trichrome, and
    /// a haematoxylin-purple nucleus stays purple.
    #[test]
    fn eosin_is_replaced_and_haematoxylin_kept() {
        let mut img = RgbImage::filled(3, 1, [255, 255, 255]).unwrap();
        img.put(1, 0, [235, 150, 200]); // eosin
        img.put(2, 0, [90, 60, 150]); // haematoxylin
        let dab = restain(&img, OtherStain::IhcDab);
        assert_eq!(dab.get(0, 0), Some([255, 255, 255]));
        let [r, g, b] = dab.get(1, 0).unwrap();
        assert!(r > g && g > b, "DAB is brown: {:?}", [r, g, b]);
        let [r, g, b] = restain(&img, OtherStain::Trichrome).get(1, 0).unwrap();
        assert!(b > r && b > g, "aniline blue: {:?}", [r, g, b]);
        let [r, g, b] = dab.get(2, 0).unwrap();
        assert!(b > g && r > g, "the nucleus stays purple: {:?}", [r, g, b]);
    }

    /// Each lab style moves what it says: a weak haematoxylin lightens the nucleus and leaves
    /// eosin; a strong eosin darkens the pink's green; a faded slide lightens both and yellows
    /// glass; a blue-grey cast makes the nucleus bluer.
    #[test]
    fn lab_styles_change_what_they_name() {
        let mut img = RgbImage::filled(3, 1, [255, 255, 255]).unwrap();
        img.put(1, 0, [235, 150, 200]); // eosin
        img.put(2, 0, [90, 60, 150]); // haematoxylin
        let same =
            recompose(&img, &Recipe { amounts: [1.0, 1.0], haematoxylin: HAEMATOXYLIN, eosin: EOSIN, light: [1.0; 3] });
        for x in 0..3 {
            let (a, b) = (img.get(x, 0).unwrap(), same.get(x, 0).unwrap());
            assert!(a.iter().zip(b).all(|(p, q)| p.abs_diff(q) <= 2), "{a:?} vs {b:?}");
        }
        let luma = |p: [u8; 3]| p.iter().map(|v| u32::from(*v)).sum::<u32>();
        let weak = restyle(&img, LabStyle::WeakHaematoxylin);
        assert!(luma(weak.get(2, 0).unwrap()) > luma([90, 60, 150]) + 60);
        assert!(luma(weak.get(1, 0).unwrap()).abs_diff(luma([235, 150, 200])) < 25);
        let strong = restyle(&img, LabStyle::StrongEosin);
        assert!(strong.get(1, 0).unwrap()[1] < 120, "{:?}", strong.get(1, 0));
        let faded = restyle(&img, LabStyle::Faded);
        let [r, g, b] = faded.get(0, 0).unwrap();
        assert!(r > b + 15 && g > b, "yellowed glass: {:?}", [r, g, b]);
        assert!(luma(faded.get(2, 0).unwrap()) > luma([90, 60, 150]) + 40);
        for style in LabStyle::ALL {
            assert_eq!(LabStyle::parse(style.name()), Ok(style));
        }
        assert!(LabStyle::parse("pink").unwrap_err().contains("weak-haematoxylin, strong-eosin"));
        let [r, _, b] = restyle(&img, LabStyle::BlueGreyCast).get(2, 0).unwrap();
        assert!(i32::from(b) - i32::from(r) > 60 - 5, "bluer nucleus: {r} {b}");
    }
}
