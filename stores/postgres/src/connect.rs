//! Why a store could not connect, the checks made before connecting, and how connections are
//! protected ([`Tls`]): shared by both stores.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};
use tokio_postgres::Config;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a store protects its connections to PostgreSQL: TLS with the server's certificate
/// verified (the default, against Mozilla's roots), or plaintext when named
/// ([`Tls::disabled`]).
///
/// # Which hosts get TLS
///
/// Every host that is not on this machine gets TLS with its certificate verified, by default:
/// a store given [`Tls::default`] (which `connect` and `connect_in_schema` use) verifies the
/// server's certificate and name against Mozilla's roots (`webpki-roots`), or against the
/// host's own CA ([`Tls::with_root_pem`], [`Tls::with_client_cert`], [`Tls::with_config`]).
/// Local hosts (`localhost`,
/// 127.0.0.0/8, `::1`, Unix sockets) connect in plaintext unless the URL says
/// `sslmode=require`. For the rest, the URL's `sslmode` is read so:
///
/// | `sslmode` | a host that is not local |
/// | --- | --- |
/// | `prefer` (libpq's default, and so when none is given) | upgraded to `require`, certificate verified: `prefer` falls back to plaintext when an attacker answers "no TLS", so it is never honoured as written |
/// | `require` | TLS, certificate and host name verified (libpq's `require` does not verify; this does) |
/// | `disable` | refused with [`ConnectError::Plaintext`]: plaintext to another machine needs [`Tls::disabled`], named in the host's code |
///
/// [`Tls::disabled`] connects in plaintext to any host (and refuses `sslmode=require`).
///
/// ```
/// use giftcert_postgres::Tls;
///
/// // The default: Mozilla's roots, for a managed database with a public certificate.
/// let public = Tls::default();
/// // A database whose certificate the host's own CA signed.
/// let refused = Tls::with_root_pem(b"not a certificate");
/// assert_eq!(
///     refused.unwrap_err().to_string(),
///     "TLS: the PEM text holds no certificate"
/// );
/// ```
#[derive(Clone)]
pub struct Tls(TlsKind);

#[derive(Clone)]
enum TlsKind {
    /// Verify against these roots (Mozilla's by default).
    Roots(Arc<RootCertStore>),
    /// Verify against this many roots of the host's, and show a client certificate: built
    /// when made, so that a key that does not match its certificate is refused at once.
    ClientCert(Arc<ClientConfig>, usize),
    /// The host's own rustls configuration.
    Config(Arc<ClientConfig>),
    /// Plaintext, by name.
    Disabled,
}

impl Default for Tls {
    /// TLS verified against Mozilla's roots (`webpki-roots`) for every host that is not local.
    fn default() -> Self {
        Tls::webpki_roots()
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            TlsKind::Roots(roots) => write!(f, "Tls::Verified({} roots)", roots.len()),
            // The key stays out of it.
            TlsKind::ClientCert(_, roots) => {
                write!(f, "Tls::Verified({roots} roots, client certificate)")
            }
            TlsKind::Config(_) => f.write_str("Tls::Config"),
            TlsKind::Disabled => f.write_str("Tls::Disabled"),
        }
    }
}

impl Tls {
    /// TLS verified against Mozilla's roots (`webpki-roots`), as public and managed
    /// databases need: the default.
    #[must_use]
    pub fn webpki_roots() -> Tls {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Tls(TlsKind::Roots(Arc::new(roots)))
    }

    /// TLS verified against the certificates in `pem` only (the host's own CA, one or more
    /// `BEGIN CERTIFICATE` blocks), not Mozilla's roots.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Pem`] ([`PemText::Roots`]) when `pem` holds no certificate or one that
    /// cannot be read.
    pub fn with_root_pem(pem: &[u8]) -> Result<Tls, ConnectError> {
        Ok(Tls(TlsKind::Roots(Arc::new(roots_from_pem(pem)?))))
    }

