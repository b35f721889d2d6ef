//! QuPath GeoJSON: a FeatureCollection, a single Feature, or a bare array of Features (QuPath
//! 0.2), with Polygon, MultiPolygon and GeometryCollection geometries in level-0 pixels.
//! `properties.classification.name` is the class; detections and cells are not regions.

use super::{Parsed, Point, RawRegion, Shape};
use serde_json::Value;

#[derive(Debug)]
pub enum GeoJsonError {
    /// Not JSON at all (with serde_json's line and column).
    Malformed(String),
    /// JSON, but not the GeoJSON expected; one message per problem.
    Content(Vec<String>),
}

/// QuPath object types that are not delineated regions (cell segmentations can number millions).
const NOT_REGIONS: [&str; 4] = ["detection", "cell", "tile", "tma_core"];

pub fn parse(text: &str) -> Result<Parsed, GeoJsonError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| GeoJsonError::Malformed(melanoscope_shared::errors::error_chain(&e)))?;
    let features: Vec<&Value> = match &root {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => match o.get("features") {
                Some(Value::Array(items)) => items.iter().collect(),
                _ => return Err(GeoJsonError::Content(vec!["FeatureCollection without a \"features\" array".into()])),
            },
            Some("Feature") => vec![&root],
            Some(t) if is_geometry(t) => vec![&root],
            Some(t) => {
                return Err(GeoJsonError::Content(vec![format!(
                    "top-level \"type\" is {t:?}; expected FeatureCollection, Feature or a geometry"
                )]));
            }
            None => return Err(GeoJsonError::Content(vec!["top-level object has no \"type\"".into()])),
        },
        _ => return Err(GeoJsonError::Content(vec!["expected a JSON object or array at the top level".into()])),
    };
    let mut out = Parsed { regions: Vec::new(), ignored: 0 };
    let mut problems = Vec::new();
    for (i, f) in features.into_iter().enumerate() {
        let index = i + 1;
        let (geometry, props) = match f.get("type").and_then(Value::as_str) {
            Some("Feature") => (f.get("geometry").unwrap_or(&Value::Null), f.get("properties")),
            Some(t) if is_geometry(t) => (f, None),
            other => {
                problems.push(format!("feature {index}: \"type\" is {other:?}; expected \"Feature\""));
                continue;
            }
        };
        let prop = |k: &str| props.and_then(|p| p.get(k));
        if prop("objectType").and_then(Value::as_str).is_some_and(|t| NOT_REGIONS.contains(&t)) {
            out.ignored += 1;
            continue;
        }
        let class_name = prop("classification")
            .and_then(|c| c.get("name").and_then(Value::as_str).or_else(|| c.as_str()))
            .map(str::to_string);
        let name = prop("name").and_then(Value::as_str).map(str::to_string);
        let mut shapes = Vec::new();
        let mut ignored = 0;
        if let Err(e) = collect_shapes(geometry, &mut shapes, &mut ignored) {
            problems.push(format!("feature {index}: {e}"));
            continue;
        }
        if shapes.is_empty() {
            // Points and lines mark or measure; they delineate no area.
            out.ignored += 1;
            continue;
        }
        out.regions.push(RawRegion { index, name, class_name, negative: false, shapes });
    }
    if problems.is_empty() { Ok(out) } else { Err(GeoJsonError::Content(problems)) }
}

fn is_geometry(t: &str) -> bool {
    matches!(
        t,
        "Polygon" | "MultiPolygon" | "GeometryCollection" | "Point" | "MultiPoint" | "LineString" | "MultiLineString"
    )
}

/// What is wrong with one feature's geometry (listed with the feature's number).
#[derive(Debug, thiserror::Error)]
enum GeometryError {
    #[error("geometry has no \"coordinates\"")]
    NoCoordinates,
    #[error("{0}")]
    Layout(&'static str),
    #[error("geometry type {0:?} is not a GeoJSON geometry")]
    UnknownType(Option<String>),
    #[error("position {0} is not two numbers")]
    NotNumbers(Value),
    #[error("position {0} is not [x, y]")]
    NotPosition(Value),
}

fn collect_shapes(g: &Value, shapes: &mut Vec<Shape>, ignored: &mut usize) -> Result<(), GeometryError> {
    if g.is_null() {
        return Ok(());
    }
    let coords = || g.get("coordinates").ok_or(GeometryError::NoCoordinates);
    match g.get("type").and_then(Value::as_str) {
        Some("Polygon") => shapes.push(polygon(coords()?)?),
        Some("MultiPolygon") => {
            let polygons = coords()?.as_array();
            for p in polygons.ok_or(GeometryError::Layout("MultiPolygon coordinates must be an array of polygons"))? {
                shapes.push(polygon(p)?);
            }
        }
        Some("GeometryCollection") => {
            let parts = g.get("geometries").and_then(Value::as_array);
            for part in parts.ok_or(GeometryError::Layout("GeometryCollection without \"geometries\""))? {
                collect_shapes(part, shapes, ignored)?;
            }
        }
        Some("Point" | "MultiPoint" | "LineString" | "MultiLineString") => *ignored += 1,
        other => return Err(GeometryError::UnknownType(other.map(str::to_string))),
    }
    Ok(())
}

fn polygon(v: &Value) -> Result<Shape, GeometryError> {
    let rings = v.as_array().ok_or(GeometryError::Layout("polygon coordinates must be an array of rings"))?;
    let mut rings = rings.iter().map(ring);
    let outer = rings.next().ok_or(GeometryError::Layout("polygon has no rings"))??;
    let holes = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Shape::new(outer, holes))
}

fn ring(v: &Value) -> Result<Vec<Point>, GeometryError> {
    v.as_array()
        .ok_or(GeometryError::Layout("a ring must be an array of [x, y] positions"))?
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Ok(Point { x, y }),
                _ => Err(GeometryError::NotNumbers(p.clone())),
            },
            _ => Err(GeometryError::NotPosition(p.clone())),
        })
        .collect()
}
