//! The model bundle file: the ONNX bytes, their [`ModelBundleMeta`], reference fields with the
//! outputs the exporting runtime computed (the edge's start-up self-test), other numeric forms
//! of the same model (e.g. INT8 beside f32, each with its own reference outputs and figures,
//! chosen on the device by `tune`), and an optional ed25519 signature over all of it. Bytes:
//! `"MSCM"`, version (u16 LE), postcard payload, CRC32. Version 2 added the other forms; a
//! bundle of one form is still written as version 1, which edges built before it read.
//!
//! Decoding checks the envelope, the metadata (its own version and CRC), that the ONNX bytes
//! hash to what the metadata says, and that every reference field fits the model; a signature
//! is checked against the caller's trusted keys by [`ModelFile::verify_signature`].

use super::bundle::{ModelBundleMeta, NamedMetric, Quantization};
use super::envelope::{decode_exact, open_any_version, seal_versioned};
use super::error::invalid;
use super::form::Form;
use super::{FormatError, hex, sha256};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"MSCM";
/// The newest version this build writes and reads.
const VERSION: u16 = 2;
/// What a bundle of one form is written as.
const SINGLE_FORM_VERSION: u16 = 1;
const WHAT: &str = "model bundle";
/// Domain separation: a signature over a bundle cannot be replayed as one over anything else.
/// A bundle with other forms is signed under the second context, so that neither stripping
/// its forms nor adding some to a signed one-form bundle keeps a valid signature.
const SIGNING_CONTEXT: &[u8] = b"melanoscope-model-bundle-v1";
const SIGNING_CONTEXT_FORMS: &[u8] = b"melanoscope-model-bundle-v2";
/// f32, f16 and INT8 are the forms there are; room for one more kind.
const MAX_OTHER_FORMS: usize = 3;

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

/// Another numeric form of the bundle's model (the same trained weights exported as, say,
/// INT8 beside the f32 graph), with the reference outputs that form computed and its own
/// figures (its agreement with f32 on the test fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleForm {
    pub quantization: Quantization,
    pub onnx: Vec<u8>,
    /// The bundle's reference fields (the same images) with this form's outputs.
    pub references: Vec<ReferenceField>,
    /// Figures of this form; where a name is also in the metadata's, this form's value holds.
    pub validation: Vec<NamedMetric>,
}

/// `f32, int8`: forms as a list in a message.
fn form_list(forms: &[Form]) -> String {
    forms.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

/// A decoded, checked bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// The metadata of the first form (`meta.quantization`, `meta.onnx_sha256`).
    pub meta: ModelBundleMeta,
    pub onnx: Vec<u8>,
    pub references: Vec<ReferenceField>,
    /// The other forms, none of them of the first form's kind or of each other's.
    pub forms: Vec<BundleForm>,
    pub signature: Option<BundleSignature>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    meta: Vec<u8>,
    onnx: Vec<u8>,
    references: Vec<ReferenceField>,
    signature: Option<BundleSignature>,
}

#[derive(Serialize, Deserialize)]
struct PayloadForms {
    meta: Vec<u8>,
    onnx: Vec<u8>,
    references: Vec<ReferenceField>,
    forms: Vec<BundleForm>,
    signature: Option<BundleSignature>,
}

/// Checks that `references` fit a model of `side` px and `classes` classes; `whose` names the
/// form in the error.
fn check_references(
    references: &[ReferenceField],
    side: usize,
    classes: usize,
    whose: &str,
) -> Result<(), FormatError> {
    for (i, r) in references.iter().enumerate() {
        if r.rgb.len() != 3 * side * side {
            return Err(invalid(
                WHAT,
                "references",
                format!(
                    "{whose}field {i} has {} bytes; a {side}x{side} RGB field has {}",
                    r.rgb.len(),
                    3 * side * side
                ),
            ));
        }
        if r.logits.len() != classes {
            return Err(invalid(
                WHAT,
                "references",
                format!("{whose}field {i} has {} logits; the model has {classes} classes", r.logits.len()),
            ));
        }
        let finite = r.logits.iter().chain(&r.feature_means).all(|v| v.is_finite());
        if !(finite && r.tolerance.is_finite() && r.tolerance > 0.0) {
            return Err(invalid(WHAT, "references", format!("{whose}field {i} has a non-finite value or tolerance")));
        }
    }
    Ok(())
}

