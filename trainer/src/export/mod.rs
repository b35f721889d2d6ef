//! Model export: the trained network as an ONNX file that tract and onnxruntime open, INT8
//! calibration and agreement, and the signed bundle the edge screens with ([`run::run`]).

pub mod bench_report;
pub mod bundle;
pub mod familiarity;
pub mod fields;
pub mod frames;
pub mod onnx;
pub mod quant;
pub mod run;

#[cfg(test)]
mod tests;
