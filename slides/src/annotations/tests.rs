use super::*;

/// One folder for the annotation files of every test here (each writes files of its own
/// names); made once, when the first test asks.
static DIR: std::sync::LazyLock<melanoscope_shared::scratch::ScratchDir> =
    std::sync::LazyLock::new(|| melanoscope_shared::scratch::ScratchDir::new("ann"));

fn write(name: &str, text: &str) -> PathBuf {
    let path = DIR.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(name: &str, text: &str, policy: &AnnotationPolicy) -> Result<SlideAnnotations, AnnotationError> {
    load_annotations(&write(name, text), 10_000, 8_000, policy)
}

const QUPATH: &str = r#"{
  "type": "FeatureCollection",
  "features": [
    { "type": "Feature", "id": "a",
      "geometry": { "type": "Polygon", "coordinates": [
        [[1000, 1000], [3000, 1000], [3000, 3000], [1000, 3000], [1000, 1000]],
        [[1500, 1500], [2000, 1500], [2000, 2000], [1500, 2000], [1500, 1500]] ] },
      "properties": { "objectType": "annotation", "name": "lesion", "classification": { "name": "Melanoma", "color": [255, 0, 0] } } },
    { "type": "Feature",
      "geometry": { "type": "MultiPolygon", "coordinates": [
        [[[5000, 5000], [6000, 5000], [6000, 6000], [5000, 5000]]],
        [[[7000, 5000], [8000, 5000], [8000, 6000], [7000, 5000]]] ] },
      "properties": { "objectType": "annotation", "classification": { "name": "Intradermal nevus" } } },
    { "type": "Feature",
      "geometry": { "type": "Polygon", "coordinates": [[[2500, 2500], [2800, 2500], [2800, 2800], [2500, 2500]]] },
      "properties": { "objectType": "annotation", "classification": { "name": "Ink" } } },
    { "type": "Feature", "geometry": { "type": "Point", "coordinates": [10, 10] },
      "properties": { "objectType": "annotation" } },
    { "type": "Feature", "geometry": { "type": "Polygon", "coordinates": [[[1, 1], [5, 1], [5, 5], [1, 1]]] },
      "properties": { "objectType": "detection" } }
  ]
}"#;

#[test]
fn qupath_geojson_reads_holes_multipolygons_classes_and_skips_points_and_detections() {
    let ann = load("a.geojson", QUPATH, &AnnotationPolicy::default()).unwrap();
    assert_eq!(ann.format, AnnotationFormat::QuPathGeoJson);
    assert_eq!(ann.regions.len(), 3);
    assert_eq!(ann.ignored_objects, 2);
    let r0 = &ann.regions[0];
    assert_eq!(
        (r0.raw.index, r0.raw.class_name.as_deref(), r0.raw.name.as_deref()),
        (1, Some("Melanoma"), Some("lesion"))
    );
    assert_eq!(r0.raw.shapes[0].outer.len(), 4, "closing vertex dropped");
    assert_eq!(r0.raw.shapes[0].holes.len(), 1);
    assert_eq!(ann.regions[1].raw.shapes.len(), 2);
    assert_eq!(ann.regions[2].role, RegionRole::Exclude, "Ink is an exclusion class by default");
    assert_eq!((ann.included(), ann.excluded()), (2, 1));
}

#[test]
fn raster_counts_holes_and_exclusions_out_and_finds_the_dominant_region() {
    let ann = load("b.geojson", QUPATH, &AnnotationPolicy::default()).unwrap();
    let raster = RegionRaster::build(&ann, 10.0);
    // Wholly inside region 1, away from its hole and the ink.
    let o = raster.overlap(1000, 2200, 400);
    assert_eq!((o.region, o.fraction, o.excluded), (Some(0), 1.0, 0.0));
    // Half over the hole (x 1500..2000): the hole is an exclusion.
    let o = raster.overlap(1250, 1500, 500);
    assert_eq!(o.region, Some(0));
    assert!((o.fraction - 0.5).abs() < 0.02, "{o:?}");
    assert!((o.excluded - 0.5).abs() < 0.02, "{o:?}");
    // A quarter inside region 1 (its top-left corner).
    let o = raster.overlap(800, 800, 400);
    assert!((o.fraction - 0.25).abs() < 0.03, "{o:?}");
    // The ink triangle over region 1.
    assert!(raster.overlap(2600, 2500, 200).excluded > 0.0);
    // The triangles of the MultiPolygon: lower-right half of each square.
    let o = raster.overlap(5000, 5000, 1000);
    assert_eq!(o.region, Some(1));
    assert!((o.fraction - 0.5).abs() < 0.03, "{o:?}");
    // Far from everything, and off the raster's extent.
    assert_eq!(raster.overlap(9000, 7000, 500), CellOverlap { region: None, fraction: 0.0, excluded: 0.0 });
    assert_eq!(raster.overlap(0, 0, 100).region, None);
}

