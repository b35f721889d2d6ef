//! Batches for training: worker threads read patches (from slides through the manifest's
//! level-0 coordinates, or from patch files), augment them and lay them out as 8-bit planes
//! with `shared` (normalised where the batch lands, see `feed`: a quarter of the bytes to copy
//! and no float pass on the CPU), and a bounded queue keeps a few batches ready ahead of the consumer. Deterministic for a seed:
//! the order comes from (seed, epoch), each sample's augmentation from (seed, epoch, sample), and
//! batches are handed out in order whatever the number of workers.

use super::augment::{AugmentConfig, augment, augment_timed};
use melanoscope_shared::image::{FieldRect, Normalization, RgbImage, field_to_planes};
use melanoscope_shared::rng::SplitMix64;
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::patching::read_patch;
use melanoscope_slides::slide::{Slide, is_plain_image};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

/// One training sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub slide: PathBuf,
    /// Level-0 top-left of the patch (0, 0 for a patch file).
    pub x0: u64,
    pub y0: u64,
    /// µm/px the patch is cut at.
    pub um_per_px: f64,
    pub patch_size: u32,
    /// Class index in the task's class list.
    pub class: usize,
}

/// Samples of `rows` whose label is in `classes` (the class index is its position there).
pub fn samples_from_manifest(rows: &[ManifestRow], classes: &[&str]) -> Vec<Sample> {
    samples_where(rows, |r| classes.iter().position(|c| c.eq_ignore_ascii_case(&r.label)))
}

/// Samples of the `rows` that `class_of` gives a class index (the others are left out).
pub fn samples_where<'a>(
    rows: impl IntoIterator<Item = &'a ManifestRow>,
    class_of: impl Fn(&ManifestRow) -> Option<usize>,
) -> Vec<Sample> {
    rows.into_iter()
        .filter_map(|r| {
            Some(Sample {
                class: class_of(r)?,
                slide: PathBuf::from(&r.slide),
                x0: u64::try_from(r.x0).ok()?,
                y0: u64::try_from(r.y0).ok()?,
                um_per_px: r.requested_um_per_px,
                patch_size: u32::try_from(r.patch_size).ok()?,
            })
        })
        .collect()
}

/// How batches are made.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub workers: usize,
    /// Batches kept ready ahead of the consumer.
    pub prefetch: usize,
    pub seed: u64,
    pub shuffle: bool,
    pub augment: AugmentConfig,
    pub normalization: Normalization,
    /// Side the patches are fed at (patches of another size are an error for that sample).
    pub size: u32,
    /// Open slides kept per worker.
    pub slide_cache: usize,
}

impl LoaderConfig {
    /// Loader settings for `size`-pixel patches with ImageNet normalisation; augmentation and
    /// shuffling go together (training), neither for evaluation and inference.
    pub fn new(batch_size: usize, workers: usize, seed: u64, train: bool, size: u32) -> Self {
        LoaderConfig {
            batch_size,
            workers,
            prefetch: 4,
            seed,
            shuffle: train,
            augment: if train { AugmentConfig::microscope() } else { AugmentConfig::none() },
            normalization: Normalization::IMAGENET,
            size,
            slide_cache: 16,
        }
    }
}

/// One batch: NCHW 8-bit planes and the normalisation that turns them into the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub index: usize,
    pub images: Vec<u8>,
    pub normalization: Normalization,
    pub classes: Vec<i64>,
    /// Dataset indices of the samples in the batch, in order.
    pub samples: Vec<usize>,
    /// Samples that could not be read, with the reason; the batch goes on without them.
    pub skipped: Vec<String>,
}

/// Samples that could not be read: how many, and the first few reasons (each names the file).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Unread {
    pub count: usize,
    pub first: Vec<String>,
}

impl Unread {
    /// Reasons kept verbatim; the rest are counted.
    const KEEP: usize = 3;

    pub fn add(&mut self, reasons: &[String]) {
        self.count += reasons.len();
        let room = Self::KEEP.saturating_sub(self.first.len());
        self.first.extend(reasons.iter().take(room).cloned());
    }

    /// "N patches could not be read: <reason>; <reason> (and M more)".
    pub fn describe(&self, what: &str) -> String {
        let more = self.count.saturating_sub(self.first.len());
        let tail = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        format!("{} {what} could not be read: {}{tail}", self.count, self.first.join("; "))
    }
}

