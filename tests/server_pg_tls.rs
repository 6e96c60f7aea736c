//! TLS to PostgreSQL (`--features postgres`): the store negotiates TLS with a stand-in server
//! (PostgreSQL's SSLRequest answered `S`, then a rustls handshake with a certificate from a test
//! authority) and goes on to its startup message only when the certificate passes what
//! `sslmode` asks: `verify-full` needs the authority and the host name, `verify-ca` the
//! authority alone, `require` nothing. No PostgreSQL server is needed.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use member_ledger::store::PgStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A certificate authority and a server certificate for `localhost` only.
struct Pki {
    ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
    Pki {
        ca_pem: ca.pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

/// Serves one connection as PostgreSQL would up to the startup message; true when the client
/// completed the TLS handshake and sent it.
async fn stand_in(listener: tokio::net::TcpListener, pki: Arc<Pki>) -> bool {
    let Ok(Ok((mut stream, _))) =
        tokio::time::timeout(Duration::from_secs(20), listener.accept()).await
    else {
        return false;
    };
    let mut request = [0u8; 8];
    if stream.read_exact(&mut request).await.is_err() || request[4..] != [4, 210, 22, 47] {
        return false; // not an SSLRequest (80877103)
    }
    if stream.write_all(b"S").await.is_err() {
        return false;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert_der.clone().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key_der.clone().into()),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return false;
    };
    let mut length = [0u8; 4];
    tls.read_exact(&mut length).await.is_ok()
}

/// Opens a store at `location` (PORT replaced) against the stand-in; whether the startup
/// message arrived over TLS, and the store's error.
fn attempt(location: &str, pki: &Arc<Pki>) -> (bool, String) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let served = runtime.spawn(stand_in(listener, Arc::clone(pki)));
    let location = location.replace("PORT", &port.to_string());
    let opened = std::thread::spawn(move || PgStore::open(&location).err().map(|e| e.to_string()))
        .join()
        .expect("open");
    let reached = runtime.block_on(served).expect("stand-in");
    (reached, opened.unwrap_or_default())
}

#[test]
fn verify_full_needs_the_authority_and_the_host_name_verify_ca_the_authority_require_neither() {
    let pki = Arc::new(self::pki());
    let other = self::pki();
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    std::fs::write(&wrong, &other.ca_pem).expect("ca");
    let (ca, wrong) = (ca.display().to_string(), wrong.display().to_string());
    let cases = [
        (
            format!("postgresql://u@localhost:PORT/db?sslmode=verify-full&sslrootcert={ca}"),
            true,
        ),
        (
            format!("postgresql://u@localhost:PORT/db?sslmode=verify-full&sslrootcert={wrong}"),
            false,
        ),
        (
            format!("postgresql://u@127.0.0.1:PORT/db?sslmode=verify-full&sslrootcert={ca}"),
            false,
        ),
        (
            format!("postgresql://u@127.0.0.1:PORT/db?sslmode=verify-ca&sslrootcert={ca}"),
            true,
        ),
        (
            format!("postgresql://u@127.0.0.1:PORT/db?sslmode=verify-ca&sslrootcert={wrong}"),
            false,
        ),
        (
            format!("host=127.0.0.1 port=PORT user=u dbname=db sslmode=require sslrootcert={ca}"),
            true,
        ),
        (
            "postgresql://u@127.0.0.1:PORT/db?sslmode=require".to_string(),
            true,
        ),
        // The Mozilla roots do not hold the test authority.
        (
            "postgresql://u@localhost:PORT/db?sslmode=verify-full".to_string(),
            false,
        ),
    ];
    for (location, passes) in cases {
        let (reached, error) = attempt(&location, &pki);
        assert_eq!(reached, passes, "{location}: {error}");
        if !passes {
            assert!(
                error.to_lowercase().contains("certificate")
                    || error.contains("tls")
                    || error.contains("TLS"),
                "{location}: {error}"
            );
        }
    }
}

#[test]
fn a_bad_sslmode_or_root_file_is_refused_before_connecting() {
    let err = PgStore::open("postgresql://u@localhost:1/db?sslmode=verify")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("sslmode 'verify'"), "{err}");
    let err = PgStore::open(
        "postgresql://u@localhost:1/db?sslmode=verify-full&sslrootcert=/nonexistent.pem",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("sslrootcert /nonexistent.pem"), "{err}");
}
