//! Both stores over TLS against a real server with a certificate of a throw-away CA (made with
//! `rcgen`): the CA the host gives is trusted, another CA, Mozilla's roots and a wrong host
//! name are refused, and the connections the store keeps are encrypted.
//!
//! The test turns `ssl` on in the server at `GIFTCERT_POSTGRES_URL` (writing the certificate
//! and key into its data directory, which it must be able to write: it runs on the server's
//! machine, as `bash .ci/run` does) and off again when it ends. Plaintext connections keep
//! working meanwhile.

use std::error::Error as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;
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

/// Turns `ssl` off again when the test ends, whether it passed or not.
struct SslOn {
    admin: Client,
}

impl SslOn {
    /// Writes a certificate for `localhost` signed by `ca` and its key into the server's data
    /// directory, owned as that directory is, and turns `ssl` on.
    fn new(url: &str, ca: &Issuer<'_, KeyPair>) -> SslOn {
        let mut admin = Client::connect(url, NoTls).unwrap();
        let data: String = admin.query_one("SHOW data_directory", &[]).unwrap().get(0);
        let owner = std::fs::metadata(&data).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, ca)
            .unwrap();
        let write = |name: &str, text: &str| {
            let path = Path::new(&data).join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            // The server reads them as its own user (this test may run as root).
            chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
            path.display().to_string()
        };
        let cert_file = write("giftcert-test-server.crt", &cert.pem());
        let key_file = write("giftcert-test-server.key", &server_key.serialize_pem());
        // ALTER SYSTEM refuses to run in a transaction, which a batch of several is.
        for sql in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{cert_file}'"),
            format!("ALTER SYSTEM SET ssl_key_file = '{key_file}'"),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            admin.batch_execute(&sql).unwrap();
        }
        SslOn { admin }
    }
}

impl Drop for SslOn {
    fn drop(&mut self) {
        for sql in [
            "ALTER SYSTEM RESET ssl",
            "ALTER SYSTEM RESET ssl_cert_file",
            "ALTER SYSTEM RESET ssl_key_file",
            "SELECT pg_reload_conf()",
        ] {
            let _ = self.admin.batch_execute(sql);
        }
    }
}

/// `url` with `host` for its host, `sslmode=require` and an application name to find the
/// store's connections by.
fn tls_url(url: &str, host: &str, name: &str) -> String {
    let mut config: postgres::Config = url.parse().unwrap();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let db = config.get_dbname().unwrap_or("postgres").to_owned();
    config.host(host);
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
