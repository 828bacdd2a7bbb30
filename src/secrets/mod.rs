//! Keeping secrets out of everything mcflow writes: the one mask marker, the redactor that
//! knows every secret value a run has seen, and the analysis of which steps are sensitive.

mod redact;
mod sensitivity;

use base64::Engine as _;

pub use redact::Redactor;
pub use sensitivity::{
    effective_sensitivity, reads_step, referenced_steps, secret_names, secret_templates,
};

/// What replaces a secret value wherever mcflow shows or writes one.
pub const MASK: &str = "***";

/// `text` decoded from standard base64 when it decodes to UTF-8 text (a Secret's `data` value,
/// a kubeconfig inside a link manifest).
pub fn decode_base64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}