fn postcard_sha256<T: Serialize + ?Sized>(value: &T) -> Result<[u8; 32], FormatError> {
    postcard::to_allocvec(value)
        .map(|b| sha256(&b))
        .map_err(|e| FormatError::Encode { what: WHAT, detail: format!("{e}") })
}

impl ModelFile {
    fn check(&self) -> Result<(), FormatError> {
        self.meta.validate()?;
        self.meta.verify_onnx(&self.onnx)?;
        let side = self.meta.input_size as usize;
        let classes = self.meta.classes.len();
        check_references(&self.references, side, classes, "")?;
        if self.forms.len() > MAX_OTHER_FORMS {
            return Err(invalid(
                WHAT,
                "forms",
                format!("{} other forms; expected at most {MAX_OTHER_FORMS}", self.forms.len()),
            ));
        }
        let names = self.forms();
        if let Some(f) = self.meta.form_familiarity.iter().find(|f| !names[1..].contains(&f.form)) {
            return Err(invalid(
                WHAT,
                "form_familiarity",
                format!(
                    "statistics for form {:?}, which the bundle's other forms ({}) are not",
                    f.form.name(),
                    form_list(&names[1..])
                ),
            ));
        }
        for (k, form) in self.forms.iter().enumerate() {
            let name = form.quantization.form();
            // Position k + 1 in `names` is this form; the ones before it must differ.
            if names[..k + 1].contains(&name) {
                return Err(invalid(
                    WHAT,
                    "forms",
                    format!("form {name} appears twice; a bundle holds each form once"),
                ));
            }
            if form.onnx.is_empty() {
                return Err(invalid(WHAT, "forms", format!("form {name} has no ONNX bytes")));
            }
            if form.references.len() != self.references.len() {
                return Err(invalid(
                    WHAT,
                    "forms",
                    format!(
                        "form {name} has {} reference fields; the bundle has {}",
                        form.references.len(),
                        self.references.len()
                    ),
                ));
            }
            if form.references.iter().zip(&self.references).any(|(a, b)| a.rgb != b.rgb) {
                return Err(invalid(WHAT, "forms", format!("form {name}'s reference fields are other images")));
            }
            check_references(&form.references, side, classes, &format!("form {name}: "))?;
            if let Some(m) = form.validation.iter().find(|m| !m.value.is_finite() || m.name.is_empty()) {
                return Err(invalid(WHAT, "forms", format!("form {name}: metric {:?} = {}", m.name, m.value)));
            }
        }
        Ok(())
    }

    /// The forms the bundle holds, the first form first.
    pub fn forms(&self) -> Vec<Form> {
        core::iter::once(self.meta.quantization.form())
            .chain(self.forms.iter().map(|f| f.quantization.form()))
            .collect()
    }

    /// The bundle as one form: `wanted` (`None` for the first), with that form's ONNX, reference
    /// outputs, hash and figures in the metadata, no other forms and no signature (check the
    /// signature before choosing: it covers every form).
    pub fn into_form(mut self, wanted: Option<Form>) -> Result<ModelFile, FormatError> {
        self.signature = None;
        let first = self.meta.quantization.form();
        let form_familiarity = core::mem::take(&mut self.meta.form_familiarity);
        let wanted = match wanted {
            Some(w) if w != first => w,
            _ => {
                self.forms.clear();
                return Ok(self);
            }
        };
        let Some(k) = self.forms.iter().position(|f| f.quantization.form() == wanted) else {
            return Err(self.no_form(wanted));
        };
        let form = self.forms.swap_remove(k);
        self.forms.clear();
        for m in form.validation {
            match self.meta.validation.iter_mut().find(|v| v.name == m.name) {
                Some(v) => v.value = m.value,
                None => self.meta.validation.push(m),
            }
        }
        // The chosen form's own statistics (none: the gate is off for it).
        self.meta.familiarity =
            form_familiarity.into_iter().find(|f| f.form == form.quantization.form()).map(|f| f.stats);
        self.meta.quantization = form.quantization;
        self.meta.onnx_sha256 = sha256(&form.onnx);
        self.onnx = form.onnx;
        self.references = form.references;
        Ok(self)
    }

