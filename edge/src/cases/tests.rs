use super::fleet::{export_cases, review, verify_export};
use super::page::write_case_page;
use super::*;
use crate::analysis::{Analysis, FieldResult, StageTimes};
use crate::gates::{Gate, GateReadings};

fn temp(name: &str) -> melanoscope_shared::scratch::ScratchDir {
    melanoscope_shared::scratch::ScratchDir::new(&format!("cases-{name}"))
}

fn field(col: u16, p: f32, unfamiliar: bool) -> FieldResult {
    FieldResult {
        col,
        row: 0,
        frame_rect: (f64::from(col) * 32.0, 0.0, 32.0),
        probabilities: vec![1.0 - p, p],
        heat: vec![p; 4],
        heat_size: (2, 2),
        familiarity: Some(if unfamiliar { 9.0 } else { 0.5 }),
        unfamiliar,
    }
}

fn analysis(fields: Vec<FieldResult>, gate: Option<Gate>) -> Analysis {
    let readings = GateReadings {
        mean_luma: 150.0,
        clipped_fraction: 0.0,
        clipped_channels: [0.0; 3],
        grid_fields: 4,
        tissue_fields: 4,
        sharpness: 0.5,
    };
    Analysis {
        readings,
        gate,
        fields,
        probability: None,
        unfamiliar_fields: 0,
        stain: None,
        times: StageTimes::default(),
    }
}

