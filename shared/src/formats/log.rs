//! The append-only record log. Each record is stored as
//! `COBS(version u8 ++ postcard(record) ++ crc32 LE) ++ 0x00`.
//! Because COBS frames contain no zero byte, a reader finds every frame boundary even after
//! a torn write or a corrupt stretch, and returns every intact record around the damage.

use super::envelope::{decode_exact, open, seal};
use super::record::{ScreeningRecordV1, ScreeningRecordV2};
use super::{FormatError, ScreeningRecord, cobs_decode, cobs_encode};
use alloc::vec::Vec;

/// Version 2 added the bundle's identity ([`super::ModelIdentity`]), version 3 the case and
/// the fields' familiarity scores; older records are still read (without them).
pub(crate) const RECORD_VERSION: u8 = 3;
const RECORD_VERSION_1: u8 = 1;
const RECORD_VERSION_2: u8 = 2;
const WHAT: &str = "log record";

/// A stretch of the log that did not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// Byte offset of the stretch in the log.
    pub offset: usize,
    pub len: usize,
    pub error: FormatError,
}

/// Everything a scan of the log found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogScan {
    /// Intact records with the byte offset of their frame.
    pub records: Vec<(usize, ScreeningRecord)>,
    /// Corrupt frames between intact ones.
    pub damaged: Vec<Damage>,
    /// An unterminated, undecodable last frame: the write a power cut interrupted.
    pub torn_tail: Option<Damage>,
}

impl LogScan {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.torn_tail.is_none()
    }
}

/// The bytes to append for `record`, delimiter included.
pub fn encode_log_frame(record: &ScreeningRecord) -> Result<Vec<u8>, FormatError> {
    record.validate()?;
    let sealed = seal(WHAT, &[RECORD_VERSION], record)?;
    let mut frame = cobs_encode(&sealed);
    frame.push(0);
    Ok(frame)
}

fn decode_frame(frame: &[u8]) -> Result<ScreeningRecord, FormatError> {
    let raw = cobs_decode(frame)?;
    let body = open(WHAT, &raw, 1)?;
    let record: ScreeningRecord = match body[0] {
        RECORD_VERSION => decode_exact(WHAT, &body[1..])?,
        RECORD_VERSION_2 => decode_exact::<ScreeningRecordV2>(WHAT, &body[1..])?.into(),
        RECORD_VERSION_1 => decode_exact::<ScreeningRecordV1>(WHAT, &body[1..])?.into(),
        found => {
            return Err(FormatError::UnsupportedVersion {
                what: WHAT,
                found: u16::from(found),
                supported: u16::from(RECORD_VERSION),
            });
        }
    };
    record.validate()?;
    Ok(record)
}

/// The longest record a device writes is a few KiB (a frame's field scores); garbage glued to a
/// record is searched for that record only this far back from the frame's end.
const RESYNC_WINDOW: usize = 256 * 1024;
/// At most this many candidate starts are decoded per damaged frame (each is CRC-checked).
const RESYNC_TRIES: usize = 512;

/// An intact record at the end of an undecodable `frame` and the bytes before it, if there is
/// one. A suffix is a COBS frame only if its chain of block codes lands exactly on the frame's
/// end; those suffixes are found in one backward pass and tried shortest first.
fn resynchronise(frame: &[u8]) -> Option<(usize, ScreeningRecord)> {
    let n = frame.len();
    let lowest = n.saturating_sub(RESYNC_WINDOW);
    // lands[i - lowest]: the chain of codes from i ends exactly at n.
    let mut lands = alloc::vec![false; n - lowest];
    let mut tries = 0;
    for i in (lowest..n).rev() {
        let next = i + usize::from(frame[i]);
        lands[i - lowest] = next == n || (next < n && lands[next - lowest]);
        // i = 0 is the whole frame, which did not decode.
        if i > 0 && lands[i - lowest] {
            tries += 1;
            if let Ok(r) = decode_frame(&frame[i..]) {
                return Some((i, r));
            }
            if tries >= RESYNC_TRIES {
                return None;
            }
        }
    }
    None
}