    /// [`Self::into_form`] on a copy of only what that form needs.
    pub fn form(&self, wanted: Option<Form>) -> Result<ModelFile, FormatError> {
        let first = self.meta.quantization.form();
        let wanted = wanted.unwrap_or(first);
        let (onnx, references, forms) = if wanted == first {
            (self.onnx.clone(), self.references.clone(), Vec::new())
        } else {
            let form =
                self.forms.iter().find(|f| f.quantization.form() == wanted).ok_or_else(|| self.no_form(wanted))?;
            (Vec::new(), Vec::new(), alloc::vec![form.clone()])
        };
        ModelFile { meta: self.meta.clone(), onnx, references, forms, signature: None }.into_form(Some(wanted))
    }

    fn no_form(&self, wanted: Form) -> FormatError {
        invalid(
            WHAT,
            "forms",
            format!("no form {:?} in this bundle; it holds {}", wanted.name(), form_list(&self.forms())),
        )
    }

    /// SHA-256 over what a signature covers: the metadata, the ONNX bytes, the reference
    /// fields and every other form (everything but the signature).
    pub fn signed_digest(&self) -> Result<[u8; 32], FormatError> {
        let meta = self.meta.encode()?;
        let context = if self.forms.is_empty() { SIGNING_CONTEXT } else { SIGNING_CONTEXT_FORMS };
        let mut msg = Vec::with_capacity(context.len() + 96 + 128 * self.forms.len());
        msg.extend_from_slice(context);
        msg.extend_from_slice(&sha256(&meta));
        msg.extend_from_slice(&sha256(&self.onnx));
        msg.extend_from_slice(&postcard_sha256(&self.references)?);
        // Each form's parts hashed apart, so that no copy of its ONNX bytes is made.
        for form in &self.forms {
            msg.extend_from_slice(&postcard_sha256(&form.quantization)?);
            msg.extend_from_slice(&sha256(&form.onnx));
            msg.extend_from_slice(&postcard_sha256(&form.references)?);
            msg.extend_from_slice(&postcard_sha256(&form.validation)?);
        }
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
            let signer = hex(&sig.public_key);
            let why = if trusted.is_empty() {
                format!(
                    "signed by key {signer}, and no trusted keys are installed: list the signer's public key file \
                     (`melanoscope-train keygen` wrote it beside the secret key) in model.trusted_keys of the site \
                     file (or --trusted-keys)"
                )
            } else {
                format!(
                    "signed by key {signer} which is not among the {} trusted keys (model.trusted_keys, or \
                     --trusted-keys): add the signer's public key file if this signer is trusted",
                    trusted.len()
                )
            };
            return Err(invalid(WHAT, "signature", why));
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

    /// Checked, versioned bytes: version 1 for one form, 2 with other forms.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.check()?;
        let (meta, onnx, references, signature) =
            (self.meta.encode()?, self.onnx.clone(), self.references.clone(), self.signature.clone());
        if self.forms.is_empty() {
            seal_versioned(WHAT, MAGIC, SINGLE_FORM_VERSION, &Payload { meta, onnx, references, signature })
        } else {
            let forms = self.forms.clone();
            seal_versioned(WHAT, MAGIC, VERSION, &PayloadForms { meta, onnx, references, forms, signature })
        }
    }

