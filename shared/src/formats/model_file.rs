//! The model bundle file: the ONNX bytes, their [`ModelBundleMeta`], reference fields with the
//! outputs the exporting runtime computed (the edge's start-up self-test), and an optional
//! ed25519 signature. Bytes: `"MSCM"`, version (u16 LE), postcard payload, CRC32.
//!
//! Decoding checks the envelope, the metadata (its own version and CRC), that the ONNX bytes
//! hash to what the metadata says, and that every reference field fits the model; a signature
//! is checked against the caller's trusted keys by [`ModelFile::verify_signature`].

use super::bundle::ModelBundleMeta;
use super::envelope::{decode_exact, open_versioned, seal_versioned};
use super::error::invalid;
use super::{FormatError, hex, sha256};
use alloc::format;
use alloc::vec::Vec;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"MSCM";
const VERSION: u16 = 1;
const WHAT: &str = "model bundle";
/// Domain separation: a signature over a bundle cannot be replayed as one over anything else.
const SIGNING_CONTEXT: &[u8] = b"melanoscope-model-bundle-v1";

/// One field (RGB, `input_size` square, row-major) and what the model must answer for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceField {
    pub rgb: Vec<u8>,
    /// Logits as the exporting runtime computed them on this file's ONNX.
    pub logits: Vec<f32>,
    /// Mean of each `features` channel (the pooled feature vector): checks the CAM output too.
    pub feature_means: Vec<f32>,
    /// Largest absolute difference tolerated on the edge (another runtime, other kernels).
    pub tolerance: f32,
}

/// Who signed the bundle and the signature over [`ModelFile::signed_digest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleSignature {
    pub public_key: [u8; 32],
    pub signature: Vec<u8>,
}

/// What a signature check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    /// Signed by the trusted key at this index.
    Trusted(usize),
    /// No signature, and none required.
    Unsigned,
}

/// A decoded, checked bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub meta: ModelBundleMeta,
    pub onnx: Vec<u8>,
    pub references: Vec<ReferenceField>,
    pub signature: Option<BundleSignature>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    meta: Vec<u8>,
    onnx: Vec<u8>,
    references: Vec<ReferenceField>,
    signature: Option<BundleSignature>,
}

impl ModelFile {
    fn check(&self) -> Result<(), FormatError> {
        self.meta.validate()?;
        self.meta.verify_onnx(&self.onnx)?;
        let side = self.meta.input_size as usize;
        let classes = self.meta.classes.len();
        for (i, r) in self.references.iter().enumerate() {
            if r.rgb.len() != 3 * side * side {
                return Err(invalid(
                    WHAT,
                    "references",
                    format!("field {i} has {} bytes; a {side}x{side} RGB field has {}", r.rgb.len(), 3 * side * side),
                ));
            }
            if r.logits.len() != classes {
                return Err(invalid(
                    WHAT,
                    "references",
                    format!("field {i} has {} logits; the model has {classes} classes", r.logits.len()),
                ));
            }
            let finite = r.logits.iter().chain(&r.feature_means).all(|v| v.is_finite());
            if !(finite && r.tolerance.is_finite() && r.tolerance > 0.0) {
                return Err(invalid(WHAT, "references", format!("field {i} has a non-finite value or tolerance")));
            }
        }
        Ok(())
    }

    /// SHA-256 over what a signature covers: the metadata, the ONNX bytes and the reference
    /// fields (everything but the signature).
    pub fn signed_digest(&self) -> Result<[u8; 32], FormatError> {
        let meta = self.meta.encode()?;
        let refs = postcard::to_allocvec(&self.references)
            .map_err(|e| FormatError::Encode { what: WHAT, detail: format!("{e}") })?;
        let mut msg = Vec::with_capacity(SIGNING_CONTEXT.len() + 96);
        msg.extend_from_slice(SIGNING_CONTEXT);
        msg.extend_from_slice(&sha256(&meta));
        msg.extend_from_slice(&sha256(&self.onnx));
        msg.extend_from_slice(&sha256(&refs));
        Ok(sha256(&msg))
    }

    /// Signs the bundle with the 32-byte ed25519 secret `secret` (replacing any signature).
    pub fn sign(&mut self, secret: &[u8; 32]) -> Result<(), FormatError> {
        let key = SigningKey::from_bytes(secret);
        let digest = self.signed_digest()?;
        self.signature = Some(BundleSignature {
            public_key: key.verifying_key().to_bytes(),
            signature: key.sign(&digest).to_bytes().to_vec(),
        });
        Ok(())
    }

    /// Checks the signature against `trusted` public keys. An unsigned bundle passes only when
    /// `required` is false; a signature by an unknown key, or one that does not match the
    /// contents, never passes.
    pub fn verify_signature(&self, trusted: &[[u8; 32]], required: bool) -> Result<SignatureStatus, FormatError> {
        let Some(sig) = &self.signature else {
            return if required {
                Err(invalid(WHAT, "signature", "the bundle is unsigned and the configuration requires a signature"))
            } else {
                Ok(SignatureStatus::Unsigned)
            };
        };
        let Some(index) = trusted.iter().position(|k| *k == sig.public_key) else {
            return Err(invalid(
                WHAT,
                "signature",
                format!("signed by key {} which is not among the {} trusted keys", hex(&sig.public_key), trusted.len()),
            ));
        };
        let key = VerifyingKey::from_bytes(&sig.public_key)
            .map_err(|_| invalid(WHAT, "signature", "the signing key is not a valid ed25519 public key"))?;
        let bytes: [u8; 64] = sig.signature.as_slice().try_into().map_err(|_| {
            invalid(WHAT, "signature", format!("{} bytes; an ed25519 signature has 64", sig.signature.len()))
        })?;
        key.verify(&self.signed_digest()?, &Signature::from_bytes(&bytes)).map_err(|_| {
            invalid(WHAT, "signature", "does not match the contents: the bundle was changed after signing, or forged")
        })?;
        Ok(SignatureStatus::Trusted(index))
    }

