//! Progress of the long host steps (training, evaluation, the export's frame threshold and
//! familiarity statistics, `ood`): one bar style for all. indicatif draws it only when stderr
//! is a terminal, so logs and tests see the steps' own lines, not bar frames.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` units of `unit` (steps, patches, slides, fields), labelled `what`.
pub fn bar(len: u64, what: &str, unit: &str) -> ProgressBar {
    let template = format!("{{msg}} [{{bar:20}}] {{pos}}/{{len}} {unit}, {{elapsed}} (~{{eta}} left)");
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style).with_message(what.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_counts_its_units_under_its_label() {
        let bar = super::bar(7, "evaluate: test patches", "patches");
        bar.inc(3);
        assert_eq!((bar.position(), bar.length()), (3, Some(7)));
        assert_eq!(bar.message(), "evaluate: test patches");
        // A unit with braces would break the template: the default style is used instead.
        let odd = super::bar(2, "x", "{nonsense");
        assert_eq!(odd.length(), Some(2));
    }
}
