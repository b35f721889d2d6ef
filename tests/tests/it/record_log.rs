//! The record log on disk survives a power cut at any byte of its last record.

use melanoscope_shared::formats::{
    FieldScore, ModelIdentity, RecordKind, RecordLogWriter, ScreeningRecord, Verdict, encode_log_frame, read_log_file,
};

fn record(i: u64) -> ScreeningRecord {
    ScreeningRecord {
        time_unix_ms: 1_790_000_000_000 + i * 200,
        frame_id: i,
        kind: RecordKind::VerdictChange,
        verdict: [Verdict::Nevus, Verdict::MelanomaSuspected, Verdict::Uncertain][i as usize % 3],
        probability: 0.1 * i as f32,
        fields: (0..4).map(|c| FieldScore { col: c, row: 1, probabilities: vec![0.3, 0.7] }).collect(),
        model_sha256: melanoscope_shared::formats::sha256(b"model"),
        objective: "10x".into(),
        model: Some(ModelIdentity { bundle_sha256: melanoscope_shared::formats::sha256(b"bundle"), signer: None }),
        case: i.is_multiple_of(2).then(|| format!("S26-{i:04}")),
        familiarity: vec![0.5, 0.7, 3.2, 0.1],
    }
}

#[test]
fn truncation_at_every_byte_of_the_last_record_loses_only_that_record() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("e2e-log");
    let path = dir.join("screening.log");
    let _ = std::fs::remove_file(&path);
    let mut w = RecordLogWriter::open(&path, true).unwrap();
    for i in 0..4 {
        w.append(&record(i)).unwrap();
    }
    drop(w);
    let full = std::fs::read(&path).unwrap();
    let last = encode_log_frame(&record(3)).unwrap().len();
    let cut_path = dir.join("cut.log");
    for cut in full.len() - last..full.len() {
        std::fs::write(&cut_path, &full[..cut]).unwrap();
        let scan = read_log_file(&cut_path).unwrap();
        let ids: Vec<u64> = scan.records.iter().map(|(_, r)| r.frame_id).collect();
        let whole_last = cut == full.len() - 1;
        let expect: Vec<u64> = if whole_last { vec![0, 1, 2, 3] } else { vec![0, 1, 2] };
        assert_eq!(ids, expect, "cut at byte {cut}");
        assert!(scan.damaged.is_empty(), "cut at byte {cut}");
        // After a reopen the writer seals the torn tail and new records read back.
        let mut w = RecordLogWriter::open(&cut_path, false).unwrap();
        w.append(&record(9)).unwrap();
        let after = read_log_file(&cut_path).unwrap();
        assert_eq!(after.records.last().unwrap().1, record(9), "cut at byte {cut}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
