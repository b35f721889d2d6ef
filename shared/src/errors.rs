//! Errors as one line of text for the people who read them (a screen, a report, a log),
//! whatever style of message each layer writes.

/// `error: cause: cause ...`, the whole chain of `e` on one line. Messages here do not repeat
/// their source; a cause whose text a message from another library already ends with is
/// still not said twice.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !text.ends_with(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}

/// Shows an error with its whole chain ([`error_chain`]) where a `Display` is wanted: in log
/// fields (`error = %Chain(&e)`) and messages.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&error_chain(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_said_once() {
        let e = Outer(Middle(std::io::Error::other("disk full")));
        assert_eq!(error_chain(&e), "outer: middle: disk full");
    }
}
