//! ASAP XML (`<ASAP_Annotations>`, class = `PartOfGroup`) and Aperio ImageScope XML
//! (`<Annotations>`, layers of regions, `NegativeROA="1"` for exclusions), in level-0 pixels.

use super::{AnnotationFormat, Parsed, Point, RawRegion, Shape};
use roxmltree::{Document, Node};

#[derive(Debug)]
pub enum XmlError {
    Malformed(String),
    UnknownRoot(String),
    Content(Vec<String>),
}

pub fn parse(text: &str) -> Result<(AnnotationFormat, Parsed), XmlError> {
    let doc = Document::parse(text).map_err(|e| XmlError::Malformed(melanoscope_shared::errors::error_chain(&e)))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "ASAP_Annotations" => Ok((AnnotationFormat::AsapXml, asap(root)?)),
        "Annotations" => Ok((AnnotationFormat::AperioXml, aperio(root)?)),
        other => Err(XmlError::UnknownRoot(other.to_string())),
    }
}

fn children<'a, 'i>(n: Node<'a, 'i>, tag: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| c.is_element() && c.tag_name().name() == tag)
}

/// A coordinate attribute; ASAP written under some locales uses a decimal comma.
fn number(n: Node, attr: &str, what: &str, problems: &mut Vec<String>) -> Option<f64> {
    let Some(s) = n.attribute(attr) else {
        problems.push(format!("{what}: missing attribute {attr}"));
        return None;
    };
    let v = s.trim().parse::<f64>().or_else(|_| s.trim().replace(',', ".").parse::<f64>());
    match v {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            problems.push(format!("{what}: {attr}={s:?} is not a number"));
            None
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none")).map(str::to_string)
}

fn asap(root: Node) -> Result<Parsed, XmlError> {
    let mut out = Parsed { regions: Vec::new(), ignored: 0 };
    let mut problems = Vec::new();
    let annotations = children(root, "Annotations").flat_map(|a| children(a, "Annotation"));
    for (i, a) in annotations.enumerate() {
        let index = i + 1;
        let name = non_empty(a.attribute("Name"));
        let what = format!("region {index}{}", name.as_ref().map_or(String::new(), |n| format!(" ({n:?})")));
        let kind = a.attribute("Type").unwrap_or("Polygon");
        if !matches!(kind, "Polygon" | "Spline" | "Rectangle") {
            // Dots, point sets and measurements mark or measure; they delineate no area.
            out.ignored += 1;
            continue;
        }
        let mut coords: Vec<(f64, Point)> = Vec::new();
        for (k, c) in children(a, "Coordinates").flat_map(|cs| children(cs, "Coordinate")).enumerate() {
            let at = format!("{what}, coordinate {}", k + 1);
            let order = c.attribute("Order").and_then(|o| o.trim().parse::<f64>().ok()).unwrap_or(k as f64);
            if let (Some(x), Some(y)) = (number(c, "X", &at, &mut problems), number(c, "Y", &at, &mut problems)) {
                coords.push((order, Point { x, y }));
            }
        }
        coords.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ring: Vec<Point> = coords.into_iter().map(|(_, p)| p).collect();
        out.regions.push(RawRegion {
            index,
            name,
            class_name: non_empty(a.attribute("PartOfGroup")),
            negative: false,
            shapes: vec![Shape::new(ring, Vec::new())],
        });
    }
    if problems.is_empty() { Ok(out) } else { Err(XmlError::Content(problems)) }
}

/// Aperio region types with an area: 0 freehand/polygon, 1 rectangle, 2 ellipse.
fn aperio(root: Node) -> Result<Parsed, XmlError> {
    let mut out = Parsed { regions: Vec::new(), ignored: 0 };
    let mut problems = Vec::new();
    let mut index = 0;
    for (li, layer) in children(root, "Annotation").enumerate() {
        let layer_id = layer.attribute("Id").map_or((li + 1).to_string(), str::to_string);
        let layer_name = non_empty(layer.attribute("Name"));
        for (ri, region) in children(layer, "Regions").flat_map(|r| children(r, "Region")).enumerate() {
            index += 1;
            let region_id = region.attribute("Id").map_or((ri + 1).to_string(), str::to_string);
            let text = non_empty(region.attribute("Text"));
            let what = format!("region {index} (layer {layer_id}, region {region_id})");
            let kind = region.attribute("Type").unwrap_or("0").trim();
            if !matches!(kind, "0" | "1" | "2") {
                out.ignored += 1;
                continue;
            }
            let mut ring = Vec::new();
            for (k, v) in children(region, "Vertices").flat_map(|vs| children(vs, "Vertex")).enumerate() {
                let at = format!("{what}, vertex {}", k + 1);
                if let (Some(x), Some(y)) = (number(v, "X", &at, &mut problems), number(v, "Y", &at, &mut problems)) {
                    ring.push(Point { x, y });
                }
            }
            // ImageScope stores rectangles and ellipses by two opposite corners of their box.
            if (kind == "1" || kind == "2") && ring.len() == 2 {
                ring = if kind == "1" { box_ring(ring[0], ring[1]) } else { ellipse_ring(ring[0], ring[1]) };
            }
            let negative = region.attribute("NegativeROA").is_some_and(|v| v.trim() == "1");
            out.regions.push(RawRegion {
                index,
                name: Some(match &text {
                    Some(t) => format!("layer {layer_id}, region {region_id}: {t}"),
                    None => format!("layer {layer_id}, region {region_id}"),
                }),
                class_name: layer_name.clone().or(text),
                negative,
                shapes: vec![Shape::new(ring, Vec::new())],
            });
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(XmlError::Content(problems)) }
}

fn box_ring(a: Point, b: Point) -> Vec<Point> {
    vec![a, Point { x: b.x, y: a.y }, b, Point { x: a.x, y: b.y }]
}

fn ellipse_ring(a: Point, b: Point) -> Vec<Point> {
    let (cx, cy, rx, ry) = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0, (b.x - a.x).abs() / 2.0, (b.y - a.y).abs() / 2.0);
    (0..64)
        .map(|k| {
            let t = f64::from(k) * std::f64::consts::TAU / 64.0;
            Point { x: cx + rx * t.cos(), y: cy + ry * t.sin() }
        })
        .collect()
}
