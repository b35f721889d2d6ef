//! The append-only record log. Each record is stored as
//! `COBS(version u8 ++ postcard(record) ++ crc32 LE) ++ 0x00`.
//! Because COBS frames contain no zero byte, a reader finds every frame boundary even after
//! a torn write or a corrupt stretch, and returns every intact record around the damage.

use super::envelope::{decode_exact, open, seal};
use super::{FormatError, ScreeningRecord, cobs_decode, cobs_encode};
use alloc::vec::Vec;

pub(crate) const RECORD_VERSION: u8 = 1;
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
    if body[0] != RECORD_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: WHAT,
            found: u16::from(body[0]),
            supported: u16::from(RECORD_VERSION),
        });
    }
    let record: ScreeningRecord = decode_exact(WHAT, &body[1..])?;
    record.validate()?;
    Ok(record)
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
                Err(error) => {
                    let damage = Damage { offset: start, len: frame.len(), error };
                    if terminated {
                        scan.damaged.push(damage);
                    } else {
                        scan.torn_tail = Some(damage);
                    }
                }
            }
        }
        start = end + 1;
    }
    scan
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{FieldScore, RecordKind, Verdict};
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
        )
            .prop_map(|(t, frame, snap, verdict, probability, fields, hash, objective)| ScreeningRecord {
                time_unix_ms: t,
                frame_id: frame,
                kind: snap.map_or(RecordKind::VerdictChange, |bundle| RecordKind::Snapshot { bundle }),
                verdict,
                probability,
                fields,
                model_sha256: hash,
                objective,
            })
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
