//! Errors as one line of text for the people who read them (a screen, a report, a log),
//! whatever style of message each layer writes.

/// `error: cause: cause ...`, the whole chain of `e` on one line. A cause whose text the
/// message already ends with is not said twice (many messages here include their cause).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_said_once() {
        let e = Outer(Middle(std::io::Error::other("disk full")));
        assert_eq!(error_chain(&e), "outer: middle: disk full");
    }
}
