//! The binary's settings, from environment variables.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `GIFTCERT_ADDR` | the address to listen on | `127.0.0.1:3000` |
//! | `GIFTCERT_SQLITE_PATH` | the SQLite file, created readable by its owner only | `giftcert-axum-shop/shop.db` in the temp dir |
//! | `GIFTCERT_CODE_KEY` | the key codes are hashed with, as hex (at least 16 bytes) | a fixed development key, on loopback only |
//! | `GIFTCERT_POSTGRES_URL` | a PostgreSQL store instead of SQLite | unset |
//! | `GIFTCERT_RATE_LIMIT` | requests a second each client may send (twice that at once); `0` for no limit | `100` |
//! | `GIFTCERT_UPKEEP_SECONDS` | how often due cards are swept and old records pruned; `0` for never | `60` |
//! | `GIFTCERT_TRUSTED_PROXIES` | proxies trusted to append `X-Forwarded-For` (addresses or networks, commas between) | none: the client is the TCP peer |
//! | `GIFTCERT_POSTGRES_CA_FILE` | a PEM file of the CA that signed the database's certificate, trusted instead of Mozilla's roots | unset: Mozilla's roots |
//! | `GIFTCERT_POSTGRES_CLIENT_CERT_FILE`, `GIFTCERT_POSTGRES_CLIENT_KEY_FILE` | a client certificate and its private key (PEM) for a database that wants one; both, with the CA file | unset: none |
//!
//! The files are read when the settings are, so a missing file or one that holds no PEM
//! certificate (or key) stops the binary before it starts, naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use giftcert_postgres::{ConnectError, PemText, Tls};
use giftcert_sqlite::CodeKey;
use zeroize::Zeroizing;

/// The PEM file of the CA that signed the PostgreSQL server's certificate.
const CA_FILE: &str = "GIFTCERT_POSTGRES_CA_FILE";
/// The PEM file of the client certificate to show a PostgreSQL server that wants one.
const CLIENT_CERT_FILE: &str = "GIFTCERT_POSTGRES_CLIENT_CERT_FILE";
/// The PEM file of that certificate's private key.
const CLIENT_KEY_FILE: &str = "GIFTCERT_POSTGRES_CLIENT_KEY_FILE";

