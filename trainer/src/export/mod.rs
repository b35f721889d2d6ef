//! Model export: the trained network as an ONNX file that tract and onnxruntime open.

pub mod bundle;
pub mod fields;
pub mod onnx;
pub mod quant;

#[cfg(test)]
mod tests;