    /// Checked, versioned bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.check()?;
        let payload = Payload {
            meta: self.meta.encode()?,
            onnx: self.onnx.clone(),
            references: self.references.clone(),
            signature: self.signature.clone(),
        };
        seal_versioned(WHAT, MAGIC, VERSION, &payload)
    }

    /// Decodes and checks bytes written by [`Self::encode`] (the signature is checked
    /// separately, against the caller's keys).
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let p: Payload = decode_exact(WHAT, open_versioned(WHAT, bytes, MAGIC, VERSION)?)?;
        let file = ModelFile {
            meta: ModelBundleMeta::decode(&p.meta)?,
            onnx: p.onnx,
            references: p.references,
            signature: p.signature,
        };
        file.check()?;
        Ok(file)
    }

    /// The public key of a 32-byte ed25519 secret (for writing a key pair).
    pub fn public_key_of(secret: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(secret).verifying_key().to_bytes()
    }
}

/// Parses a 64-digit hex key (public or secret), naming what is wrong.
pub fn parse_key_hex(text: &str) -> Result<[u8; 32], FormatError> {
    let t = text.trim();
    if t.len() != 64 {
        return Err(invalid("key", "hex", format!("{} characters; an ed25519 key is 64 hex digits", t.len())));
    }
    let mut out = [0u8; 32];
    for (i, pair) in t.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
            _ => return Err(invalid("key", "hex", format!("non-hex digit at position {}", 2 * i))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::bundle::tests::sample;
    use alloc::string::ToString;
    use alloc::vec;

    fn file() -> ModelFile {
        let onnx = b"not really onnx, but hashed".to_vec();
        let mut meta = sample();
        meta.input_size = 16;
        meta.onnx_sha256 = sha256(&onnx);
        let reference = ReferenceField {
            rgb: (0..16 * 16 * 3).map(|i| (i % 251) as u8).collect(),
            logits: vec![0.5, -1.25],
            feature_means: vec![0.1; 8],
            tolerance: 1e-3,
        };
        ModelFile { meta, onnx, references: vec![reference], signature: None }
    }

    const SECRET: [u8; 32] = [7; 32];

    #[test]
    fn round_trips_and_refuses_a_changed_model() {
        let f = file();
        let bytes = f.encode().unwrap();
        assert_eq!(&bytes[..4], b"MSCM");
        assert_eq!(ModelFile::decode(&bytes).unwrap(), f);
        // The ONNX swapped for other bytes (CRC fixed up): the metadata hash refuses it.
        let mut other = f.clone();
        other.onnx = b"a different model".to_vec();
        let payload = Payload {
            meta: f.meta.encode().unwrap(),
            onnx: other.onnx,
            references: f.references.clone(),
            signature: None,
        };
        let forged = seal_versioned(WHAT, MAGIC, VERSION, &payload).unwrap();
        let err = ModelFile::decode(&forged).unwrap_err().to_string();
        assert!(err.contains("onnx_sha256"), "{err}");
        for len in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(ModelFile::decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert!(ModelFile::decode(&v2).is_err());
    }

    #[test]
    fn references_must_fit_the_model() {
        let mut f = file();
        f.references[0].logits.push(0.0);
        assert!(f.encode().unwrap_err().to_string().contains("3 logits; the model has 2 classes"));
        let mut f = file();
        f.references[0].rgb.pop();
        assert!(f.encode().unwrap_err().to_string().contains("references"));
    }

    #[test]
    fn signatures_are_required_trusted_and_bound_to_the_contents() {
        let public = ModelFile::public_key_of(&SECRET);
        let unsigned = file();
        assert_eq!(unsigned.verify_signature(&[public], false).unwrap(), SignatureStatus::Unsigned);
        let err = unsigned.verify_signature(&[public], true).unwrap_err().to_string();
        assert!(err.contains("unsigned"), "{err}");

        let mut signed = file();
        signed.sign(&SECRET).unwrap();
        let back = ModelFile::decode(&signed.encode().unwrap()).unwrap();
        assert_eq!(back.verify_signature(&[[1; 32], public], true).unwrap(), SignatureStatus::Trusted(1));
        let err = back.verify_signature(&[[1; 32]], false).unwrap_err().to_string();
        assert!(err.contains("not among the 1 trusted keys"), "{err}");

        // Any change after signing breaks it: a threshold, a reference output, the model.
        let mut t = back.clone();
        t.meta.decision.threshold = 0.1;
        assert!(t.verify_signature(&[public], true).unwrap_err().to_string().contains("does not match"));
        let mut r = back.clone();
        r.references[0].logits[0] = 9.0;
        assert!(r.verify_signature(&[public], true).is_err());
        let mut sig = back.clone();
        if let Some(s) = sig.signature.as_mut() {
            s.signature.truncate(10);
        }
        assert!(sig.verify_signature(&[public], true).unwrap_err().to_string().contains("64"));
    }

    #[test]
    fn hex_keys_parse_and_errors_say_where() {
        let public = ModelFile::public_key_of(&SECRET);
        assert_eq!(parse_key_hex(&hex(&public)).unwrap(), public);
        assert!(parse_key_hex("abc").unwrap_err().to_string().contains("3 characters"));
        let bad = "z".repeat(64);
        assert!(parse_key_hex(&bad).unwrap_err().to_string().contains("position 0"));
    }
}