/// Scans a whole log. Never fails: damage is reported in the result.
pub fn scan_log(bytes: &[u8]) -> LogScan {
    let mut scan = LogScan::default();
    let mut start = 0;
    while start < bytes.len() {
        let (end, terminated) = match bytes[start..].iter().position(|b| *b == 0) {
            Some(p) => (start + p, true),
            None => (bytes.len(), false),
        };
        let frame = &bytes[start..end];
        if !frame.is_empty() {
            match decode_frame(frame) {
                Ok(r) => scan.records.push((start, r)),
                Err(error) => match resynchronise(frame) {
                    // Garbage glued before an intact record (no delimiter between them): the
                    // garbage is damage, the record is kept.
                    Some((skip, r)) => {
                        scan.damaged.push(Damage { offset: start, len: skip, error });
                        scan.records.push((start + skip, r));
                    }
                    None => {
                        let damage = Damage { offset: start, len: frame.len(), error };
                        if terminated {
                            scan.damaged.push(damage);
                        } else {
                            scan.torn_tail = Some(damage);
                        }
                    }
                },
            }
        }
        start = end + 1;
    }
    scan
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{FieldScore, ModelIdentity, RecordKind, Verdict};
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    pub(crate) fn record(i: u64) -> ScreeningRecord {
        ScreeningRecord {
            time_unix_ms: 1_790_000_000_000 + i,
            frame_id: i,
            kind: if i.is_multiple_of(3) {
                RecordKind::Snapshot { bundle: alloc::format!("snap-{i}") }
            } else {
                RecordKind::VerdictChange
            },
            verdict: if i.is_multiple_of(2) { Verdict::Nevus } else { Verdict::MelanomaSuspected },
            probability: (i % 10) as f32 / 10.0,
            fields: vec![FieldScore { col: 1, row: 0, probabilities: vec![0.25, 0.75] }],
            model_sha256: [i as u8; 32],
            objective: "10x".into(),
            model: Some(ModelIdentity {
                bundle_sha256: [i as u8 ^ 0x5a; 32],
                signer: if i.is_multiple_of(2) { Some([3; 32]) } else { None },
            }),
            case: i.is_multiple_of(4).then(|| alloc::format!("S26-{i}")),
            familiarity: if i.is_multiple_of(2) { vec![0.8] } else { Vec::new() },
        }
    }

    fn log_of(n: u64) -> Vec<u8> {
        (0..n).flat_map(|i| encode_log_frame(&record(i)).unwrap()).collect()
    }

    #[test]
    fn reads_back_every_record() {
        let scan = scan_log(&log_of(5));
        assert!(scan.is_clean());
        assert_eq!(
            scan.records.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            (0..5).map(record).collect::<Vec<_>>()
        );
    }

    #[test]
    fn truncation_at_every_offset_keeps_earlier_records() {
        let full = log_of(3);
        let last_start = full.len() - encode_log_frame(&record(2)).unwrap().len();
        for cut in last_start..full.len() {
            let scan = scan_log(&full[..cut]);
            assert!(scan.damaged.is_empty());
            if cut == full.len() - 1 {
                // Only the delimiter is missing: the record is whole and its CRC proves it.
                assert_eq!(scan.records.len(), 3);
                assert!(scan.torn_tail.is_none());
            } else {
                assert_eq!(scan.records.len(), 2, "cut at {cut}");
                assert_eq!(scan.torn_tail.is_some(), cut > last_start, "cut at {cut}");
            }
        }
    }

    #[test]
    fn corrupt_middle_frame_is_reported_and_skipped() {
        let mut log = log_of(3);
        let second = encode_log_frame(&record(0)).unwrap().len();
        log[second + 5] ^= 0x10;
        let scan = scan_log(&log);
        assert_eq!(scan.records.iter().map(|(_, r)| r.frame_id).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!(scan.damaged[0].offset, second);
    }

    #[test]
    fn garbage_glued_before_a_record_costs_only_the_garbage() {
        let mut log = encode_log_frame(&record(0)).unwrap();
        let at = log.len();
        // Nonzero garbage with no delimiter after it: the next record is glued to it.
        log.extend((0..300u32).map(|i| (i % 251 + 1) as u8));
        log.extend(encode_log_frame(&record(1)).unwrap());
        log.extend(encode_log_frame(&record(2)).unwrap());
        let scan = scan_log(&log);
        assert_eq!(scan.records.iter().map(|(_, r)| r.frame_id).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!((scan.damaged[0].offset, scan.damaged[0].len), (at, 300));
        // A whole file of garbage: nothing invented, every byte reported.
        let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 1).collect();
        let scan = scan_log(&noise);
        assert!(scan.records.is_empty());
        assert_eq!(scan.torn_tail.map(|d| d.len), Some(noise.len()));
    }

    #[test]
    fn version_1_records_are_still_read_without_an_identity() {
        let r = record(4);
        let v1 = ScreeningRecordV1 {
            time_unix_ms: r.time_unix_ms,
            frame_id: r.frame_id,
            kind: r.kind.clone(),
            verdict: r.verdict,
            probability: r.probability,
            fields: r.fields.clone(),
            model_sha256: r.model_sha256,
            objective: r.objective.clone(),
        };
        let mut frame = cobs_encode(&seal(WHAT, &[RECORD_VERSION_1], &v1).unwrap());
        frame.push(0);
        let scan = scan_log(&frame);
        assert!(scan.is_clean());
        let old = ScreeningRecord { model: None, case: None, familiarity: Vec::new(), ..r.clone() };
        assert_eq!(scan.records[0].1, old);
        // Version 2: the identity, no case or familiarity.
        let v2 = ScreeningRecordV2 { v1, model: r.model };
        let mut frame = cobs_encode(&seal(WHAT, &[RECORD_VERSION_2], &v2).unwrap());
        frame.push(0);
        assert_eq!(scan_log(&frame).records[0].1, ScreeningRecord { model: r.model, ..old });
    }

    #[test]
    fn invalid_record_is_not_written() {
        let mut r = record(1);
        r.probability = f32::NAN;
        assert!(encode_log_frame(&r).is_err());
    }

    fn arb_record() -> impl Strategy<Value = ScreeningRecord> {
        let verdicts = prop_oneof![
            Just(Verdict::MelanomaSuspected),
            Just(Verdict::Nevus),
            Just(Verdict::Uncertain),
            Just(Verdict::InsufficientTissue),
            Just(Verdict::OutOfFocus),
            Just(Verdict::UnfamiliarTissue),
        ];
        let field = (any::<u16>(), any::<u16>(), proptest::collection::vec(0.0f32..=1.0, 0..4))
            .prop_map(|(col, row, probabilities)| FieldScore { col, row, probabilities });
        (
            any::<u64>(),
            any::<u64>(),
            proptest::option::of("[a-z0-9-]{0,20}"),
            verdicts,
            0.0f32..=1.0,
            proptest::collection::vec(field, 0..30),
            any::<[u8; 32]>(),
            "[a-zA-Z0-9]{0,8}",
            proptest::option::of((any::<[u8; 32]>(), proptest::option::of(any::<[u8; 32]>()))),
            (proptest::option::of("[A-Za-z0-9][A-Za-z0-9._-]{0,20}"), any::<bool>()),
        )
            .prop_map(
                |(t, frame, snap, verdict, probability, fields, hash, objective, model, (case, scored))| {
                    let familiarity =
                        if scored { fields.iter().map(|f| f.col as f32 / 7.0).collect() } else { Vec::new() };
                    ScreeningRecord {
                        time_unix_ms: t,
                        frame_id: frame,
                        kind: snap.map_or(RecordKind::VerdictChange, |bundle| RecordKind::Snapshot { bundle }),
                        verdict,
                        probability,
                        fields,
                        model_sha256: hash,
                        objective,
                        model: model.map(|(bundle_sha256, signer)| ModelIdentity { bundle_sha256, signer }),
                        case,
                        familiarity,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn any_valid_record_round_trips_through_the_log(records in proptest::collection::vec(arb_record(), 1..6)) {
            let log: Vec<u8> = records.iter().flat_map(|r| encode_log_frame(r).unwrap()).collect();
            let scan = scan_log(&log);
            prop_assert!(scan.is_clean());
            let back: Vec<ScreeningRecord> = scan.records.into_iter().map(|(_, r)| r).collect();
            prop_assert_eq!(back, records);
        }

        #[test]
        fn garbage_never_panics_and_intact_prefix_survives(garbage in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut log = log_of(2);
            log.extend_from_slice(&garbage);
            let scan = scan_log(&log);
            let ids: Vec<u64> = scan.records.iter().map(|(_, r)| r.frame_id).take(2).collect();
            prop_assert_eq!(ids, vec![0, 1]);
        }
    }
}