/// The address the shop listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Requests a second each client may send by default.
pub const DEFAULT_RATE_LIMIT: u32 = 100;

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
    /// How the PostgreSQL store protects its connections: TLS verified against Mozilla's
    /// roots ([`Tls::default`]), or against the CA in `GIFTCERT_POSTGRES_CA_FILE`, showing the
    /// client certificate in `GIFTCERT_POSTGRES_CLIENT_CERT_FILE` when it is set. Only
    /// [`Storage::Postgres`] uses it.
    pub postgres_tls: Tls,
    /// Whether the host brings the PostgreSQL schema up to date when it starts
    /// (`GIFTCERT_POSTGRES_MIGRATE`, `on` by default, for development), or, with `off`, only
    /// checks it and serves as a role that owns nothing, the schema migrated apart by an owner
    /// role (`cargo run -p giftcert-postgres --example migrate`).
    pub postgres_migrate: bool,
    /// The PostgreSQL schema the store keeps its tables in (`GIFTCERT_POSTGRES_SCHEMA`), or
    /// the connection's default schema when unset.
    pub postgres_schema: Option<String>,
    /// The proxies trusted to say who the client is (`GIFTCERT_TRUSTED_PROXIES`: addresses
    /// or networks, commas between); none by default, and the client is the TCP peer.
    pub trusted_proxies: crate::edge::TrustedProxies,
    /// How often the host sweeps due cards and prunes old records (`GIFTCERT_UPKEEP_SECONDS`,
    /// 60 by default; `0` turns it off, for a host whose upkeep runs elsewhere).
    pub upkeep_every: Option<std::time::Duration>,
    /// Requests a second each client may send (`GIFTCERT_RATE_LIMIT`, 100 by default, twice
    /// that at once; `0` for no limit).
    pub rate_limit: u32,
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
    /// [`ConfigError`] when `GIFTCERT_ADDR` is not a socket address, `GIFTCERT_CODE_KEY` is
    /// not hex for at least 16 bytes, or the PostgreSQL TLS files are set without
    /// `GIFTCERT_POSTGRES_URL`, cannot be read, hold no PEM certificate (or key), or are set
    /// only in part (a client certificate needs its key and the CA file), or
    /// `GIFTCERT_POSTGRES_MIGRATE` is neither `on` nor `off`, or `GIFTCERT_CODE_KEY` is unset
    /// while `GIFTCERT_ADDR` is not a loopback address.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let addr: SocketAddr = set("GIFTCERT_ADDR")
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
                || {
                    std::env::temp_dir()
                        .join("giftcert-axum-shop")
                        .join("shop.db")
                },
                PathBuf::from,
            ))
        };
        let (code_key, development_key) = match set("GIFTCERT_CODE_KEY") {
            Some(hex) => {
                // The key's text is wiped when read, whether it parses or not.
                let hex = Zeroizing::new(hex);
                let key = CodeKey::from_hex(hex.trim()).map_err(|e| ConfigError {
                    variable: "GIFTCERT_CODE_KEY",
                    reason: e.to_string(),
                })?;
                (key, false)
            }
            None => (
                CodeKey::new(DEVELOPMENT_KEY).map_err(|e| ConfigError {
                    variable: "GIFTCERT_CODE_KEY",
                    reason: e.to_string(),
                })?,
                true,
            ),
        };
        if development_key && !addr.ip().is_loopback() {
            return Err(ConfigError {
                variable: "GIFTCERT_CODE_KEY",
                reason: format!(
                    "it must be set to listen on {addr}: without it codes are hashed with the \
                     public development key, which only a host on loopback may use"
                ),
            });
        }
        let postgres_tls = postgres_tls(&set, storage == Storage::Postgres)?;
        let postgres_migrate = match set("GIFTCERT_POSTGRES_MIGRATE").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError {
                    variable: "GIFTCERT_POSTGRES_MIGRATE",
                    reason: "expected on or off".to_owned(),
                });
            }
        };
        let postgres_schema = set("GIFTCERT_POSTGRES_SCHEMA").map(|s| s.trim().to_owned());
        let trusted_proxies = match set("GIFTCERT_TRUSTED_PROXIES") {
            Some(list) => {
                crate::edge::TrustedProxies::parse(&list).map_err(|reason| ConfigError {
                    variable: "GIFTCERT_TRUSTED_PROXIES",
                    reason,
                })?
            }
            None => crate::edge::TrustedProxies::none(),
        };
        let upkeep_every = match set("GIFTCERT_UPKEEP_SECONDS") {
            None => Some(std::time::Duration::from_secs(60)),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(0) => None,
                Ok(seconds) => Some(std::time::Duration::from_secs(u64::from(seconds))),
                Err(_) => {
                    return Err(ConfigError {
                        variable: "GIFTCERT_UPKEEP_SECONDS",
                        reason: "expected a whole number of seconds".to_owned(),
                    });
                }
            },
        };
        let rate_limit = match set("GIFTCERT_RATE_LIMIT") {
            None => DEFAULT_RATE_LIMIT,
            Some(text) => text.trim().parse::<u32>().map_err(|_| ConfigError {
                variable: "GIFTCERT_RATE_LIMIT",
                reason: "expected a whole number of requests a second".to_owned(),
            })?,
        };
        Ok(Config {
            addr,
            storage,
            code_key,
            development_key,
            postgres_tls,
            postgres_migrate,
            postgres_schema,
            trusted_proxies,
            upkeep_every,
            rate_limit,
        })
    }
}

/// Makes ready the SQLite file at `path` so that only its owner may read it: its folder is
/// created (mode 0700 on Unix) when missing, and the file (mode 0600) too; an existing file's
/// mode is narrowed to 0600. SQLite then opens it as it is.
///
/// # Errors
///
/// When the folder or the file cannot be created, or the mode set.
pub fn prepare_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(folder) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(folder)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(file);
    Ok(())
}

