//! The binary's settings, from environment variables.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `GIFTCERT_ADDR` | the address to listen on | `127.0.0.1:3000` |
//! | `GIFTCERT_SQLITE_PATH` | the SQLite file | `giftcert-axum-shop.db` in the temp dir |
//! | `GIFTCERT_CODE_KEY` | the key codes are hashed with, as hex (at least 16 bytes) | a fixed development key |
//! | `GIFTCERT_POSTGRES_URL` | a PostgreSQL store instead of SQLite | unset |

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use giftcert_sqlite::CodeKey;

/// The address the shop listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The development key used when `GIFTCERT_CODE_KEY` is unset. It is public, so codes hashed
/// with it protect nothing: never use it with real cards.
const DEVELOPMENT_KEY: &[u8] = b"giftcert-axum-shop development key: not a secret";

/// Where the cards are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// The embedded SQLite store, in this file.
    Sqlite(PathBuf),
    /// PostgreSQL (`GIFTCERT_POSTGRES_URL`); the URL is not kept, as it may hold a password.
    Postgres,
}

/// The binary's settings.
#[derive(Debug)]
pub struct Config {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// Where the cards are kept.
    pub storage: Storage,
    /// The key codes are hashed with in the store.
    pub code_key: CodeKey,
    /// Whether [`Config::code_key`] is the public development key.
    pub development_key: bool,
}

/// A setting that cannot be used (its value is not shown: it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is invalid: {}", self.variable, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The settings from the process environment.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from `lookup` (a variable's value, if set).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `GIFTCERT_ADDR` is not a socket address, or `GIFTCERT_CODE_KEY`
    /// is not hex for at least 16 bytes.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let addr = set("GIFTCERT_ADDR")
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
            .trim()
            .parse()
            .map_err(|e: std::net::AddrParseError| ConfigError {
                variable: "GIFTCERT_ADDR",
                reason: e.to_string(),
            })?;
        let storage = if set("GIFTCERT_POSTGRES_URL").is_some() {
            Storage::Postgres
        } else {
            Storage::Sqlite(set("GIFTCERT_SQLITE_PATH").map_or_else(
                || std::env::temp_dir().join("giftcert-axum-shop.db"),
                PathBuf::from,
            ))
        };
        let (code_key, development_key) = match set("GIFTCERT_CODE_KEY") {
            Some(hex) => (
                CodeKey::from_hex(hex.trim()).map_err(|e| ConfigError {
                    variable: "GIFTCERT_CODE_KEY",
                    reason: e.to_string(),
                })?,
                false,
            ),
            None => (
                CodeKey::new(DEVELOPMENT_KEY).map_err(|e| ConfigError {
                    variable: "GIFTCERT_CODE_KEY",
                    reason: e.to_string(),
                })?,
                true,
            ),
        };
        Ok(Config {
            addr,
            storage,
            code_key,
            development_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_loopback_sqlite_in_temp_and_the_development_key() {
        let c = config(&[]).map_err(|e| e.to_string());
        let c = c.as_ref().ok();
        assert_eq!(c.map(|c| c.addr.to_string()), Some(DEFAULT_ADDR.to_owned()));
        assert_eq!(
            c.map(|c| c.storage.clone()),
            Some(Storage::Sqlite(
                std::env::temp_dir().join("giftcert-axum-shop.db")
            ))
        );
        assert_eq!(c.map(|c| c.development_key), Some(true));
    }

    #[test]
    fn postgres_url_wins_and_a_hex_key_is_used() {
        let c = config(&[
            ("GIFTCERT_POSTGRES_URL", "postgres://u:secret@localhost/db"),
            ("GIFTCERT_CODE_KEY", "00112233445566778899aabbccddeeff"),
            ("GIFTCERT_ADDR", "127.0.0.1:0"),
        ]);
        let c = c.as_ref().ok();
        assert_eq!(c.map(|c| c.storage.clone()), Some(Storage::Postgres));
        assert_eq!(c.map(|c| c.development_key), Some(false));
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        let err = config(&[("GIFTCERT_CODE_KEY", "not-hex-at-all-zzzz")]).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("GIFTCERT_CODE_KEY is invalid"),
            "{message}"
        );
        assert!(!message.contains("zzzz"));
        assert!(config(&[("GIFTCERT_ADDR", "nowhere")]).is_err());
    }
}
