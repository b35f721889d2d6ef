//! Shards: task K of N takes a fixed share of a cohort (slides by a stable hash of the slide
//! id) or of an experiment grid (cells by index), so N tasks that never talk to each other (a
//! Slurm array, one process per GPU) cover the whole exactly once. Shard folders are named
//! `K-of-N` under the output's `shards/`; `merge` puts them back together.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One task's share: `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("--shard {spec:?}: {why}")]
    Spec { spec: String, why: String },
    #[error("{var}={value:?} (Slurm array job): {why}; or give --shard K/N")]
    Slurm { var: &'static str, value: String, why: String },
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Shard {
    /// The whole cohort or grid: what a run without shards does.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// `K/N` with 0 ≤ K < N.
    pub fn parse(spec: &str) -> Result<Self, ShardError> {
        let bad = |why: &str| ShardError::Spec { spec: spec.into(), why: why.into() };
        let (k, n) = spec.split_once('/').ok_or_else(|| bad("expected K/N, such as 0/4 (task K of N, from 0)"))?;
        let k: u32 = k.trim().parse().map_err(|_| bad("K is not a whole number"))?;
        let n: u32 = n.trim().parse().map_err(|_| bad("N is not a whole number"))?;
        if n == 0 {
            return Err(bad("N is 0; a run has at least one shard"));
        }
        if k >= n {
            return Err(bad(&format!("K is {k} but shards are numbered 0 to {}", n - 1)));
        }
        Ok(Shard { index: k, count: n })
    }

    /// The shard of this task of a Slurm array job, from `SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT`, `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_STEP` as `var`
    /// reads them; `None` outside an array job. An array of `--array=1-8` or `0-14:2` maps to
    /// shards 0..N in task order; a list with gaps (`--array=1,5,9`) cannot, and is refused.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ShardError> {
        let Some(id_text) = var("SLURM_ARRAY_TASK_ID") else { return Ok(None) };
        let number = |name: &'static str, text: String| {
            text.trim().parse::<u32>().map_err(|_| ShardError::Slurm {
                var: name,
                value: text.clone(),
                why: "not a whole number".into(),
            })
        };
        let id = number("SLURM_ARRAY_TASK_ID", id_text)?;
        let count_text = var("SLURM_ARRAY_TASK_COUNT").ok_or_else(|| ShardError::Slurm {
            var: "SLURM_ARRAY_TASK_COUNT",
            value: String::new(),
            why: "not set beside SLURM_ARRAY_TASK_ID".into(),
        })?;
        let count = number("SLURM_ARRAY_TASK_COUNT", count_text)?;
        let min = var("SLURM_ARRAY_TASK_MIN").map(|t| number("SLURM_ARRAY_TASK_MIN", t)).transpose()?.unwrap_or(0);
        let step = var("SLURM_ARRAY_TASK_STEP").map(|t| number("SLURM_ARRAY_TASK_STEP", t)).transpose()?.unwrap_or(1);
        let off_grid = |why: String| ShardError::Slurm { var: "SLURM_ARRAY_TASK_ID", value: id.to_string(), why };
        if step == 0 || id < min || (id - min) % step != 0 {
            return Err(off_grid(format!("not on the array's range (from {min} in steps of {step})")));
        }
        let index = (id - min) / step;
        if index >= count {
            return Err(off_grid(format!(
                "task {index} of the range from {min} in steps of {step}, but the array has {count} tasks \
                 (a list with gaps cannot be mapped to shards)"
            )));
        }
        Ok(Some(Shard { index, count }))
    }

    /// `--shard` when given, else the Slurm array task's, else the whole.
    pub fn resolve(arg: Option<&str>) -> Result<Self, ShardError> {
        match arg {
            Some(spec) => Self::parse(spec),
            None => Ok(Self::from_slurm(|v| std::env::var(v).ok())?.unwrap_or(Self::WHOLE)),
        }
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether the slide (or rejected cohort row) named `id` is this shard's.
    pub fn owns_id(&self, id: &str) -> bool {
        self.owner_of_id(id) == self.index
    }

    /// The shard index that owns `id` among `count`.
    pub fn owner_of_id(&self, id: &str) -> u32 {
        (stable_hash(id.as_bytes()) % u64::from(self.count)) as u32
    }

    /// Whether grid cell `i` (architecture-major order) is this shard's.
    pub fn owns_cell(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }

    /// The shard's folder under `out`: `out/shards/K-of-N`.
    pub fn folder(&self, out: &Path) -> PathBuf {
        out.join("shards").join(format!("{}-of-{}", self.index, self.count))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a, 64 bits: the same on every machine and Rust version (std's hasher is not promised
/// to be), so every task agrees on which slide is whose.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SHA-256 of a file, read in pieces (a cohort's manifest can be gigabytes), as hex: shards
/// record what they read so `merge` can refuse shards of different inputs.
pub fn file_sha256(path: &Path) -> Result<String, ShardError> {
    use sha2::Digest;
    let io = |source| ShardError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(melanoscope_shared::formats::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse("0/1").unwrap(), Shard::WHOLE);
        for (spec, why) in [
            ("4/4", "numbered 0 to 3"),
            ("1/0", "N is 0"),
            ("x/2", "K is not"),
            ("1", "expected K/N"),
            ("1/-2", "N is not"),
        ] {
            let e = Shard::parse(spec).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(spec), "{spec}: {e}");
        }
    }

    #[test]
    fn slurm_array_tasks_map_to_shards_in_order() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            move |k: &str| map.get(k).cloned()
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let one_based = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_STEP", "1"),
        ]);
        assert_eq!(Shard::from_slurm(one_based).unwrap(), Some(Shard { index: 2, count: 4 }));
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ]);
        assert_eq!(Shard::from_slurm(stepped).unwrap(), Some(Shard { index: 3, count: 4 }));
        let gaps = env(&[("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_COUNT", "3"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert!(Shard::from_slurm(gaps).unwrap_err().to_string().contains("gaps"));
        let no_count = env(&[("SLURM_ARRAY_TASK_ID", "0")]);
        assert!(Shard::from_slurm(no_count).unwrap_err().to_string().contains("SLURM_ARRAY_TASK_COUNT"));
    }

    #[test]
    fn every_id_and_cell_has_exactly_one_owner() {
        let ids: Vec<String> = (0..500).map(|i| format!("slide-{i}")).collect();
        for count in [1u32, 2, 3, 7] {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            for id in &ids {
                assert_eq!(shards.iter().filter(|s| s.owns_id(id)).count(), 1, "{id} of {count}");
            }
            for cell in 0..40 {
                assert_eq!(shards.iter().filter(|s| s.owns_cell(cell)).count(), 1);
            }
            // The hash spreads ids: no shard of a few is left far from its share.
            for s in &shards {
                let n = ids.iter().filter(|id| s.owns_id(id)).count();
                assert!(n * count as usize > ids.len() / 2, "shard {s} has {n} of {}", ids.len());
            }
        }
        // Fixed values: a change of hash would re-deal a half-finished cohort's slides.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