/// The [`Tls`] that `GIFTCERT_POSTGRES_CA_FILE` and the client certificate files ask for
/// (`set` reads a variable that is set and not blank).
fn postgres_tls(set: &impl Fn(&str) -> Option<String>, postgres: bool) -> Result<Tls, ConfigError> {
    let (ca, cert, key) = (set(CA_FILE), set(CLIENT_CERT_FILE), set(CLIENT_KEY_FILE));
    let first = [
        (CA_FILE, &ca),
        (CLIENT_CERT_FILE, &cert),
        (CLIENT_KEY_FILE, &key),
    ]
    .into_iter()
    .find_map(|(name, value)| value.as_ref().map(|_| name));
    let Some(first) = first else {
        return Ok(Tls::default());
    };
    if !postgres {
        return Err(ConfigError {
            variable: first,
            reason: "set, but GIFTCERT_POSTGRES_URL is not (the SQLite store has no TLS)"
                .to_owned(),
        });
    }
    let needs = |variable: &'static str, why: &str| ConfigError {
        variable,
        reason: format!("unset, but {why}"),
    };
    let ca = ca
        .ok_or_else(|| needs(CA_FILE, "a client certificate needs the server's CA too"))
        .and_then(|path| read(CA_FILE, &path))?;
    let tls = match (cert, key) {
        (None, None) => Tls::with_root_pem(&ca),
        (Some(cert), Some(key)) => Tls::with_client_cert(
            &ca,
            &read(CLIENT_CERT_FILE, &cert)?,
            &read(CLIENT_KEY_FILE, &key)?,
        ),
        (Some(_), None) => {
            return Err(needs(
                CLIENT_KEY_FILE,
                "GIFTCERT_POSTGRES_CLIENT_CERT_FILE is set and needs its key",
            ));
        }
        (None, Some(_)) => {
            return Err(needs(
                CLIENT_CERT_FILE,
                "GIFTCERT_POSTGRES_CLIENT_KEY_FILE is set and needs its certificate",
            ));
        }
    };
    tls.map_err(|e| match e {
        ConnectError::Pem { text, reason } => ConfigError {
            variable: match text {
                PemText::ClientCert => CLIENT_CERT_FILE,
                PemText::ClientKey => CLIENT_KEY_FILE,
                _ => CA_FILE,
            },
            reason,
        },
        other => ConfigError {
            variable: CA_FILE,
            reason: other.to_string(),
        },
    })
}

