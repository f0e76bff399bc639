//! Both stores over TLS against a real server with a certificate of a throw-away CA (made with
//! `rcgen`): the CA the host gives is trusted, another CA, Mozilla's roots and a wrong host
//! name are refused, and the connections the store keeps are encrypted. A server that wants
//! client certificates takes one its CA signed for the user, and refuses none, one of another
//! CA and one for another user.
//!
//! The tests turn `ssl` on in the server at `GIFTCERT_POSTGRES_URL` (writing the certificate
//! and key into its data directory, which they must be able to write: they run on the server's
//! machine, as `bash .ci/run` does) and off again when they end, one at a time; the client
//! certificate test also puts lines for a role of its own at the top of `pg_hba.conf` and
//! takes them out again. Plaintext connections of other users keep working meanwhile.

use std::error::Error as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use giftcert::{CardId, Store, store::AsyncStore};
use giftcert_postgres::{AsyncPostgresStore, ConnectError, PostgresStore, Tls};
use postgres::{Client, NoTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

// Only some of the shared helpers are needed here.
#[allow(dead_code)]
mod common;

use common::{Scratch, key, off_runtime, url};

/// A CA's certificate (PEM) and its issuer, to sign a server certificate with.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// A certificate signed by `ca` for `name` (its common name, and a DNS name), and its key.
fn signed(ca: &Issuer<'_, KeyPair>, name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    (
        params.signed_by(&key, ca).unwrap().pem(),
        key.serialize_pem(),
    )
}

/// The tests change the one server's TLS settings: one at a time.
static SERVER_SSL: Mutex<()> = Mutex::new(());

/// Turns `ssl` off again when the test ends, whether it passed or not (and takes out what
/// [`SslOn::require_client_certs`] put in).
struct SslOn {
    admin: Client,
    data: String,
    owner: std::fs::Metadata,
    /// The `pg_hba.conf` to write back, as it was, and the role to drop.
    client_certs: Option<(String, String, String)>,
}

impl SslOn {
    /// Writes a certificate for `localhost` signed by `ca` and its key into the server's data
    /// directory, owned as that directory is, and turns `ssl` on.
    fn new(url: &str, ca: &Issuer<'_, KeyPair>) -> SslOn {
        let mut admin = Client::connect(url, NoTls).unwrap();
        let data: String = admin.query_one("SHOW data_directory", &[]).unwrap().get(0);
        let owner = std::fs::metadata(&data).unwrap();
        let mut ssl = SslOn {
            admin,
            data,
            owner,
            client_certs: None,
        };
        let (cert, key) = signed(ca, "localhost");
        let cert_file = ssl.write("giftcert-test-server.crt", &cert);
        let key_file = ssl.write("giftcert-test-server.key", &key);
        ssl.set(&[
            format!("ALTER SYSTEM SET ssl_cert_file = '{cert_file}'"),
            format!("ALTER SYSTEM SET ssl_key_file = '{key_file}'"),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ]);
        ssl
    }

    /// Writes `text` into the server's data directory as `name`, for the server's user only.
    fn write(&self, name: &str, text: &str) -> String {
        let path = Path::new(&self.data).join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The server reads them as its own user (this test may run as root).
        chown(&path, Some(self.owner.uid()), Some(self.owner.gid())).unwrap();
        path.display().to_string()
    }

    fn set(&mut self, statements: &[String]) {
        // ALTER SYSTEM refuses to run in a transaction, which a batch of several is.
        for sql in statements {
            self.admin.batch_execute(sql).unwrap();
        }
    }

    /// Makes a login role `role` that may create schemas, and lets it in over TLS only with a
    /// client certificate `ca_pem` signed for it (`pg_hba.conf`'s `cert`), never in plaintext.
    fn require_client_certs(&mut self, ca_pem: &str, role: &str) {
        let hba_file: String = self.admin.query_one("SHOW hba_file", &[]).unwrap().get(0);
        let hba = std::fs::read_to_string(&hba_file).unwrap();
        self.client_certs = Some((hba_file.clone(), hba.clone(), role.to_owned()));
        let db: String = self
            .admin
            .query_one("SELECT current_database()", &[])
            .unwrap()
            .get(0);
        let ca_file = self.write("giftcert-test-client-ca.crt", ca_pem);
        // The first line that matches decides: these come before the file's own `trust`.
        let lines = format!(
            "hostssl all {role} 127.0.0.1/32 cert\nhostssl all {role} ::1/128 cert\n\
             host all {role} all reject\n"
        );
        std::fs::write(&hba_file, lines + &hba).unwrap();
        self.set(&[
            format!("CREATE ROLE {role} LOGIN"),
            format!("GRANT CREATE ON DATABASE \"{db}\" TO {role}"),
            format!("ALTER SYSTEM SET ssl_ca_file = '{ca_file}'"),
            "SELECT pg_reload_conf()".to_owned(),
        ]);
    }
}

