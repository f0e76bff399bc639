//! How a store keeps codes at rest: a keyed hash ([`CodeDigest`]) under a host secret
//! ([`CodeKey`]), never the code itself.
//!
//! A gift card code is a bearer secret: whoever types it spends the card. A store that kept
//! codes as text would turn a leaked backup or a read-only SQL injection into spendable money.
//! So a store keeps `HMAC-SHA-256(key, code)` for lookup (and the card's masked hint for
//! display). The key lives outside the database (in the host's secret store or environment),
//! so a leaked table alone cannot be turned back into codes, not even by trying every code a
//! generator could make: without the key there is nothing to compare against.
//!
//! Every store uses this one definition, so a card written by one store can be found by
//! another given the same key. HMAC and SHA-256 come from RustCrypto's `hmac` and `sha2`
//! crates; the key's HMAC state is wiped from memory when the key is dropped (`zeroize`).
//!
//! ```
//! use giftcert::Code;
//! use giftcert_store_support::CodeKey;
//!
//! let key = CodeKey::new(b"a 32-byte secret from the vault!")?;
//! let digest = key.digest(&Code::parse("ABCD-EFGH-JKMN-PQR7")?);
//! assert_eq!(digest.to_string().len(), 64);
//! // The same code under the same key always gives the same digest: that is the lookup.
//! assert_eq!(digest, key.digest(&Code::parse("abcd efgh jkmn pqr7")?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use giftcert::Code;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// The label whose keyed digest is a key's fingerprint: a valid code in its normalised form,
/// so that the fingerprint is the digest [`CodeKey::digest`] gives for it.
const KEY_LABEL: &str = "GIFTCERTSTOREKEYFINGERPRINTV1";

/// The fewest key bytes accepted: 128 bits, as RFC 2104 advises for HMAC-SHA-256 at least
/// half the output length.
const MIN_KEY_BYTES: usize = 16;

/// The host's secret for [`CodeDigest`]s: at least 16 random bytes, kept outside the database.
///
/// Losing the key makes every stored card unreachable by code (ids still work); changing it
/// means recomputing every digest from codes the host no longer has, so keep it like a
/// database password. It has no serde support and its `Debug` output is redacted, so it cannot
/// end up in a log or a JSON body by accident; dropping it wipes its HMAC state from memory.
#[derive(Clone)]
pub struct CodeKey {
    /// HMAC-SHA-256 keyed once: the inner and outer hash states that stand for the key. With
    /// the `zeroize` features of `hmac` and `sha2` these states wipe themselves on drop, and so
    /// does every clone made for one digest.
    hmac: Hmac<Sha256>,
}

/// Every field wipes itself on drop (see the field's comment).
impl ZeroizeOnDrop for CodeKey {}

/// A key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeKeyError {
    /// Fewer bytes than a key needs.
    #[error("code key has {found} bytes, expected at least 16")]
    TooShort {
        /// How many bytes were given.
        found: usize,
    },
    /// Text given as hex that is not hex.
    #[error("code key is not hex: expected an even number of hex digits")]
    NotHex,
}

impl CodeKey {
    /// A key from its bytes.
    ///
    /// # Errors
    ///
    /// [`CodeKeyError::TooShort`] for fewer than 16 bytes.
    ///
    /// ```
    /// use giftcert_store_support::CodeKey;
    ///
    /// assert!(CodeKey::new(&[7; 32]).is_ok());
    /// assert_eq!(
    ///     CodeKey::new(b"short").unwrap_err().to_string(),
    ///     "code key has 5 bytes, expected at least 16"
    /// );
    /// ```
    pub fn new(bytes: &[u8]) -> Result<CodeKey, CodeKeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(CodeKeyError::TooShort { found: bytes.len() });
        }
        CodeKey::keyed(bytes)
    }

    /// HMAC-SHA-256 keyed with `bytes`, whatever their length.
    fn keyed(bytes: &[u8]) -> Result<CodeKey, CodeKeyError> {
        // HMAC takes a key of any length (a long one is hashed first), so this never fails.
        let hmac = Hmac::<Sha256>::new_from_slice(bytes)
            .map_err(|_| CodeKeyError::TooShort { found: bytes.len() })?;
        Ok(CodeKey { hmac })
    }

    /// A key from hex text (upper or lower case), as hosts keep secrets in the environment.
    ///
    /// # Errors
    ///
    /// [`CodeKeyError::NotHex`] for anything but pairs of hex digits, and those of
    /// [`CodeKey::new`].
    ///
    /// ```
    /// use giftcert_store_support::CodeKey;
    ///
    /// assert!(CodeKey::from_hex("000102030405060708090a0b0c0d0e0f").is_ok());
    /// assert_eq!(
    ///     CodeKey::from_hex("xyz").unwrap_err().to_string(),
    ///     "code key is not hex: expected an even number of hex digits"
    /// );
    /// ```
    pub fn from_hex(hex: &str) -> Result<CodeKey, CodeKeyError> {
        let bytes = decode_hex(hex.trim()).ok_or(CodeKeyError::NotHex)?;
        CodeKey::new(&bytes)
    }

    /// The keyed hash a store keeps for `code` (HMAC-SHA-256 of its normalised text).
    #[must_use]
    pub fn digest(&self, code: &Code) -> CodeDigest {
        CodeDigest(self.mac(code.expose_secret().as_bytes()))
    }

    /// The fingerprint a store keeps of the key its codes are hashed with: the key's digest
    /// ([`CodeKey::digest`]) of the fixed label `GIFTCERTSTOREKEYFINGERPRINTV1`, 64 lowercase
    /// hex digits. Every store keeps the same fingerprint, so it tells keys apart and, like
    /// every digest, says nothing of the key.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        CodeDigest(self.mac(KEY_LABEL.as_bytes())).to_string()
    }

    /// HMAC-SHA-256 of `message` under this key.
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.hmac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// Redacted: a key is never printed.
impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