/// The contents of the file at `path`, which `variable` names.
fn read(variable: &'static str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path.trim()).map_err(|e| ConfigError {
        variable,
        reason: format!("cannot read the file: {e}"),
    })
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
                std::env::temp_dir()
                    .join("giftcert-axum-shop")
                    .join("shop.db")
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

    const URL: (&str, &str) = (
        "GIFTCERT_POSTGRES_URL",
        "postgresql://shop@db.internal/gifts",
    );

    /// A folder holding `ca.pem` (a CA), `client.crt` and `client.key` (a certificate it
    /// signed for `shop` and its key), `junk.pem` (text, no PEM), and nothing at `missing.pem`.
    struct Files {
        dir: tempfile::TempDir,
        key: String,
    }

    impl Files {
        fn new() -> Files {
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_pem = params.self_signed(&ca_key).unwrap().pem();
            let ca = rcgen::Issuer::new(params, ca_key);
            let client_key = rcgen::KeyPair::generate().unwrap();
            let client = rcgen::CertificateParams::new(vec!["shop".to_owned()])
                .unwrap()
                .signed_by(&client_key, &ca)
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let key = client_key.serialize_pem();
            for (name, text) in [
                ("ca.pem", ca_pem.as_str()),
                ("client.crt", &client.pem()),
                ("client.key", &key),
                ("junk.pem", "not a certificate"),
            ] {
                std::fs::write(dir.path().join(name), text).unwrap();
            }
            Files { dir, key }
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }

        /// The message for these settings, beside `GIFTCERT_POSTGRES_URL`, or the `Tls`'s
        /// `Debug` when they are accepted.
        fn outcome(&self, vars: &[(&str, &str)]) -> Result<String, String> {
            let vars: Vec<(&str, String)> = vars
                .iter()
                .map(|(name, file)| (*name, self.path(file)))
                .collect();
            let mut all: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (*n, v.as_str())).collect();
            all.push(URL);
            config(&all)
                .map(|c| format!("{:?}", c.postgres_tls))
                .map_err(|e| e.to_string())
        }
    }

    #[test]
    fn the_development_key_is_refused_beyond_loopback() {
        for addr in ["0.0.0.0:3000", "192.0.2.7:80", "[::]:3000"] {
            let refused = config(&[("GIFTCERT_ADDR", addr)]).unwrap_err();
            assert!(
                refused
                    .to_string()
                    .starts_with("GIFTCERT_CODE_KEY is invalid: it must be set to listen on"),
                "{refused}"
            );
        }
        for addr in ["127.0.0.1:3000", "[::1]:3000"] {
            assert!(config(&[("GIFTCERT_ADDR", addr)]).unwrap().development_key);
        }
        let key = ("GIFTCERT_CODE_KEY", "00112233445566778899aabbccddeeff");
        assert!(
            !config(&[("GIFTCERT_ADDR", "0.0.0.0:3000"), key])
                .unwrap()
                .development_key
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_sqlite_file_is_its_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop").join("shop.db");
        prepare_sqlite_file(&path).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
        // A file that was readable by others is narrowed, and kept.
        std::fs::write(&path, b"kept").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_sqlite_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }

    #[test]
    fn the_rate_limit_is_a_hundred_a_second_unless_told_otherwise() {
        let rate = |vars: &[(&str, &str)]| config(vars).map(|c| c.rate_limit);
        assert_eq!(rate(&[]), Ok(DEFAULT_RATE_LIMIT));
        assert_eq!(rate(&[("GIFTCERT_RATE_LIMIT", "0")]), Ok(0));
        assert_eq!(rate(&[("GIFTCERT_RATE_LIMIT", " 5 ")]), Ok(5));
        assert!(rate(&[("GIFTCERT_RATE_LIMIT", "fast")]).is_err());
    }

    #[test]
    fn upkeep_runs_every_minute_unless_told_otherwise() {
        let every = |vars: &[(&str, &str)]| config(vars).map(|c| c.upkeep_every);
        assert_eq!(every(&[]), Ok(Some(std::time::Duration::from_secs(60))));
        let five = every(&[("GIFTCERT_UPKEEP_SECONDS", "5")]);
        assert_eq!(five, Ok(Some(std::time::Duration::from_secs(5))));
        assert_eq!(every(&[("GIFTCERT_UPKEEP_SECONDS", "0")]), Ok(None));
        let refused = every(&[("GIFTCERT_UPKEEP_SECONDS", "-1")]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "GIFTCERT_UPKEEP_SECONDS is invalid: expected a whole number of seconds"
        );
    }

    #[test]
    fn postgres_migrations_run_on_start_unless_turned_off() {
        assert!(config(&[URL]).unwrap().postgres_migrate);
        assert!(
            config(&[URL, ("GIFTCERT_POSTGRES_MIGRATE", " on")])
                .unwrap()
                .postgres_migrate
        );
        assert!(
            !config(&[URL, ("GIFTCERT_POSTGRES_MIGRATE", "off")])
                .unwrap()
                .postgres_migrate
        );
        let refused = config(&[URL, ("GIFTCERT_POSTGRES_MIGRATE", "yes")]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "GIFTCERT_POSTGRES_MIGRATE is invalid: expected on or off"
        );
    }

    #[test]
    fn postgres_tls_defaults_to_mozillas_roots() {
        let tls = config(&[URL]).map(|c| format!("{:?}", c.postgres_tls));
        let tls = tls.unwrap_or_default();
        assert!(tls.starts_with("Tls::Verified("), "{tls}");
        assert!(!tls.contains("client"), "{tls}");
        // Blank is unset.
        assert_eq!(
            config(&[URL, ("GIFTCERT_POSTGRES_CA_FILE", " ")])
                .map(|c| format!("{:?}", c.postgres_tls))
                .ok(),
            Some(tls)
        );
    }

    /// Before, the host could only trust Mozilla's roots: a database with a private CA could
    /// not be reached.
    #[test]
    fn a_ca_file_and_a_client_certificate_are_read_into_the_stores_tls() {
        let files = Files::new();
        assert_eq!(
            files.outcome(&[("GIFTCERT_POSTGRES_CA_FILE", "ca.pem")]),
            Ok("Tls::Verified(1 roots)".to_owned())
        );
        assert_eq!(
            files.outcome(&[
                ("GIFTCERT_POSTGRES_CA_FILE", "ca.pem"),
                ("GIFTCERT_POSTGRES_CLIENT_CERT_FILE", "client.crt"),
                ("GIFTCERT_POSTGRES_CLIENT_KEY_FILE", "client.key"),
            ]),
            Ok("Tls::Verified(1 roots, client certificate)".to_owned())
        );
    }

    #[test]
    fn a_tls_file_that_is_missing_or_not_pem_is_refused_naming_its_variable() {
        let files = Files::new();
        let message = files
            .outcome(&[("GIFTCERT_POSTGRES_CA_FILE", "missing.pem")])
            .unwrap_err();
        assert!(
            message.starts_with("GIFTCERT_POSTGRES_CA_FILE is invalid: cannot read the file: "),
            "{message}"
        );
        assert_eq!(
            files.outcome(&[("GIFTCERT_POSTGRES_CA_FILE", "junk.pem")]),
            Err(
                "GIFTCERT_POSTGRES_CA_FILE is invalid: the PEM text holds no certificate"
                    .to_owned()
            )
        );
        let with_client = |cert: &str, key: &str| {
            files.outcome(&[
                ("GIFTCERT_POSTGRES_CA_FILE", "ca.pem"),
                ("GIFTCERT_POSTGRES_CLIENT_CERT_FILE", cert),
                ("GIFTCERT_POSTGRES_CLIENT_KEY_FILE", key),
            ])
        };
        assert_eq!(
            with_client("junk.pem", "client.key"),
            Err(
                "GIFTCERT_POSTGRES_CLIENT_CERT_FILE is invalid: the client certificate's PEM \
                 text holds no certificate"
                    .to_owned()
            )
        );
        assert!(
            with_client("missing.pem", "client.key")
                .unwrap_err()
                .starts_with("GIFTCERT_POSTGRES_CLIENT_CERT_FILE is invalid: cannot read the file")
        );
        assert_eq!(
            with_client("client.crt", "junk.pem"),
            Err(
                "GIFTCERT_POSTGRES_CLIENT_KEY_FILE is invalid: the client key's PEM text holds \
                 no private key"
                    .to_owned()
            )
        );
        // The certificate where the key belongs: named, and no key text is shown.
        let message = with_client("client.key", "client.crt").unwrap_err();
        assert!(
            message.starts_with("GIFTCERT_POSTGRES_CLIENT_CERT_FILE is invalid"),
            "{message}"
        );
        let body = files.key.lines().nth(1).unwrap_or_default();
        assert!(!message.contains(body), "{message}");
    }

    #[test]
    fn tls_files_set_in_part_or_without_postgres_are_refused_naming_what_is_missing() {
        let files = Files::new();
        assert_eq!(
            files.outcome(&[
                ("GIFTCERT_POSTGRES_CA_FILE", "ca.pem"),
                ("GIFTCERT_POSTGRES_CLIENT_CERT_FILE", "client.crt"),
            ]),
            Err("GIFTCERT_POSTGRES_CLIENT_KEY_FILE is invalid: unset, but \
                 GIFTCERT_POSTGRES_CLIENT_CERT_FILE is set and needs its key"
                .to_owned())
        );
        assert_eq!(
            files.outcome(&[
                ("GIFTCERT_POSTGRES_CA_FILE", "ca.pem"),
                ("GIFTCERT_POSTGRES_CLIENT_KEY_FILE", "client.key"),
            ]),
            Err("GIFTCERT_POSTGRES_CLIENT_CERT_FILE is invalid: unset, but \
                 GIFTCERT_POSTGRES_CLIENT_KEY_FILE is set and needs its certificate"
                .to_owned())
        );
        assert_eq!(
            files.outcome(&[
                ("GIFTCERT_POSTGRES_CLIENT_CERT_FILE", "client.crt"),
                ("GIFTCERT_POSTGRES_CLIENT_KEY_FILE", "client.key"),
            ]),
            Err(
                "GIFTCERT_POSTGRES_CA_FILE is invalid: unset, but a client certificate needs \
                 the server's CA too"
                    .to_owned()
            )
        );
        let ca = files.path("ca.pem");
        assert_eq!(
            config(&[("GIFTCERT_POSTGRES_CA_FILE", &ca)])
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(
                "GIFTCERT_POSTGRES_CA_FILE is invalid: set, but GIFTCERT_POSTGRES_URL is not \
                 (the SQLite store has no TLS)"
                    .to_owned()
            )
        );
    }
}