impl Drop for SslOn {
    fn drop(&mut self) {
        let mut statements = Vec::new();
        if let Some((hba_file, hba, role)) = self.client_certs.take() {
            let _ = std::fs::write(hba_file, hba);
            statements.push(format!("DROP OWNED BY {role} CASCADE"));
            statements.push(format!("DROP ROLE IF EXISTS {role}"));
        }
        for sql in [
            "ALTER SYSTEM RESET ssl",
            "ALTER SYSTEM RESET ssl_cert_file",
            "ALTER SYSTEM RESET ssl_key_file",
            "ALTER SYSTEM RESET ssl_ca_file",
            "SELECT pg_reload_conf()",
        ] {
            statements.push(sql.to_owned());
        }
        for sql in statements {
            let _ = self.admin.batch_execute(&sql);
        }
    }
}

/// `url` with `host` for its host, `sslmode=require` and an application name to find the
/// store's connections by.
fn tls_url(url: &str, host: &str, name: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    tls_url_as(url, host, name, config.get_user().unwrap_or("postgres"))
}

/// [`tls_url`] as `user`.
fn tls_url_as(url: &str, host: &str, name: &str, user: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres").to_owned();
    format!(
        "postgresql://{user}@{host}:{port}/{db}?sslmode=require&application_name={name}&connect_timeout=10"
    )
}