#[test]
fn asap_xml_reads_groups_sorted_coordinates_and_decimal_commas() {
    let xml = r##"<?xml version="1.0"?>
<ASAP_Annotations>
  <Annotations>
    <Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="Tumor" Color="#F4FA58">
      <Coordinates>
        <Coordinate Order="2" X="200" Y="200" />
        <Coordinate Order="0" X="100" Y="100" />
        <Coordinate Order="1" X="200,5" Y="100" />
        <Coordinate Order="3" X="100" Y="200" />
      </Coordinates>
    </Annotation>
    <Annotation Name="Annotation 1" Type="Dot" PartOfGroup="None"><Coordinates><Coordinate Order="0" X="5" Y="5"/></Coordinates></Annotation>
    <Annotation Name="Annotation 2" Type="Rectangle" PartOfGroup="Exclusion">
      <Coordinates><Coordinate Order="0" X="120" Y="120"/><Coordinate Order="1" X="150" Y="120"/><Coordinate Order="2" X="150" Y="150"/><Coordinate Order="3" X="120" Y="150"/></Coordinates>
    </Annotation>
  </Annotations>
  <AnnotationGroups><Group Name="Tumor" PartOfGroup="None" Color="#64FE2E"><Attributes /></Group></AnnotationGroups>
</ASAP_Annotations>"##;
    let ann = load("c.xml", xml, &AnnotationPolicy::default()).unwrap();
    assert_eq!(ann.format, AnnotationFormat::AsapXml);
    assert_eq!(ann.regions.len(), 2);
    assert_eq!(ann.ignored_objects, 1);
    let ring = &ann.regions[0].raw.shapes[0].outer;
    assert_eq!(ring[1], Point { x: 200.5, y: 100.0 }, "ordered by Order, decimal comma read");
    assert_eq!(ann.regions[0].raw.class_name.as_deref(), Some("Tumor"));
    assert_eq!(ann.regions[1].role, RegionRole::Exclude);
}

#[test]
fn aperio_xml_reads_layers_negative_regions_rectangles_and_ellipses() {
    let xml = r#"<Annotations MicronsPerPixel="0.252">
  <Annotation Id="1" Name="Melanoma" Type="4" LineColor="65280">
    <Regions>
      <RegionAttributeHeaders/>
      <Region Id="1" Type="0" Text="" NegativeROA="0">
        <Vertices><Vertex X="100" Y="100" Z="0"/><Vertex X="900" Y="100" Z="0"/><Vertex X="900" Y="900" Z="0"/><Vertex X="100" Y="900" Z="0"/></Vertices>
      </Region>
      <Region Id="2" Type="2" Text="necrosis" NegativeROA="1">
        <Vertices><Vertex X="300" Y="300"/><Vertex X="500" Y="500"/></Vertices>
      </Region>
      <Region Id="3" Type="4" Text="ruler"><Vertices><Vertex X="1" Y="1"/><Vertex X="9" Y="9"/></Vertices></Region>
    </Regions>
  </Annotation>
  <Annotation Id="2" Name="">
    <Regions><Region Id="1" Type="1" Text="Compound nevus" NegativeROA="0">
      <Vertices><Vertex X="2000" Y="2000"/><Vertex X="2600" Y="2400"/></Vertices>
    </Region></Regions>
  </Annotation>
</Annotations>"#;
    let policy = AnnotationPolicy { region_labels: Some(RegionLabelMap::standard()), ..Default::default() };
    let ann = load("d.xml", xml, &policy).unwrap();
    assert_eq!(ann.format, AnnotationFormat::AperioXml);
    assert_eq!(ann.regions.len(), 3);
    assert_eq!(ann.ignored_objects, 1);
    assert_eq!((ann.regions[0].role, ann.regions[0].label), (RegionRole::Include, Some(Lesion::MM)));
    assert_eq!((ann.regions[1].role, ann.regions[1].label), (RegionRole::Exclude, None));
    assert_eq!(ann.regions[1].raw.shapes[0].outer.len(), 64, "ellipse from its box");
    assert_eq!(
        ann.regions[2].raw.class_name.as_deref(),
        Some("Compound nevus"),
        "region text when the layer has no name"
    );
    assert_eq!(ann.regions[2].label, Some(Lesion::CN));
    assert_eq!(ann.regions[2].raw.shapes[0].outer.len(), 4, "rectangle from two corners");
    let raster = RegionRaster::build(&ann, 4.0);
    assert!(raster.overlap(380, 380, 40).excluded > 0.99, "inside the negative ellipse");
    assert_eq!(raster.overlap(120, 120, 100).region, Some(0));
}