    /// Decodes and checks bytes written by [`Self::encode`] (the signature is checked
    /// separately, against the caller's keys).
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (version, payload) = open_any_version(WHAT, bytes, MAGIC, SINGLE_FORM_VERSION..=VERSION)?;
        let p = if version == SINGLE_FORM_VERSION {
            let p: Payload = decode_exact(WHAT, payload)?;
            PayloadForms {
                meta: p.meta,
                onnx: p.onnx,
                references: p.references,
                forms: Vec::new(),
                signature: p.signature,
            }
        } else {
            let p: PayloadForms = decode_exact(WHAT, payload)?;
            if p.forms.is_empty() {
                // One encoding per bundle: a one-form bundle is version 1.
                return Err(invalid(WHAT, "forms", "a version 2 bundle with no other form; expected version 1"));
            }
            p
        };
        let file = ModelFile {
            meta: ModelBundleMeta::decode(&p.meta)?,
            onnx: p.onnx,
            references: p.references,
            forms: p.forms,
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
        ModelFile { meta, onnx, references: vec![reference], forms: Vec::new(), signature: None }
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
        let forged = seal_versioned(WHAT, MAGIC, SINGLE_FORM_VERSION, &payload).unwrap();
        let err = ModelFile::decode(&forged).unwrap_err().to_string();
        assert!(err.contains("onnx_sha256"), "{err}");
        for len in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(ModelFile::decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut v3 = bytes.clone();
        v3[4] = 3;
        assert!(ModelFile::decode(&v3).is_err());
    }

    fn int8_form(f: &ModelFile) -> BundleForm {
        let mut references = f.references.clone();
        references[0].logits = vec![0.25, -1.0];
        BundleForm {
            quantization: Quantization::Int8 { calibration: "percentile-99.99".into(), samples: 32 },
            onnx: b"the int8 graph".to_vec(),
            references,
            validation: vec![NamedMetric { name: "agreement_with_f32".into(), value: 0.95 }],
        }
    }

    fn two_forms() -> ModelFile {
        let mut f = file();
        f.meta.quantization = Quantization::F32;
        f.meta.validation.push(NamedMetric { name: "agreement_with_f32".into(), value: 1.0 });
        f.forms.push(int8_form(&f));
        f
    }

    /// Each form carries its own familiarity statistics; choosing a form puts its own in the
    /// metadata (none: the gate off for it); statistics for a form the bundle lacks are refused.
    #[test]
    fn a_chosen_form_brings_its_own_familiarity_statistics() {
        use crate::formats::bundle::FormFamiliarity;
        let first = crate::formats::familiarity::tests::stats();
        let int8 = crate::formats::Familiarity { threshold: 9.0, ..first.clone() };
        let mut f = two_forms();
        f.meta.familiarity = Some(first.clone());
        f.meta.form_familiarity = alloc::vec![FormFamiliarity { form: Form::Int8, stats: int8.clone() }];
        let back = ModelFile::decode(&f.encode().unwrap()).unwrap();
        assert_eq!(back.form(Some(Form::Int8)).unwrap().meta.familiarity, Some(int8));
        let f32 = back.form(None).unwrap();
        assert_eq!((f32.meta.familiarity, f32.meta.form_familiarity.len()), (Some(first), 0));
        let mut odd = back.clone();
        odd.meta.form_familiarity[0].form = Form::F16;
        let e = odd.encode().unwrap_err().to_string();
        assert!(e.contains("form_familiarity") && e.contains("\"f16\""), "{e}");
        let mut none = back;
        none.meta.form_familiarity.clear();
        assert_eq!(none.form(Some(Form::Int8)).unwrap().meta.familiarity, None);
    }

    #[test]
    fn other_forms_round_trip_as_version_2_and_one_form_stays_version_1() {
        let one = file().encode().unwrap();
        assert_eq!(u16::from_le_bytes([one[4], one[5]]), 1);
        let f = two_forms();
        let bytes = f.encode().unwrap();
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 2);
        let back = ModelFile::decode(&bytes).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.forms(), [Form::F32, Form::Int8]);

        // Choosing a form: its graph, hash, reference outputs and figures; nothing else.
        let int8 = back.form(Some(Form::Int8)).unwrap();
        assert_eq!(int8, back.clone().into_form(Some(Form::Int8)).unwrap());
        assert_eq!(int8.onnx, b"the int8 graph");
        assert_eq!(int8.meta.onnx_sha256, sha256(b"the int8 graph"));
        assert_eq!(int8.meta.quantization.form(), Form::Int8);
        assert_eq!(int8.references[0].logits, [0.25, -1.0]);
        let agreement = int8.meta.validation.iter().filter(|m| m.name == "agreement_with_f32").collect::<Vec<_>>();
        assert_eq!(agreement.len(), 1);
        assert_eq!(agreement[0].value, 0.95);
        assert!(int8.forms.is_empty() && int8.signature.is_none());
        int8.encode().unwrap(); // a consistent one-form bundle
        let first = back.form(None).unwrap();
        assert_eq!((first.onnx.as_slice(), first.meta.quantization.form()), (back.onnx.as_slice(), Form::F32));
        assert_eq!(back.form(Some(Form::F32)).unwrap(), first);
        let err = back.form(Some(Form::F16)).unwrap_err().to_string();
        assert!(err.contains("no form \"f16\"") && err.contains("f32, int8"), "{err}");