/// A case keeps its top fields (familiar ones only), its highest verdict and its gated frames
/// by reason; a second open, a bad id and a reused id are refused; a case left open is
/// interrupted at the next start; its page and an export carry it; a damaged export is refused
/// naming the file.
#[test]
fn a_case_from_open_to_review() {
    let dir = temp("life");
    let cases = dir.join("cases");
    let card = ModelCard { familiarity_threshold: Some(2.0), ..ModelCard::default() };
    let (mut book, interrupted) = CaseBook::new(&cases, 2, card.clone()).unwrap();
    assert!(interrupted.is_empty());
    for bad in ["../etc", "a/b", "S1\n", "", ".hidden"] {
        assert!(book.open(bad, 0, "40x", 0.25).is_err(), "{bad:?} accepted");
    }
    assert!(matches!(book.close(1), Err(CaseError::NoneOpen)));
    book.open("S26-1", 1_000, "40x", 0.25).unwrap();
    let e = book.open("S26-2", 1_001, "40x", 0.25).unwrap_err().to_string();
    assert!(e.contains("S26-1 is open") && e.contains("S26-2"), "{e}");
    let frame = RgbImage::filled(128, 32, [200, 120, 170]).unwrap();
    let a = analysis(vec![field(0, 0.3, false), field(1, 0.9, true), field(2, 0.6, false)], None);
    book.frame(1, 2_000, &frame, &a, Verdict::Nevus, 1).unwrap();
    let b = analysis(vec![field(3, 0.8, false), field(0, 0.1, false)], None);
    book.frame(2, 3_000, &frame, &b, Verdict::MelanomaSuspected, 1).unwrap();
    book.frame(3, 4_000, &frame, &analysis(Vec::new(), Some(Gate::OutOfFocus)), Verdict::OutOfFocus, 1).unwrap();
    book.frame(4, 5_000, &frame, &a, Verdict::Nevus, 1).unwrap();
    assert_eq!(book.verdict(), Some(Verdict::MelanomaSuspected), "the highest verdict shown holds");
    let closed = book.close(6_000).unwrap();
    let kept: Vec<f32> = closed.fields.iter().map(|f| f.probability).collect();
    assert_eq!(kept, [0.8, 0.6], "top 2, the unfamiliar 0.9 left out");
    assert_eq!(closed.gated.get("OUT OF FOCUS"), Some(&1));
    assert_eq!((closed.frames, closed.screened, closed.status), (4, 3, CaseStatus::Closed));
    let pngs = std::fs::read_dir(cases.join("S26-1/fields")).unwrap().count();
    assert_eq!(pngs, 2, "evicted fields' images are removed");
    let e = book.open("S26-1", 7_000, "40x", 0.25).unwrap_err().to_string();
    assert!(e.contains("exists (closed)") && e.contains("S26-1-2"), "{e}");

    // A case open when the device stops is interrupted at the next start, its fields kept.
    book.open("S26-3", 8_000, "40x", 0.25).unwrap();
    book.frame(5, 9_000, &frame, &b, Verdict::MelanomaSuspected, 1).unwrap();
    drop(book);
    let (_, interrupted) = CaseBook::new(&cases, 2, card).unwrap();
    assert_eq!(interrupted, ["S26-3"]);
    let (_, s3) = find_case(&cases, "S26-3").unwrap();
    assert_eq!((s3.status, s3.fields.len()), (CaseStatus::Interrupted, 2));

    // The page: no log here (its history is empty), the fields inlined.
    let page = write_case_page(&cases, &dir.join("none.log"), "S26-1", &dir.join("page")).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Case S26-1") && html.contains("MELANOMA SUSPECTED") && html.contains("OUT OF FOCUS"));
    assert_eq!(html.matches("data:image/png;base64,").count(), 2);
    assert!(write_case_page(&cases, &dir.join("none.log"), "S26-9", &dir.join("p9")).is_err());

    // Export since the epoch, then review; a flipped byte in a field image is refused by name.
    let export = dir.join("usb/export-a");
    let s = export_cases(&cases, &dir.join("none.log"), 0, "scope-1", &export).unwrap();
    assert_eq!(s.cases, 2);
    assert!(export_cases(&cases, &dir.join("none.log"), 0, "scope-1", &export).is_err(), "an existing folder");
    let later = export_cases(&cases, &dir.join("none.log"), 7_500, "scope-1", &dir.join("usb/export-b")).unwrap();
    assert_eq!(later.cases, 1, "only the case opened since");
    let m = verify_export(&export).unwrap();
    let copy = dir.join("usb/export-c");
    std::fs::create_dir_all(&copy).unwrap();
    for f in m.files.iter().map(|f| f.path.clone()).chain(["manifest.json".to_string()]) {
        let to = copy.join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(export.join(&f), &to).unwrap();
    }
    let victim = m.files.iter().find(|f| f.path.ends_with(".png")).unwrap().path.clone();
    let mut bytes = std::fs::read(copy.join(&victim)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(copy.join(&victim), bytes).unwrap();
    let e = verify_export(&copy).unwrap_err().to_string();
    assert!(e.contains(&victim) && e.contains("SHA-256"), "{e}");
    let r = review(&[export.clone(), copy.clone()], &dir.join("review")).unwrap();
    assert_eq!((r.cases, r.refused.len()), (2, 1));
    let index = std::fs::read_to_string(&r.index).unwrap();
    let link = |index: &str, case: &str| -> Vec<String> {
        index
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .filter(|l| l.ends_with(&format!("/{case}/index.html")))
            .map(str::to_string)
            .collect()
    };
    let s1 = link(&index, "S26-1");
    assert!(s1.len() == 1 && s1[0].starts_with("scope-1-") && index.contains("Refused exports"), "{index}");
    assert!(dir.join("review").join(&s1[0]).is_file());
    // A FIFO where a listed file should be: refused by name at once, not waited on.
    std::fs::remove_file(copy.join(&victim)).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(copy.join(&victim)).status().unwrap().success());
    let e = melanoscope_shared::errors::error_chain(&verify_export(&copy).unwrap_err());
    assert!(e.contains(&victim) && e.contains("not a regular file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_case_files_and_export_manifests_are_refused_by_name() {
    let dir = temp("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let case_json = CaseFile::path(&dir);
    let load_err = |bytes: &[u8]| {
        std::fs::write(&case_json, bytes).unwrap();
        CaseFile::load(&dir).unwrap_err().to_string()
    };
    // Larger than any case file (a sparse 2 MiB file): refused from its size, not parsed.
    std::fs::File::create(&case_json).unwrap().set_len(2 << 20).unwrap();
    let e = CaseFile::load(&dir).unwrap_err().to_string();
    assert!(e.contains("case.json") && e.contains("over 1048576 bytes"), "{e}");
    let e = load_err(b"{\"id\": \"C1\", \"opened_unix_ms\": ");
    assert!(e.contains("case.json"), "{e}");
    let e = load_err(b"[1, 2, 3]");
    assert!(e.contains("case.json"), "{e}");

    let export = dir.join("export");
    std::fs::create_dir_all(&export).unwrap();
    let manifest = export.join("manifest.json");
    let verify = |bytes: &[u8]| {
        std::fs::write(&manifest, bytes).unwrap();
        verify_export(&export).unwrap_err().to_string()
    };
    for bad in [&b"{\"format\": "[..], b"not json at all", b"{\"format\": \"melanoscope-cases\", \"version\": 99}"] {
        let e = verify(bad);
        assert!(e.contains("manifest.json") && e.contains(&export.display().to_string()), "{e}");
    }
    std::fs::File::create(&manifest).unwrap().set_len(17 << 20).unwrap();
    let e = verify_export(&export).unwrap_err().to_string();
    assert!(e.contains("manifest.json") && e.contains("over 16777216 bytes"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `case.json` keeps the verdict as the label the screen showed, as files written before the
/// field was typed did; a label that is no verdict is refused, named.
#[test]
fn the_case_verdict_is_typed_and_stored_as_its_label() {
    let mut file = CaseFile {
        id: "S26-1".into(),
        status: CaseStatus::Closed,
        opened_unix_ms: 1,
        closed_unix_ms: Some(2),
        objective: "40x".into(),
        um_per_px: 0.25,
        model: ModelCard::default(),
        verdict: Some(Verdict::MelanomaSuspected),
        frames: 3,
        screened: 2,
        gated: BTreeMap::new(),
        fields: Vec::new(),
    };
    let json = serde_json::to_value(&file).unwrap();
    assert_eq!(json["verdict"], "MELANOMA SUSPECTED");
    let back: CaseFile = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, file);
    file.verdict = None;
    assert!(serde_json::to_value(&file).unwrap()["verdict"].is_null());
    let mut odd = json;
    odd["verdict"] = "PROBABLY FINE".into();
    let e = serde_json::from_value::<CaseFile>(odd).unwrap_err().to_string();
    assert!(e.contains("PROBABLY FINE") && e.contains("NEVUS"), "{e}");
}

/// The desk of a session logging to `dir/log.bin`, with its cases under `dir/cases`.
fn desk_at(dir: &Path) -> (desk::CaseDesk, crate::records::queue::LogQueue) {
    use melanoscope_shared::formats::ModelIdentity;
    let identity = ModelIdentity { bundle_sha256: [1; 32], signer: None };
    let recorder =
        crate::records::Recorder::open(&dir.join("log.bin"), false, &dir.join("snaps"), [2; 32], identity, "40x")
            .unwrap();
    let (book, _) = CaseBook::new(&dir.join("cases"), 4, ModelCard::default()).unwrap();
    (desk::CaseDesk::new(book, "40x", 0.25), crate::records::queue::LogQueue::new(recorder))
}

/// The `case-closed` records of the log in `dir`, by case id.
fn closed_records(dir: &Path) -> Vec<String> {
    use melanoscope_shared::formats::RecordKind;
    let scan = melanoscope_shared::formats::read_log_file(&dir.join("log.bin")).unwrap();
    scan.records
        .into_iter()
        .filter(|(_, r)| matches!(r.kind, RecordKind::CaseClosed { .. }))
        .filter_map(|(_, r)| r.case)
        .collect()
}

/// The close record is in the log before `case.json` says closed: with the case file's write
/// failing (a folder where its temporary file goes), the log already holds the close, the
/// case stays open on disk, the banner's fault is set, and the next start marks it
/// interrupted. Before, `case.json` was saved first: a kill between left a closed case whose
/// close no record showed.
#[test]
fn a_case_close_is_logged_before_its_file_says_closed() {
    let dir = temp("close-order");
    let (mut desk, mut log) = desk_at(&dir);
    desk.open("S31-12", 1, &mut log).unwrap();
    let case_json = CaseFile::path(&dir.join("cases/S31-12"));
    let blocker = melanoscope_shared::atomic::temp_path(&case_json);
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    assert!(desk.close(2, &mut log).is_err(), "the case file cannot be written");
    assert_eq!(closed_records(&dir), ["S31-12"], "the close is logged first");
    assert_eq!(CaseFile::load(case_json.parent().unwrap()).unwrap().status, CaseStatus::Open);
    assert!(desk.fault().is_some_and(|f| f.contains("case.json")), "{:?}", desk.fault());
    assert_eq!(desk.current(), Some("S31-12"), "still open: the close can be tried again");
    std::fs::remove_dir_all(&blocker).unwrap();
    let (_, interrupted) = CaseBook::new(&dir.join("cases"), 4, ModelCard::default()).unwrap();
    assert_eq!(interrupted, ["S31-12"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A case open at start whose folder cannot be written (a full card) no longer stops the
/// device (start-up failed with the case folder's error, exit 3 under the service): the case
/// is reported interrupted and screening goes on.
#[test]
fn an_unwritable_case_folder_does_not_stop_the_start() {
    let dir = temp("full-start");
    let (mut desk, mut log) = desk_at(&dir);
    desk.open("S31-13", 1, &mut log).unwrap();
    drop(desk);
    let case_json = CaseFile::path(&dir.join("cases/S31-13"));
    let blocker = melanoscope_shared::atomic::temp_path(&case_json);
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let (book, interrupted) = CaseBook::new(&dir.join("cases"), 4, ModelCard::default()).unwrap();
    assert_eq!(interrupted, ["S31-13"]);
    assert_eq!(book.current(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An export as a hostile or unlucky device would leave it, each refused or kept apart:
/// a script in a case page (its manifest hash right) never reaches the review, whose pages are
/// made from the case files; two exports with the same device name and case id get a folder
/// each (the second replaced the first); the same export given twice is merged once; a case
/// listed twice, a symbolic link in an export, and a link where the review writes are refused.
#[test]
fn review_regenerates_pages_and_keeps_exports_apart() {
    let dir = temp("review-hostile");
    let cases = dir.join("cases");
    let (mut book, _) = CaseBook::new(&cases, 2, ModelCard::default()).unwrap();
    let frame = RgbImage::filled(128, 32, [200, 120, 170]).unwrap();
    book.open("S31-1", 1_000, "40x", 0.25).unwrap();
    book.frame(1, 2_000, &frame, &analysis(vec![field(0, 0.7, false)], None), Verdict::MelanomaSuspected, 1).unwrap();
    book.close(3_000).unwrap();
    drop(book);
    let log = dir.join("none.log");
    let a = dir.join("usb/a");
    let b = dir.join("usb/b");
    export_cases(&cases, &log, 0, "scope-1", &a).unwrap();
    // The same device name and case on a second device (or a later export of the first).
    std::fs::remove_dir_all(&cases).unwrap();
    let (mut book, _) = CaseBook::new(&cases, 2, ModelCard::default()).unwrap();
    book.open("S31-1", 5_000, "40x", 0.25).unwrap();
    book.close(6_000).unwrap();
    drop(book);
    export_cases(&cases, &log, 0, "scope-1", &b).unwrap();

    // A script planted in a's case page, its manifest entry made to match.
    let page = a.join("cases/S31-1/index.html");
    let mut html = std::fs::read_to_string(&page).unwrap();
    html = html.replace("<body>", "<body><script>document.title='forged'</script>");
    std::fs::write(&page, &html).unwrap();
    let manifest_path = a.join("manifest.json");
    let mut m: fleet::Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let entry = m.files.iter_mut().find(|f| f.path == "cases/S31-1/index.html").unwrap();
    entry.bytes = html.len() as u64;
    entry.sha256 = hex(&melanoscope_shared::formats::sha256(html.as_bytes()));
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    assert!(verify_export(&a).is_ok(), "the manifest is a checksum list: the forged page passes it");

    let out = dir.join("review");
    let r = review(&[a.clone(), b.clone(), a.clone()], &out).unwrap();
    assert_eq!(r.cases, 2, "{r:?}");
    assert!(r.refused.iter().any(|w| w.contains("the same export as")), "{:?}", r.refused);
    let index = std::fs::read_to_string(&r.index).unwrap();
    let folders: Vec<&str> = index.split("href=\"").skip(1).filter_map(|s| s.split('/').next()).collect();
    assert_eq!(folders.len(), 2, "{index}");
    assert_ne!(folders[0], folders[1], "two exports, two folders");
    for f in &folders {
        let page = std::fs::read_to_string(out.join(f).join("S31-1/index.html")).unwrap();
        assert!(!page.contains("<script") && !page.contains("forged"), "{page}");
        assert!(page.contains("Case S31-1"));
    }
    let with_field = folders.iter().map(|f| std::fs::read_to_string(out.join(f).join("S31-1/index.html")).unwrap());
    assert_eq!(with_field.filter(|p| p.contains("data:image/png;base64,")).count(), 1, "a's field image, validated");

    // A case listed twice.
    let mut twice = m.clone();
    twice.cases.push(twice.cases[0].clone());
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&twice).unwrap()).unwrap();
    let e = verify_export(&a).unwrap_err().to_string();
    assert!(e.contains("listed twice"), "{e}");
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    // A field image replaced by a link to a file with the same bytes elsewhere.
    let png_rel = m.files.iter().find(|f| f.path.ends_with(".png")).unwrap().path.clone();
    let outside = dir.join("outside.png");
    std::fs::rename(a.join(&png_rel), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, a.join(&png_rel)).unwrap();
    let e = verify_export(&a).unwrap_err().to_string();
    assert!(e.contains("symbolic link") && e.contains(&png_rel), "{e}");
    // A link where the review writes: refused, nothing written through it.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let linked_out = dir.join("review-link");
    std::os::unix::fs::symlink(&elsewhere, &linked_out).unwrap();
    let e = review(std::slice::from_ref(&b), &linked_out).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