fn problems_of(err: AnnotationError) -> Vec<String> {
    match err {
        AnnotationError::Invalid { problems, .. } => problems,
        other => panic!("expected Invalid, got {other}"),
    }
}

fn feature(coords: &str, class: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[{coords}]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#
    )
}

#[test]
fn bad_geometry_is_reported_per_region_with_the_file_name() {
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{},{},{},{}]}}"#,
        feature("[[0,0],[100,100],[100,0],[0,100],[0,0]]", "MM"),
        feature("[[10,10],[20,20],[30,30],[10,10]]", "MM"),
        feature("[[10,10],[20,10]]", "MM"),
        feature("[[9000,7000],[11000,7000],[11000,7900],[9000,7000]]", "MM"),
    );
    let path = write("bad.geojson", &text);
    let err = load_annotations(&path, 10_000, 8_000, &AnnotationPolicy::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad.geojson") && msg.contains("4 problem(s)"), "{msg}");
    let p = problems_of(err);
    assert!(p[0].starts_with("region 1 (class \"MM\"): self-intersecting outline"), "{p:?}");
    assert!(p[1].starts_with("region 2 (class \"MM\"): degenerate outline: zero area"), "{p:?}");
    assert!(p[2].contains("region 3") && p[2].contains("2 distinct vertices"), "{p:?}");
    assert!(p[3].contains("region 4") && p[3].contains("(11000.0, 7000.0) lies outside the slide"), "{p:?}");
}