/// The keyed hash of a code, as stores keep it for lookup: 64 lowercase hex digits in text and
/// JSON.
///
/// It is not secret in itself (it cannot be typed at a checkout, and without the
/// [`CodeKey`] it cannot be recomputed from a guessed code), so it derives `Debug` and may be
/// logged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeDigest([u8; 32]);

/// Text that is not a code digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid code digest: expected 64 lowercase hex digits")]
pub struct CodeDigestError;

impl CodeDigest {
    /// A digest from its 32 bytes (as a database keeps them in a binary column).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> CodeDigest {
        CodeDigest(bytes)
    }

    /// Its 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeDigest({self})")
    }
}

impl FromStr for CodeDigest {
    type Err = CodeDigestError;

    /// # Errors
    ///
    /// [`CodeDigestError`] for anything but exactly 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(CodeDigestError);
        }
        decode_hex(s)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .map(CodeDigest)
            .ok_or(CodeDigestError)
    }
}

impl TryFrom<String> for CodeDigest {
    type Error = CodeDigestError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CodeDigest> for String {
    fn from(d: CodeDigest) -> Self {
        d.to_string()
    }
}

/// The bytes of `hex`, in a buffer wiped when dropped (it may hold a key). The buffer is
/// allocated once at its final size, so no copy is left behind by growing it.
fn decode_hex(hex: &str) -> Option<Zeroizing<Vec<u8>>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(hex.len() / 2));
    for pair in hex.as_bytes().chunks_exact(2) {
        let digit = |b: u8| char::from(b).to_digit(16);
        let high = digit(*pair.first()?)?;
        let low = digit(*pair.get(1)?)?;
        bytes.push(u8::try_from(high * 16 + low).ok()?);
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    use sha2::Digest as _;

    /// SHA-256 as the wrapper is built on it (`sha2` with the features this crate selects).
    fn sha256_hex(data: &[u8]) -> String {
        CodeDigest(Sha256::digest(data).into()).to_string()
    }

    /// HMAC-SHA-256 through the wrapper: a key set up as [`CodeKey`] sets it up (of any length,
    /// to reach the RFC's short and long keys), the MAC it computes and the hex it prints.
    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        CodeDigest(CodeKey::keyed(key).unwrap().mac(data)).to_string()
    }

    #[test]
    fn sha256_of_the_empty_message_matches_nist() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sha256_of_abc_matches_nist() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_of_the_448_bit_message_matches_nist() {
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn sha256_of_the_896_bit_message_matches_nist() {
        assert_eq!(
            sha256_hex(
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
                  ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            ),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        );
    }

    #[test]
    fn sha256_of_a_million_a_matches_nist() {
        assert_eq!(
            sha256_hex(&vec![b'a'; 1_000_000]),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    /// Feeding a message in uneven pieces gives the digest of the whole.
    #[test]
    fn sha256_gives_the_same_digest_however_the_message_is_split() {
        let message: Vec<u8> = (0..=255u8).cycle().take(1_000).collect();
        let whole = sha256_hex(&message);
        for piece in [1, 3, 55, 56, 63, 64, 65, 127, 999] {
            let mut h = Sha256::new();
            for chunk in message.chunks(piece) {
                h.update(chunk);
            }
            assert_eq!(
                CodeDigest(h.finalize().into()).to_string(),
                whole,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_1() {
        assert_eq!(
            hmac_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_3() {
        assert_eq!(
            hmac_hex(&[0xaa; 20], &[0xdd; 50]),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        );
    }

    #[test]
    fn hmac_with_a_key_longer_than_a_block_matches_rfc_4231_test_case_6() {
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_with_long_key_and_data_matches_rfc_4231_test_case_7() {
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
            ),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    #[test]
    fn a_code_digest_is_the_hmac_of_the_normalised_code() {
        let key = CodeKey::new(&[0x0b; 20]).unwrap();
        let code = Code::parse("hi there").unwrap();
        assert_eq!(
            key.digest(&code).to_string(),
            hmac_hex(&[0x0b; 20], code.expose_secret().as_bytes())
        );
    }

    #[test]
    fn another_key_gives_another_digest() {
        let code = Code::parse("ABCD-EFGH-JKMN-PQR7").unwrap();
        let a = CodeKey::new(&[1; 16]).unwrap().digest(&code);
        let b = CodeKey::new(&[2; 16]).unwrap().digest(&code);
        assert_ne!(a, b);
    }

    #[test]
    fn keys_shorter_than_16_bytes_are_refused() {
        assert_eq!(
            CodeKey::new(&[0; 15]).unwrap_err(),
            CodeKeyError::TooShort { found: 15 }
        );
        assert_eq!(
            CodeKey::new(&[]).unwrap_err().to_string(),
            "code key has 0 bytes, expected at least 16"
        );
        assert!(CodeKey::new(&[0; 16]).is_ok());
    }

    #[test]
    fn hex_keys_are_read_in_either_case_and_checked() {
        let code = Code::parse("ABCD-EFGH-JKMN-PQR7").unwrap();
        let lower = CodeKey::from_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b").unwrap();
        let upper = CodeKey::from_hex("0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B").unwrap();
        assert_eq!(lower.digest(&code), upper.digest(&code));
        assert_eq!(
            lower.digest(&code),
            CodeKey::new(&[0x0b; 16]).unwrap().digest(&code)
        );
        assert_eq!(CodeKey::from_hex("0g").unwrap_err(), CodeKeyError::NotHex);
        assert_eq!(CodeKey::from_hex("abc").unwrap_err(), CodeKeyError::NotHex);
        assert_eq!(CodeKey::from_hex("é1").unwrap_err(), CodeKeyError::NotHex);
        assert_eq!(
            CodeKey::from_hex("0b0b").unwrap_err(),
            CodeKeyError::TooShort { found: 2 }
        );
    }

    /// The key's HMAC state is made of parts that wipe themselves when dropped: this fails to
    /// compile if the `zeroize` features of `sha2` (the hash states) or `hmac` are turned off.
    #[test]
    fn a_key_is_wiped_when_dropped() {
        fn wiped<T: ZeroizeOnDrop>() {}
        wiped::<<Sha256 as hmac::EagerHash>::Core>();
        wiped::<hmac::digest::CtOutput<Hmac<Sha256>>>();
        wiped::<CodeKey>();
    }

    #[test]
    fn a_key_never_prints_itself() {
        let key = CodeKey::new(b"correct horse battery staple").unwrap();
        assert_eq!(format!("{key:?}"), "CodeKey(<redacted>)");
    }

    #[test]
    fn digests_read_back_what_they_write() {
        let digest = CodeKey::new(&[9; 32])
            .unwrap()
            .digest(&Code::parse("ABCD-EFGH").unwrap());
        let text = digest.to_string();
        assert_eq!(text.len(), 64);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<CodeDigest>().unwrap(), digest);
        assert_eq!(CodeDigest::from_bytes(*digest.as_bytes()), digest);
        assert_eq!(format!("{digest:?}"), format!("CodeDigest({text})"));

        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<CodeDigest>(&json).unwrap(), digest);
    }

    #[test]
    fn digest_text_must_be_64_lowercase_hex_digits() {
        let ok = "ab".repeat(32);
        assert!(ok.parse::<CodeDigest>().is_ok());
        for bad in [
            "",
            "ab",
            &"AB".repeat(32),
            &"ab".repeat(33),
            &"zz".repeat(32),
        ] {
            assert_eq!(bad.parse::<CodeDigest>(), Err(CodeDigestError), "{bad}");
        }
        assert_eq!(
            CodeDigestError.to_string(),
            "invalid code digest: expected 64 lowercase hex digits"
        );
        assert!(serde_json::from_str::<CodeDigest>("\"00\"").is_err());
    }
}
