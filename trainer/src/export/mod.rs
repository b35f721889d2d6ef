//! Model export: the trained network as an ONNX file that tract and onnxruntime open.

pub mod onnx;

#[cfg(test)]
mod tests;