#[test]
fn a_file_for_another_slide_malformed_files_and_unknown_classes_are_clear_errors() {
    // Drawn on a 40,000-px-wide slide, loaded for a 10,000-px one.
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        feature("[[20000,100],[39000,100],[39000,900],[20000,100]]", "MM")
    );
    let p = problems_of(load("other.geojson", &text, &AnnotationPolicy::default()).unwrap_err());
    assert!(p[0].contains("another slide") && p[0].contains("10000x8000"), "{p:?}");

    let err = load("broken.geojson", "{\"type\": \"FeatureCollection\", \"features\": [", &AnnotationPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.geojson") && err.contains("not valid JSON") && err.contains("line 1"), "{err}");
    let err = load("broken.xml", "<ASAP_Annotations><Annotations></ASAP_Annotations>", &AnnotationPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.xml") && err.contains("not valid XML"), "{err}");
    let err = load("odd.xml", "<Slide/>", &AnnotationPolicy::default()).unwrap_err().to_string();
    assert!(err.contains("<Slide>") && err.contains("ASAP_Annotations"), "{err}");
    let err = load("nan.xml", r#"<Annotations><Annotation Id="1"><Regions><Region Id="1" Type="0"><Vertices><Vertex X="abc" Y="1"/></Vertices></Region></Regions></Annotation></Annotations>"#, &AnnotationPolicy::default()).unwrap_err().to_string();
    assert!(err.contains("vertex 1: X=\"abc\" is not a number"), "{err}");

    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
        feature("[[0,0],[100,0],[100,100],[0,0]]", "Tumour bed"),
        feature("[[0,0],[100,0],[100,100],[0,0]]", "Artifact")
    );
    let policy = AnnotationPolicy { region_labels: Some(RegionLabelMap::standard()), ..Default::default() };
    let p = problems_of(load("classes.geojson", &text, &policy).unwrap_err());
    assert_eq!(p.len(), 1, "the Artifact exclusion needs no label: {p:?}");
    assert!(p[0].contains("region 1 (class \"Tumour bed\")") && p[0].contains("not in the region label map"), "{p:?}");

    let only_ink = format!(r#"[{}]"#, feature("[[0,0],[100,0],[100,100],[0,0]]", "Ink"));
    let err = load("ink.geojson", &only_ink, &AnnotationPolicy::default()).unwrap_err().to_string();
    assert!(err.contains("no included region"), "{err}");
}

#[test]
fn region_label_maps_parse_inline_files_and_report_bad_entries() {
    let m = RegionLabelMap::parse_spec("Tumor=MM, Nevus = IN").unwrap();
    assert_eq!((m.get("tumor"), m.get("NEVUS"), m.get("other")), (Some(Lesion::MM), Some(Lesion::IN), None));
    let path = write("labels.csv", "class,label\nMelanoma in situ,MM\n\"Dysplastic, junctional\",JN\n");
    let m = RegionLabelMap::parse_spec(path.to_str().unwrap()).unwrap();
    assert_eq!(m.get("melanoma in situ"), Some(Lesion::MM));
    assert_eq!(m.get("Dysplastic, junctional"), Some(Lesion::JN));
    let err = RegionLabelMap::parse_spec("Tumor=BCC").unwrap_err().to_string();
    assert!(err.contains("\"BCC\" is not one of MM, IN, CN, JN"), "{err}");
    assert!(RegionLabelMap::parse_spec("no-such-file.csv").is_err());
    assert_eq!(RegionLabelMap::standard().get("junctional naevus"), Some(Lesion::JN));
    // Found by the fuzzer: spaces inside quotes were kept in the class, which then never
    // matched (lookups trim what they are given). Every listed class must map.
    let m = RegionLabelMap::parse_spec("\" Tumor\r\"=MM").unwrap();
    assert_eq!(m.get("tumor"), Some(Lesion::MM));
    assert!(m.known_classes().iter().all(|c| m.get(c).is_some()), "{:?}", m.known_classes());
    let err = RegionLabelMap::parse_spec("\" \"=MM").unwrap_err().to_string();
    assert!(err.contains("empty class name"), "{err}");
}

#[test]
fn annotation_files_are_found_beside_the_slide_by_name() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("ann-beside");
    let slide = dir.join("S1.svs");
    assert_eq!(find_beside(&slide), None);
    std::fs::write(dir.join("S1.svs.xml"), "<Annotations/>").unwrap();
    assert_eq!(find_beside(&slide), Some(dir.join("S1.svs.xml")));
    std::fs::write(dir.join("S1.geojson"), "[]").unwrap();
    assert_eq!(find_beside(&slide), Some(dir.join("S1.geojson")), "the stem's GeoJSON comes first");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn long_hand_drawn_rings_are_checked_quickly_and_correctly() {
    // A 20,000-vertex circle is valid; the same with two vertices swapped crosses itself.
    let n = 20_000;
    let mut ring: Vec<Point> = (0..n)
        .map(|k| {
            let t = k as f64 * std::f64::consts::TAU / n as f64;
            Point { x: 5000.0 + 3000.0 * t.cos(), y: 4000.0 + 3000.0 * t.sin() }
        })
        .collect();
    assert!(geometry::check_shape(&Shape::new(ring.clone(), vec![])).is_empty());
    ring.swap(100, 101);
    let p = geometry::check_shape(&Shape::new(ring, vec![]));
    assert!(p.len() == 1 && p[0].contains("self-intersecting"), "{p:?}");
}
