//! The command-line front of the slide commands (`patch`, `import-patches`, `split`, `merge
//! patches`), shared by `melanoscope-slides` (CPU nodes, no libtorch) and `melanoscope-train`,
//! so both spell every option the same way. Binaries only: errors are `anyhow` here.

pub mod merge;
pub mod patch;
pub mod patch_sets;
