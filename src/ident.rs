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

/// Declares a validated text newtype: `pub struct $name(Arc<str>)`, cheap to clone, with
/// `new` (running the check block, which returns early with the type's error), `as_str`,
/// `Display` (the text), `Debug` (`Name("text")`), `FromStr`, `TryFrom<String>`,
/// `TryFrom<&str>`, `AsRef<str>`, `Borrow<str>` (a map keyed by one is searched by text),
/// `From<$name> for String`, and serde through the check.
///
/// The identifiers (`CertificateId`, `Sku`, `OrderId`, `Reference`, `IdempotencyKey`) and the
/// buyer's texts (`EmailAddress`, `GiftMessage`) differ only in their rules and their error
/// type, so those are all each declaration writes.
macro_rules! text_newtype {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        error: $err:ty;
        $(#[$new_meta:meta])*
        fn new($text:ident) $check:block
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(::std::sync::Arc<str>);

        impl $name {
            $(#[$new_meta])*
            pub fn new($text: &str) -> Result<$name, $err> {
                $check
                Ok($name(::std::sync::Arc::from($text)))
            }

            /// The text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, shared with this value rather than copied.
            #[allow(dead_code)]
            pub(crate) fn shared(&self) -> ::std::sync::Arc<str> {
                ::std::sync::Arc::clone(&self.0)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $err;

            fn from_str(text: &str) -> Result<$name, $err> {
                $name::new(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $err;

            fn try_from(text: &str) -> Result<$name, $err> {
                $name::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $err;

            fn try_from(text: String) -> Result<$name, $err> {
                $name::new(&text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash, Eq and Ord are derived from the text alone, so they agree with `str`'s.
        impl ::std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.as_ref().to_owned()
            }
        }
    };
}

pub(crate) use text_newtype;

/// Declares an id type for one role a host's reference plays (a checkout, a guard's client):
/// a [`text_newtype!`] with a [`Reference`](crate::card::Reference)'s rules and error, and
/// `reference()` for the ledger, which names any of them as a reference. Two roles never
/// convert into each other, so one passed for another does not compile.
macro_rules! reference_role {
    ($(#[$meta:meta])* pub struct $name:ident;) => {
        $crate::ident::text_newtype! {
            $(#[$meta])*
            pub struct $name;
            error: $crate::card::ReferenceError;
            /// Checks and wraps the id: a reference's rules (1 to 128 characters, no control
            /// characters).
            ///
            /// # Errors
            ///
            /// [`ReferenceError`](crate::card::ReferenceError) when `text` is empty, longer
            /// than 128 characters, or holds a control character.
            fn new(text) {
                $crate::card::check_reference(text)?;
            }
        }

        impl $name {
            /// The id as the ledger names it, a [`Reference`](crate::card::Reference) sharing
            /// its text.
            #[must_use]
            pub fn reference(&self) -> $crate::card::Reference {
                $crate::card::Reference::from_checked(self.shared())
            }
        }
    };
}

pub(crate) use reference_role;