    /// TLS verified against the certificates in `root_pem` only (as [`Tls::with_root_pem`]),
    /// showing the server the client certificate in `cert_pem` (the certificate first, then
    /// any intermediates) with its private key in `key_pem` (PKCS #8, PKCS #1 or SEC1), for a
    /// server whose `pg_hba.conf` says `cert` or `clientcert=verify-full`. PostgreSQL's `cert`
    /// method also wants the certificate's common name to be the user the URL names.
    ///
    /// ```no_run
    /// use giftcert_postgres::Tls;
    ///
    /// let tls = Tls::with_client_cert(
    ///     &std::fs::read("/etc/giftcert/db-ca.pem")?,
    ///     &std::fs::read("/etc/giftcert/client.crt")?,
    ///     &std::fs::read("/etc/giftcert/client.key")?,
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConnectError::Pem`], naming the text ([`PemText`]): `root_pem` or `cert_pem` holds no
    /// certificate or one that cannot be read, `key_pem` holds no private key or one that
    /// cannot be read (the message never quotes it), or the key is not the certificate's (the
    /// key's fault).
    pub fn with_client_cert(
        root_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Tls, ConnectError> {
        let roots = roots_from_pem(root_pem)?;
        let count = roots.len();
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                pem_error(
                    PemText::ClientCert,
                    format!("cannot read the client certificate's PEM text: {e}"),
                )
            })?;
        if chain.is_empty() {
            return Err(pem_error(
                PemText::ClientCert,
                "the client certificate's PEM text holds no certificate".to_owned(),
            ));
        }
        // The reader's errors can quote what it could not read: a key's are not repeated.
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            pem_error(
                PemText::ClientKey,
                match e {
                    pem::Error::NoItemsFound => "the client key's PEM text holds no private key",
                    _ => "cannot read the client key's PEM text",
                }
                .to_owned(),
            )
        })?;
        let config = verifying(Arc::new(roots))?
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                pem_error(
                    PemText::ClientKey,
                    format!("cannot use the client certificate and key: {e}"),
                )
            })?;
        Ok(Tls(TlsKind::ClientCert(Arc::new(config), count)))
    }

    /// TLS with the host's own rustls configuration (roots, client certificates, versions).
    /// It is used for local hosts too when the URL says `sslmode=require`.
    #[must_use]
    pub fn with_config(config: ClientConfig) -> Tls {
        Tls(TlsKind::Config(Arc::new(config)))
    }

    /// Plaintext to any host, by name: for a network the host trusts (a private link, a
    /// sidecar proxy that does TLS itself). Passwords and gift card data cross the network
    /// readable by anyone on the path.
    #[must_use]
    pub fn disabled() -> Tls {
        Tls(TlsKind::Disabled)
    }

    /// The rustls configuration to connect with.
    fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, ConnectError> {
        match &self.0 {
            TlsKind::Disabled => Ok(None),
            TlsKind::Config(config) | TlsKind::ClientCert(config, _) => {
                Ok(Some(Arc::clone(config)))
            }
            TlsKind::Roots(roots) => Ok(Some(Arc::new(
                verifying(Arc::clone(roots))?.with_no_client_auth(),
            ))),
        }
    }
}

/// The certificates in `pem`, as roots to verify a server against.
fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, ConnectError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert =
            cert.map_err(|e| pem_error(PemText::Roots, format!("cannot read the PEM text: {e}")))?;
        roots.add(cert).map_err(|e| {
            pem_error(
                PemText::Roots,
                format!("cannot use a root certificate: {e}"),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(pem_error(
            PemText::Roots,
            "the PEM text holds no certificate".to_owned(),
        ));
    }
    Ok(roots)
}

/// A rustls configuration that verifies servers against `roots`, waiting for its client
/// certificate (or none).
fn verifying(
    roots: Arc<RootCertStore>,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, ConnectError> {
    // The provider named, not the process default: another crate enabling a second
    // provider cannot make this ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("cannot configure rustls: {e}")))?
        .with_root_certificates(roots))
}

fn tls_error(reason: String) -> ConnectError {
    ConnectError::Tls { reason }
}

fn pem_error(text: PemText, reason: String) -> ConnectError {
    ConnectError::Pem { text, reason }
}

/// Which PEM text given to a [`Tls`] constructor cannot be used (in [`ConnectError::Pem`]), so
/// that a host can name the file or setting it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PemText {
    /// The root certificates to verify the server against.
    Roots,
    /// The client certificate (and its intermediates).
    ClientCert,
    /// The client certificate's private key.
    ClientKey,
}

/// How a store connects, as [`plan`] decides it.
pub(crate) enum Plan {
    /// Plaintext: a local host, or [`Tls::disabled`].
    Plaintext,
    /// TLS with the server's certificate verified; the config's `sslmode` is `require`.
    Verified(MakeRustlsConnect),
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Plan::Plaintext => "Plaintext",
            Plan::Verified(_) => "Verified",
        })
    }
}

/// Whether `host` is on this machine: a Unix socket, `localhost`, or a loopback address.
fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| is_loopback(&ip))
        }
    }
}

fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The first host of `config` that is not local (a `hostaddr` counts with its host), or `None`
/// when every one is.
fn remote_host(config: &Config) -> Option<String> {
    let hosts = config.get_hosts();
    let named = hosts.iter().find(|h| !is_local(h)).map(|h| match h {
        Host::Tcp(name) => name.clone(),
        Host::Unix(path) => path.display().to_string(),
    });
    named.or_else(|| {
        config
            .get_hostaddrs()
            .iter()
            .find(|ip| !is_loopback(ip))
            .map(ToString::to_string)
    })
}

/// Decides how to connect to the hosts of `config` under `tls` (see [`Tls`]):
/// plaintext for local hosts and for [`Tls::disabled`], TLS with verification for every other
/// host, `sslmode=prefer` upgraded to `require` so that it cannot fall back to plaintext.
///
/// # Errors
///
/// [`ConnectError::Plaintext`] for `sslmode=disable` to a host that is not local (without
/// [`Tls::disabled`]); [`ConnectError::Tls`] for `sslmode=require` with [`Tls::disabled`], or
/// a rustls configuration that cannot be built.
pub(crate) fn plan(config: &mut Config, tls: &Tls) -> Result<Plan, ConnectError> {
    let Some(client_config) = tls.client_config()? else {
        if config.get_ssl_mode() == SslMode::Require {
            return Err(tls_error(
                "the URL says sslmode=require but the store was given Tls::disabled()".to_owned(),
            ));
        }
        config.ssl_mode(SslMode::Disable);
        return Ok(Plan::Plaintext);
    };
    let mode = config.get_ssl_mode();
    match remote_host(config) {
        None if mode != SslMode::Require => {
            config.ssl_mode(SslMode::Disable);
            return Ok(Plan::Plaintext);
        }
        Some(host) if mode == SslMode::Disable => {
            return Err(ConnectError::Plaintext {
                host: host.chars().take(80).collect(),
            });
        }
        _ => {}
    }
    config.ssl_mode(SslMode::Require);
    Ok(Plan::Verified(MakeRustlsConnect::new(
        (*client_config).clone(),
    )))
}

/// The longest name (of a schema or a role) PostgreSQL keeps whole.
const MAX_NAME_LEN: usize = 63;

/// Why a store could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string could not be read.
    #[error("invalid PostgreSQL connection string: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "invalid schema name \"{0}\": expected 1 to 63 lowercase letters, digits and \
         underscores, not starting with a digit"
    )]
    Schema(String),
    /// The server refused the connection or the migration.
    #[error("cannot connect to PostgreSQL: {}", crate::sql::describe(.0))]
    Database(#[source] tokio_postgres::Error),
    /// The schema was written by a newer version of this crate.
    #[error(
        "the database has schema version {found}, newer than version {known} that this \
         giftcert-postgres knows"
    )]
    NewerSchema {
        /// Its schema version.
        found: i32,
        /// The newest this crate knows.
        known: i32,
    },
    /// The schema is behind this crate (its version is below
    /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), it has no tables or no key fingerprint yet,
    /// or its `giftcert_commit` is not this crate's), and the store was asked to connect
    /// without running migrations
    /// ([`PostgresStore::connect_migrated`](crate::PostgresStore::connect_migrated),
    /// [`AsyncPostgresStore::connect_migrated`](crate::AsyncPostgresStore::connect_migrated)).
    /// Run [`migrate`](crate::migrate) as the schema's owner first (`cargo run -p
    /// giftcert-postgres --example migrate`), then connect again.
    #[error(
        "the schema is not migrated for this giftcert-postgres (it has version {found}, this \
         crate needs version {needed} and its commit function): run giftcert_postgres::migrate \
         as the schema's owner, then connect again"
    )]
    Unmigrated {
        /// Its schema version (0 when it has no migration table).
        found: i32,
        /// The version this crate needs: [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
        needed: i32,
    },
    /// The role connecting without migrations may not use the schema (it has no `USAGE` on
    /// it), so the store cannot see its tables: the owner has not run
    /// [`grant_runtime`](crate::grant_runtime) for this role.
    #[error(
        "the role has no USAGE on schema \"{schema}\": run giftcert_postgres::grant_runtime for \
         it as the schema's owner"
    )]
    NoAccess {
        /// The schema.
        schema: String,
    },
    /// [`grant_runtime`](crate::grant_runtime) was given a role it must not limit: a name that
    /// is empty, longer than 63 bytes or holds a NUL, or a role that is a superuser, owns the
    /// schema or is a member of its owner (the grants would not bind it, and revoking its
    /// rights would take the owner's).
    #[error("cannot make it the runtime role: {reason}")]
    Role {
        /// Why.
        reason: String,
    },
    /// The schema's codes were hashed with another [`CodeKey`](giftcert_store_support::CodeKey)
    /// than the one given: with it every code would look unknown (and each lookup count as a
    /// guess against its owner), so the store refuses to open. The schema keeps the first
    /// key's fingerprint in `store_key`; the key itself is never shown.
    #[error(
        "the database's gift card codes were hashed with another CodeKey; connect with the key \
         it was written with"
    )]
    WrongKey,
    /// The URL asks for plaintext (`sslmode=disable`) to a host that is not on this machine:
    /// refused, because the connection would carry passwords and gift card data readable by
    /// anyone on the path. Connect with TLS (remove `sslmode=disable`), or give
    /// [`Tls::disabled`] to connect in plaintext by name.
    #[error(
        "refusing plaintext to PostgreSQL host \"{host}\", which is not local: remove \
         sslmode=disable to use TLS, or connect with Tls::disabled() to send plaintext by name"
    )]
    Plaintext {
        /// The first host that is not local.
        host: String,
    },
    /// TLS could not be set up as asked (`sslmode=require` with [`Tls::disabled`], or a
    /// rustls configuration that cannot be built).
    #[error("TLS: {reason}")]
    Tls {
        /// What is wrong.
        reason: String,
    },
    /// A PEM text given to [`Tls::with_root_pem`] or [`Tls::with_client_cert`] cannot be
    /// used: it holds no certificate (or key), one that cannot be read, or a key that is not
    /// the certificate's. A key's text is never quoted.
    #[error("TLS: {reason}")]
    Pem {
        /// Which text.
        text: PemText,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection pool could not hand out a connection to migrate with (it timed out or
    /// is closed).
    #[error("cannot connect to PostgreSQL: {reason}")]
    Pool {
        /// What the pool said.
        reason: String,
    },
}

/// The role name `role` quoted as an SQL identifier, or [`ConnectError::Role`] when it is
/// empty, longer than PostgreSQL keeps whole, or holds a NUL.
pub(crate) fn quote_role(role: &str) -> Result<String, ConnectError> {
    if role.is_empty() || role.len() > MAX_NAME_LEN || role.contains('\0') {
        return Err(ConnectError::Role {
            reason: "a role name is 1 to 63 bytes without NUL".to_owned(),
        });
    }
    Ok(format!("\"{}\"", role.replace('"', "\"\"")))
}

/// Refuses a schema name that is not a plain lowercase identifier (so it needs no quoting).
pub(crate) fn check_schema(schema: &str) -> Result<(), ConnectError> {
    let mut bytes = schema.bytes();
    let plain = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && schema.len() <= MAX_NAME_LEN;
    if plain {
        Ok(())
    } else {
        Err(ConnectError::Schema(schema.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// How `url` connects under `tls`, and the `sslmode` it connects with.
    fn planned(url: &str, tls: &Tls) -> Result<(&'static str, SslMode), ConnectError> {
        let mut config = Config::from_str(url).map_err(ConnectError::Url)?;
        let plan = plan(&mut config, tls)?;
        let kind = match plan {
            Plan::Plaintext => "plaintext",
            Plan::Verified(_) => "verified",
        };
        Ok((kind, config.get_ssl_mode()))
    }

    /// Before, `connect` was plaintext to every host, and `sslmode=prefer` (the default) could
    /// be downgraded by anyone on the path.
    #[test]
    fn a_host_that_is_not_local_gets_verified_tls_and_prefer_is_upgraded() {
        let tls = Tls::default();
        for url in [
            "postgresql://giftcert@db.example.com/shop",
            "postgresql://giftcert@db.example.com/shop?sslmode=prefer",
            "postgresql://giftcert@db.example.com/shop?sslmode=require",
            "host=10.0.0.5 user=giftcert",
            "host=localhost.example.com user=giftcert",
            "host=192.0.2.1 user=giftcert",
            "host=2001:db8::1 user=giftcert",
            // One remote host among local ones makes the whole connection remote.
            "host=127.0.0.1,db.example.com user=giftcert",
            // A hostaddr decides where the connection goes.
            "host=localhost hostaddr=10.0.0.5 user=giftcert",
        ] {
            assert_eq!(
                planned(url, &tls).unwrap(),
                ("verified", SslMode::Require),
                "{url}"
            );
        }
    }

    #[test]
    fn plaintext_to_a_host_that_is_not_local_is_refused_naming_the_host() {
        let err = planned(
            "postgresql://giftcert@db.example.com/shop?sslmode=disable",
            &Tls::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConnectError::Plaintext { host } if host == "db.example.com"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "refusing plaintext to PostgreSQL host \"db.example.com\", which is not local: \
             remove sslmode=disable to use TLS, or connect with Tls::disabled() to send \
             plaintext by name"
        );
        // By name, it is allowed.
        assert_eq!(
            planned(
                "postgresql://giftcert@db.example.com/shop?sslmode=disable",
                &Tls::disabled()
            )
            .unwrap(),
            ("plaintext", SslMode::Disable)
        );
        assert_eq!(
            planned("host=db.example.com", &Tls::disabled()).unwrap(),
            ("plaintext", SslMode::Disable)
        );
    }

    #[test]
    fn local_hosts_stay_plaintext_unless_tls_is_required() {
        let tls = Tls::default();
        for url in [
            "postgresql://giftcert@127.0.0.1:5432/shop",
            "postgresql://giftcert@127.1.2.3/shop",
            "postgresql://giftcert@[::1]:5432/shop",
            "postgresql://giftcert@localhost/shop?sslmode=disable",
            "host=LOCALHOST user=giftcert",
            "host=::ffff:127.0.0.1 user=giftcert",
            "host=/tmp user=giftcert",
            "host=/var/run/postgresql,127.0.0.1 user=giftcert",
            "host=localhost hostaddr=127.0.0.1 user=giftcert",
        ] {
            assert_eq!(
                planned(url, &tls).unwrap(),
                ("plaintext", SslMode::Disable),
                "{url}"
            );
        }
        assert_eq!(
            planned("postgresql://giftcert@127.0.0.1/shop?sslmode=require", &tls).unwrap(),
            ("verified", SslMode::Require)
        );
        let err = planned("host=127.0.0.1 sslmode=require", &Tls::disabled()).unwrap_err();
        assert!(matches!(err, ConnectError::Tls { .. }), "{err:?}");
    }

    #[test]
    fn root_certificates_are_read_from_pem_or_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["db.internal".to_owned()]).unwrap();
        let pem = ca.cert.pem();
        let tls = Tls::with_root_pem(pem.as_bytes()).unwrap();
        assert_eq!(format!("{tls:?}"), "Tls::Verified(1 roots)");
        assert!(format!("{:?}", Tls::default()).starts_with("Tls::Verified("));
        let broken = pem.replace("MII", "MIIx");
        assert!(matches!(
            Tls::with_root_pem(broken.as_bytes()),
            Err(ConnectError::Pem {
                text: PemText::Roots,
                ..
            })
        ));
        assert!(matches!(
            Tls::with_root_pem(b""),
            Err(ConnectError::Pem {
                text: PemText::Roots,
                ..
            })
        ));
    }

    /// A client certificate's bad PEM is refused when the `Tls` is made, each with its own
    /// message, and neither the key nor its bytes show in an error or in `Debug`.
    #[test]
    fn client_certificates_are_read_from_pem_or_refused_without_quoting_the_key() {
        let ca = rcgen::generate_simple_self_signed(vec!["db.internal".to_owned()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["giftcert".to_owned()]).unwrap();
        let (root, cert) = (ca.cert.pem(), client.cert.pem());
        let key = client.signing_key.serialize_pem();
        let message = |root: &str, cert: &str, key: &str| match Tls::with_client_cert(
            root.as_bytes(),
            cert.as_bytes(),
            key.as_bytes(),
        ) {
            Err(e @ ConnectError::Pem { .. }) => {
                let shown = e.to_string();
                let ConnectError::Pem { text, reason } = e else {
                    unreachable!()
                };
                assert_eq!(shown, format!("TLS: {reason}"));
                (text, reason)
            }
            other => panic!("expected ConnectError::Pem, got {other:?}"),
        };
        let says = |text: PemText, reason: &str| (text, reason.to_owned());

        let tls = Tls::with_client_cert(root.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(
            format!("{tls:?}"),
            "Tls::Verified(1 roots, client certificate)"
        );
        assert_eq!(
            planned("postgresql://giftcert@db.internal/shop", &tls).unwrap(),
            ("verified", SslMode::Require)
        );

        assert_eq!(
            message("", &cert, &key),
            says(PemText::Roots, "the PEM text holds no certificate")
        );
        assert_eq!(
            message(&root, "", &key),
            says(
                PemText::ClientCert,
                "the client certificate's PEM text holds no certificate"
            )
        );
        // A key where the certificate belongs holds no certificate either.
        assert_eq!(
            message(&root, &key, &key),
            says(
                PemText::ClientCert,
                "the client certificate's PEM text holds no certificate"
            )
        );
        let (text, reason) = message(&root, &cert.replace("MII", "MIIx"), &key);
        assert_eq!(text, PemText::ClientCert);
        assert!(
            reason.starts_with("cannot read the client certificate's PEM text: "),
            "{reason}"
        );
        assert_eq!(
            message(&root, &cert, ""),
            says(
                PemText::ClientKey,
                "the client key's PEM text holds no private key"
            )
        );
        assert_eq!(
            message(&root, &cert, &cert),
            says(
                PemText::ClientKey,
                "the client key's PEM text holds no private key"
            )
        );
        // A key with one character changed: the message says so and quotes none of it.
        let body = key.lines().nth(1).unwrap();
        let broken = key.replacen(body, &format!("{}!{}", &body[..10], &body[11..]), 1);
        assert_eq!(
            message(&root, &cert, &broken),
            says(PemText::ClientKey, "cannot read the client key's PEM text")
        );
        // Another certificate's key is refused before any server is asked.
        let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let (text, reason) = message(&root, &cert, &other);
        assert_eq!(text, PemText::ClientKey);
        assert!(
            reason.starts_with("cannot use the client certificate and key: "),
            "{reason}"
        );
    }
}