impl Batch {
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut r = SplitMix64::new(a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// The order samples are visited in during `epoch`.
pub fn epoch_order(n: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut rng = SplitMix64::new(mix(seed, epoch, 0x5EED));
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    order
}

/// Why a sample's patch did not make it into a batch (reported with the skipped sample).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error(transparent)]
    Slide(#[from] melanoscope_slides::slide::SlideError),
    #[error("patch is {width}x{height}, the model takes {size}")]
    Size { width: u32, height: u32, size: u32 },
    #[error(transparent)]
    Image(#[from] melanoscope_shared::image::ImageError),
}

/// Why the stage timing could not run.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Image(#[from] melanoscope_shared::image::ImageError),
    #[error("none of the samples could be read")]
    NoReadableSample,
}

/// Reads one sample's pixels, keeping a few slides open.
struct Reader {
    open: HashMap<PathBuf, Slide>,
    capacity: usize,
}

impl Reader {
    fn read(&mut self, s: &Sample) -> Result<RgbImage, PatchError> {
        if self.open.len() >= self.capacity.max(1) && !self.open.contains_key(&s.slide) {
            self.open.clear();
        }
        let slide = match self.open.entry(s.slide.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let spacing = is_plain_image(&s.slide).then_some(s.um_per_px);
                e.insert(Slide::open(&s.slide, spacing)?)
            }
        };
        Ok(read_patch(slide, s.um_per_px, s.x0, s.y0, s.patch_size)?)
    }
}

fn make_batch(
    index: usize,
    ids: &[usize],
    samples: &[Sample],
    cfg: &LoaderConfig,
    epoch: u64,
    reader: &mut Reader,
) -> Batch {
    let per = 3 * cfg.size as usize * cfg.size as usize;
    let mut batch = Batch {
        index,
        images: Vec::with_capacity(ids.len() * per),
        normalization: cfg.normalization,
        classes: Vec::new(),
        samples: Vec::new(),
        skipped: Vec::new(),
    };
    for &i in ids {
        let s = &samples[i];
        let result = reader.read(s).and_then(|patch| {
            if patch.width() != cfg.size || patch.height() != cfg.size {
                return Err(PatchError::Size { width: patch.width(), height: patch.height(), size: cfg.size });
            }
            let img = augment(&patch, &cfg.augment, mix(cfg.seed, epoch, i as u64 + 1))?;
            let start = batch.images.len();
            batch.images.resize(start + per, 0);
            field_to_planes(&img, FieldRect::square(0, 0, cfg.size), &mut batch.images[start..]).map_err(|e| {
                batch.images.truncate(start);
                PatchError::from(e)
            })
        });
        match result {
            Ok(()) => {
                batch.classes.push(s.class as i64);
                batch.samples.push(i);
            }
            Err(e) => {
                batch.skipped.push(format!("{} at ({}, {}): {}", s.slide.display(), s.x0, s.y0, crate::error_chain(&e)))
            }
        }
    }
    batch
}

/// Seconds per patch of each stage a worker runs (reading and decoding, each augmentation
/// step, laying out planes), on one thread over the first `n` readable samples: where the
/// pipeline's time goes.
pub fn stage_seconds(samples: &[Sample], cfg: &LoaderConfig, n: usize) -> Result<Vec<(&'static str, f64)>, StageError> {
    let mut reader = Reader { open: HashMap::new(), capacity: cfg.slide_cache };
    let mut planes = vec![0u8; 3 * cfg.size as usize * cfg.size as usize];
    let mut total: Vec<(&'static str, f64)> = Vec::new();
    let mut add = |stage: &'static str, d: std::time::Duration| match total.iter_mut().find(|(s, _)| *s == stage) {
        Some(t) => t.1 += d.as_secs_f64(),
        None => total.push((stage, d.as_secs_f64())),
    };
    let mut done = 0usize;
    for (i, s) in samples.iter().enumerate() {
        if done == n {
            break;
        }
        let t = std::time::Instant::now();
        let Ok(patch) = reader.read(s) else { continue };
        add("read", t.elapsed());
        let img = augment_timed(&patch, &cfg.augment, mix(cfg.seed, 0, i as u64 + 1), &mut |step, d| add(step, d))?;
        let t = std::time::Instant::now();
        field_to_planes(&img, FieldRect::square(0, 0, cfg.size), &mut planes)?;
        add("planes", t.elapsed());
        done += 1;
    }
    if done == 0 {
        return Err(StageError::NoReadableSample);
    }
    Ok(total.into_iter().map(|(s, t)| (s, t / done as f64)).collect())
}

/// The batches of one epoch, in order, made by worker threads ahead of the consumer.
#[derive(Debug)]
pub struct EpochBatches {
    rx: Receiver<Batch>,
    pending: BTreeMap<usize, Batch>,
    next: usize,
    total: usize,
    workers: Vec<JoinHandle<()>>,
}

impl EpochBatches {
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Iterator for EpochBatches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.total {
            for w in self.workers.drain(..) {
                let _ = w.join();
            }
            return None;
        }
        while !self.pending.contains_key(&self.next) {
            // All senders gone before the batch arrived: a worker died; end the epoch.
            let b = self.rx.recv().ok()?;
            self.pending.insert(b.index, b);
        }
        let b = self.pending.remove(&self.next);
        self.next += 1;
        b
    }
}

/// Starts the workers for `epoch` over `samples`.
pub fn epoch_batches(samples: Arc<Vec<Sample>>, cfg: &LoaderConfig, epoch: u64) -> EpochBatches {
    let order = Arc::new(epoch_order(samples.len(), cfg.seed, epoch, cfg.shuffle));
    let bs = cfg.batch_size.max(1);
    let total = order.len().div_ceil(bs);
    // Batches are claimed in order; the channel bounds how far workers run ahead.
    let (tx, rx) = sync_channel(cfg.prefetch.max(1));
    let claim = Arc::new(AtomicUsize::new(0));
    let workers = (0..cfg.workers.max(1).min(total.max(1)))
        .map(|_| {
            let (tx, claim, order, samples, cfg) =
                (tx.clone(), claim.clone(), order.clone(), samples.clone(), cfg.clone());
            std::thread::spawn(move || {
                let mut reader = Reader { open: HashMap::new(), capacity: cfg.slide_cache };
                loop {
                    let index = claim.fetch_add(1, Ordering::SeqCst);
                    if index >= total {
                        return;
                    }
                    let ids = &order[index * bs..((index + 1) * bs).min(order.len())];
                    if tx.send(make_batch(index, ids, &samples, &cfg, epoch, &mut reader)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    EpochBatches { rx, pending: BTreeMap::new(), next: 0, total, workers }
}

#[cfg(test)]
mod tests;
