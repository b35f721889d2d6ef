//! `merge experiment`: the shards of an `experiment --shard K/N` run put back together, with the
//! checks and helpers of `melanoscope_slides::merge` (which merges patch shards).

pub mod experiments;
