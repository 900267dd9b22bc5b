//! Full error text for recordings.
//!
//! `tokio_postgres::Error` displays only its kind ("db error", "error
//! connecting to server"); the useful part ("ERROR: cannot execute INSERT in
//! a read-only transaction", "Connection refused") is in its source chain.
//! Recordings must carry the whole story, so errors are flattened here.

use std::error::Error;

/// `err` and all its sources joined by `": "`, skipping a source whose text
/// the previous message already contains.
pub(crate) fn describe(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped: inner")]
    struct Repeating(#[source] Inner);

    #[test]
    fn joins_the_source_chain() {
        assert_eq!(describe(&Outer(Inner)), "outer: inner");
    }

    #[test]
    fn does_not_repeat_a_source_already_shown() {
        assert_eq!(describe(&Repeating(Inner)), "wrapped: inner");
    }
}