        // A version 2 payload with no other form is not how a one-form bundle is written.
        let mut g = file();
        g.forms.clear();
        let payload = PayloadForms {
            meta: g.meta.encode().unwrap(),
            onnx: g.onnx.clone(),
            references: g.references.clone(),
            forms: Vec::new(),
            signature: None,
        };
        let odd = seal_versioned(WHAT, MAGIC, VERSION, &payload).unwrap();
        assert!(ModelFile::decode(&odd).unwrap_err().to_string().contains("expected version 1"));
    }

    #[test]
    fn other_forms_must_fit_and_differ() {
        let mut f = two_forms();
        f.forms.push(f.forms[0].clone());
        assert!(f.encode().unwrap_err().to_string().contains("form int8 appears twice"));
        let mut f = two_forms();
        f.forms[0].quantization = Quantization::F32;
        assert!(f.encode().unwrap_err().to_string().contains("form f32 appears twice"));
        let mut f = two_forms();
        f.forms[0].references[0].logits.push(1.0);
        let err = f.encode().unwrap_err().to_string();
        assert!(err.contains("form int8: field 0 has 3 logits"), "{err}");
        let mut f = two_forms();
        f.forms[0].references.clear();
        assert!(f.encode().unwrap_err().to_string().contains("0 reference fields; the bundle has 1"));
        let mut f = two_forms();
        f.forms[0].references[0].rgb[0] ^= 1;
        assert!(f.encode().unwrap_err().to_string().contains("other images"));
        let mut f = two_forms();
        f.forms[0].onnx.clear();
        assert!(f.encode().unwrap_err().to_string().contains("no ONNX bytes"));
        let mut f = two_forms();
        f.forms[0].validation[0].value = f64::NAN;
        assert!(f.encode().unwrap_err().to_string().contains("agreement_with_f32"));
        let mut f = two_forms();
        for q in [Quantization::F16, Quantization::F16, Quantization::F16] {
            let mut extra = f.forms[0].clone();
            extra.quantization = q;
            f.forms.push(extra);
        }
        assert!(f.encode().unwrap_err().to_string().contains("expected at most 3"));
    }

    #[test]
    fn a_signature_covers_every_form() {
        let public = ModelFile::public_key_of(&SECRET);
        let mut signed = two_forms();
        signed.sign(&SECRET).unwrap();
        let back = ModelFile::decode(&signed.encode().unwrap()).unwrap();
        assert_eq!(back.verify_signature(&[public], true).unwrap(), SignatureStatus::Trusted(0));
        let changes: [fn(&mut ModelFile); 5] = [
            |f| f.forms[0].onnx.push(0),
            |f| f.forms[0].references[0].tolerance = 10.0,
            |f| f.forms[0].validation[0].value = 1.0,
            |f| f.forms[0].quantization = Quantization::F16,
            // Stripping the other forms must not leave a valid one-form bundle.
            |f| f.forms.clear(),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut t = back.clone();
            change(&mut t);
            assert!(t.verify_signature(&[public], true).is_err(), "change {i} kept the signature valid");
        }
        // Nor does adding a form to a signed one-form bundle.
        let mut one = file();
        one.sign(&SECRET).unwrap();
        let form = int8_form(&one);
        one.forms.push(form);
        assert!(one.verify_signature(&[public], true).is_err());
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
        assert!(err.contains("not among the 1 trusted keys") && err.contains("model.trusted_keys"), "{err}");
        // No keys at all on the device: the setting to fill is named (it was only "not among
        // the 0 trusted keys").
        let err = back.verify_signature(&[], false).unwrap_err().to_string();
        assert!(err.contains("no trusted keys are installed") && err.contains("model.trusted_keys"), "{err}");
        assert!(err.contains(&hex(&public)), "the signer is named: {err}");

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