/// The whole chain of `e`, to find the reason a handshake failed.
fn chain(e: &ConnectError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// How many of the server's connections named `name` are encrypted, and how many there are.
fn encrypted(admin: &mut Client, name: &str) -> (i64, i64) {
    let row = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn refused_for_its_certificate(result: Result<impl std::fmt::Debug, ConnectError>, why: &str) {
    match result {
        Err(e @ ConnectError::Database(_)) => {
            let text = chain(&e);
            assert!(
                text.contains("certificate") || text.contains("Certificate"),
                "{why}: {text}"
            );
        }
        other => panic!("{why}: expected a refused handshake, got {other:?}"),
    }
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn both_stores_verify_the_servers_certificate() {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let _one_at_a_time = SERVER_SSL.lock().unwrap_or_else(|e| e.into_inner());
    let url = url();
    let scratch = Scratch::new(url.clone());
    let (other_pem, _other) = ca("another CA");
    let (ca_pem, ca) = ca("giftcert test CA");
    let mut ssl = SslOn::new(&url, &ca);
    let name = |what: &str| {
        format!(
            "giftcert-tls-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    };
    let trusted = Tls::with_root_pem(ca_pem.as_bytes()).unwrap();

    // The reload takes effect for new connections soon after; wait for the first that works.
    let first = name("sync");
    let started = Instant::now();
    let store = loop {
        let schema = scratch.schema();
        match PostgresStore::connect_with_tls(
            &tls_url(&url, "localhost", &first),
            Some(&schema),
            key(),
            trusted.clone(),
        ) {
            Ok(store) => break store,
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no TLS connection within 30 s: {}", chain(&e)),
        }
    };
    assert_eq!(store.card(CardId::from_u128(1)).unwrap(), None);
    let (tls, all) = encrypted(&mut ssl.admin, &first);
    assert!(
        all > 0 && tls == all,
        "{tls} of {all} connections encrypted"
    );

    // Another CA, Mozilla's roots, and a name the certificate does not hold are refused.
    refused_for_its_certificate(
        PostgresStore::connect_with_tls(
            &tls_url(&url, "localhost", &name("other")),
            Some(&scratch.schema()),
            key(),
            Tls::with_root_pem(other_pem.as_bytes()).unwrap(),
        ),
        "another CA",
    );
    refused_for_its_certificate(
        PostgresStore::connect_with_tls(
            &tls_url(&url, "localhost", &name("mozilla")),
            Some(&scratch.schema()),
            key(),
            Tls::default(),
        ),
        "Mozilla's roots",
    );
    refused_for_its_certificate(
        PostgresStore::connect_with_tls(
            &tls_url(&url, "127.0.0.1", &name("by-ip")),
            Some(&scratch.schema()),
            key(),
            trusted.clone(),
        ),
        "a name the certificate does not hold",
    );

    // The async store, the same way.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let async_name = name("async");
    let (schema, other_schema) = (scratch.schema(), scratch.schema());
    runtime.block_on(async {
        let store = AsyncPostgresStore::connect_with_tls(
            &tls_url(&url, "localhost", &async_name),
            Some(&schema),
            key(),
            trusted.clone(),
        )
        .await
        .map_err(|e| chain(&e))
        .unwrap();
        assert_eq!(store.card(CardId::from_u128(1)).await.unwrap(), None);
        refused_for_its_certificate(
            AsyncPostgresStore::connect_with_tls(
                &tls_url(&url, "localhost", &name("async-other")),
                Some(&other_schema),
                key(),
                Tls::with_root_pem(other_pem.as_bytes()).unwrap(),
            )
            .await,
            "another CA, async",
        );
        // Counted while the store still holds its connections.
        let (tls, all) = off_runtime(|| encrypted(&mut ssl.admin, &async_name));
        assert!(
            all > 0 && tls == all,
            "{tls} of {all} async connections encrypted"
        );
    });
    drop(store);
}

/// Connects with `connect` until the server's reload has taken effect (30 s at most).
fn first_connection<T>(mut connect: impl FnMut() -> Result<T, ConnectError>) -> T {
    let started = Instant::now();
    loop {
        match connect() {
            Ok(store) => return store,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no TLS connection within 30 s: {}", chain(&e)),
        }
    }
}

/// `result` is the server refusing the client's certificate (or its lack of one): the chain
/// holds `expected`.
fn refused_with(result: Result<impl std::fmt::Debug, ConnectError>, expected: &str, why: &str) {
    match result {
        Err(e @ ConnectError::Database(_)) => {
            let text = chain(&e);
            assert!(text.contains(expected), "{why}: {text}");
        }
        other => panic!("{why}: expected a refused connection, got {other:?}"),
    }
}

/// Before, client certificates through `Tls::with_config` were never tried against a server
/// that asks for them.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_server_that_wants_client_certificates_takes_one_its_ca_signed_for_the_user() {
    let _one_at_a_time = SERVER_SSL.lock().unwrap_or_else(|e| e.into_inner());
    let url = url();
    let scratch = Scratch::new(url.clone());
    let role = format!("giftcert_tls_client_{}", std::process::id());
    let (_, other_ca) = ca("another CA");
    let (ca_pem, ca) = ca("giftcert test CA");
    let mut ssl = SslOn::new(&url, &ca);
    ssl.require_client_certs(&ca_pem, &role);
    let (cert_pem, key_pem) = signed(&ca, &role);
    let name = |what: &str| format!("giftcert-tls-client-{what}-{}", std::process::id());
    let as_role = |what: &str| tls_url_as(&url, "localhost", &name(what), &role);

    let sync_name = name("sync");
    let tls =
        Tls::with_client_cert(ca_pem.as_bytes(), cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let store = first_connection(|| {
        PostgresStore::connect_with_tls(
            &as_role("sync"),
            Some(&scratch.schema()),
            key(),
            tls.clone(),
        )
    });
    assert_eq!(store.card(CardId::from_u128(1)).unwrap(), None);
    let (encrypted_count, all) = encrypted(&mut ssl.admin, &sync_name);
    assert!(
        all > 0 && encrypted_count == all,
        "{encrypted_count} of {all} connections encrypted"
    );

    // No certificate, one of another CA, and one for another user are refused.
    refused_with(
        PostgresStore::connect_with_tls(
            &as_role("none"),
            Some(&scratch.schema()),
            key(),
            Tls::with_root_pem(ca_pem.as_bytes()).unwrap(),
        ),
        "connection requires a valid client certificate",
        "no client certificate",
    );
    let (other_cert, other_key) = signed(&other_ca, &role);
    refused_with(
        PostgresStore::connect_with_tls(
            &as_role("other-ca"),
            Some(&scratch.schema()),
            key(),
            Tls::with_client_cert(
                ca_pem.as_bytes(),
                other_cert.as_bytes(),
                other_key.as_bytes(),
            )
            .unwrap(),
        ),
        "received fatal alert: UnknownCA",
        "a client certificate of another CA",
    );
    let (postgres_cert, postgres_key) = signed(&ca, "postgres");
    refused_with(
        PostgresStore::connect_with_tls(
            &as_role("other-user"),
            Some(&scratch.schema()),
            key(),
            Tls::with_client_cert(
                ca_pem.as_bytes(),
                postgres_cert.as_bytes(),
                postgres_key.as_bytes(),
            )
            .unwrap(),
        ),
        "certificate authentication failed",
        "a client certificate for another user",
    );

    // The async store, with the same certificate.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = scratch.schema();
    runtime.block_on(async {
        let store =
            AsyncPostgresStore::connect_with_tls(&as_role("async"), Some(&schema), key(), tls)
                .await
                .map_err(|e| chain(&e))
                .unwrap();
        assert_eq!(store.card(CardId::from_u128(1)).await.unwrap(), None);
    });
    drop(store);
}
