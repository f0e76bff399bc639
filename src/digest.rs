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
//! another given the same key. SHA-256 and HMAC are implemented here (FIPS 180-4, RFC 2104)
//! and checked against the NIST and RFC 4231 test vectors, to keep the crate free of
//! cryptography dependencies; a code digest needs no more than that.
//!
//! ```
//! use giftcert::{Code, CodeKey};
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

use serde::{Deserialize, Serialize};

use crate::code::Code;

/// The fewest key bytes accepted: 128 bits, as RFC 2104 advises for HMAC-SHA-256 at least
/// half the output length.
const MIN_KEY_BYTES: usize = 16;
/// SHA-256's block size in bytes.
const BLOCK: usize = 64;

/// The host's secret for [`CodeDigest`]s: at least 16 random bytes, kept outside the database.
///
/// Losing the key makes every stored card unreachable by code (ids still work); changing it
/// means recomputing every digest from codes the host no longer has, so keep it like a
/// database password. It has no serde support and its `Debug` output is redacted, so it cannot
/// end up in a log or a JSON body by accident.
#[derive(Clone)]
pub struct CodeKey {
    hmac: Hmac,
}

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
    /// use giftcert::CodeKey;
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
        Ok(CodeKey {
            hmac: Hmac::new(bytes),
        })
    }

    /// A key from hex text (upper or lower case), as hosts keep secrets in the environment.
    ///
    /// # Errors
    ///
    /// [`CodeKeyError::NotHex`] for anything but pairs of hex digits, and those of
    /// [`CodeKey::new`].
    ///
    /// ```
    /// use giftcert::CodeKey;
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
        CodeDigest(self.hmac.mac(code.expose_secret().as_bytes()))
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
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
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

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            let high = digit(*pair.first()?)?;
            let low = digit(*pair.get(1)?)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// HMAC-SHA-256 (RFC 2104) with the key's inner and outer states computed once.
#[derive(Clone)]
struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    fn new(key: &[u8]) -> Hmac {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut hashed = Sha256::new();
            hashed.update(key);
            block[..32].copy_from_slice(&hashed.finish());
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(&block.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(&block.map(|b| b ^ 0x5c));
        Hmac { inner, outer }
    }

    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(message);
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }
}

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A running SHA-256 (FIPS 180-4).
#[derive(Clone)]
struct Sha256 {
    state: [u32; 8],
    buffer: [u8; BLOCK],
    buffered: usize,
    /// Bytes hashed so far (the padding records it in bits, modulo 2^64 as the standard says).
    length: u64,
}

impl Sha256 {
    fn new() -> Sha256 {
        Sha256 {
            state: H0,
            buffer: [0; BLOCK],
            buffered: 0,
            length: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (BLOCK - self.buffered).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(head);
            self.buffered += take;
            data = rest;
            if self.buffered < BLOCK {
                return;
            }
            compress(&mut self.state, &self.buffer);
            self.buffered = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            let mut copy = [0u8; BLOCK];
            copy.copy_from_slice(block);
            compress(&mut self.state, &copy);
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.length.wrapping_mul(8);
        // 0x80, then zeros up to 56 bytes into a block, then the length in bits.
        let padding = if self.buffered < 56 {
            56 - self.buffered
        } else {
            BLOCK + 56 - self.buffered
        };
        let mut pad = [0u8; BLOCK];
        pad[0] = 0x80;
        self.update(&pad[..padding]);
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// One block of the compression function (FIPS 180-4, 6.2.2).
fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    let mut w = [0u32; 64];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (k, w) in K.iter().zip(w) {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(w);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(data: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(data);
        CodeDigest(h.finish()).to_string()
    }

    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        CodeDigest(Hmac::new(key).mac(data)).to_string()
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
                CodeDigest(h.finish()).to_string(),
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
