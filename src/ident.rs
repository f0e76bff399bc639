//! The one shape of the identifiers a host picks: certificate ids, order ids and payment
//! method ids are 1 to 64 characters from `A-Z a-z 0-9 - _ .`.

/// The longest identifier accepted.
pub(crate) const MAX_IDENTIFIER_LEN: usize = 64;

/// Why `id` is not an identifier, or `None` when it is one.
pub(crate) fn identifier_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id.len() > MAX_IDENTIFIER_LEN {
        Some("it is longer than 64 characters")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    }
}

/// At most [`MAX_IDENTIFIER_LEN`] characters of a refused identifier, for its error message.
pub(crate) fn shown(id: &str) -> String {
    id.chars().take(MAX_IDENTIFIER_LEN).collect()
}
