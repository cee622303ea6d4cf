//! TLS by `sslmode`: libpq's spellings, `sslrootcert`, the default configuration, telling a
//! failed handshake.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;
use crate::store::url::{decode, key_value_pairs};

/// TLS for a connection, by `sslmode`.
#[derive(Clone)]
pub(super) enum Tls {
    Off,
    Rustls(MakeRustlsConnect),
}

/// libpq's `sslmode=verify-ca` and `verify-full`, which `tokio-postgres` does not parse, are
/// `require` here: `require` verifies the certificate and the host name.
pub(super) fn libpq_sslmode(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

/// TLS with the Mozilla roots and the `ring` provider (not the process default, which a program
/// may not have installed).
pub(super) fn default_tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Takes libpq's `sslrootcert=PATH`, which `tokio-postgres` does not know, out of a connection
/// string in either form (URL or `key=value`); returns the rest and the path.
pub(super) fn take_sslrootcert(conn: &str) -> Result<(String, Option<String>), StoreError> {
    let invalid = |message: String| {
        StoreError::invalid_data("postgres store: read the connection string", message)
    };
    let lower = conn.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_owned(), None));
        };
        let mut root = None;
        let rest: Vec<&str> = query
            .split('&')
            .filter(|param| match param.split_once('=') {
                Some(("sslrootcert", value)) => {
                    root = Some(value);
                    false
                }
                _ => true,
            })
            .collect();
        let Some(root) = root else {
            return Ok((conn.to_owned(), None));
        };
        let root = decode(root).ok_or_else(|| invalid("sslrootcert is not UTF-8".into()))?;
        let conn = match rest.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", rest.join("&")),
        };
        return Ok((conn, Some(root)));
    }
    let pairs = key_value_pairs(conn).map_err(invalid)?;
    if !pairs.iter().any(|(key, _)| key == "sslrootcert") {
        return Ok((conn.to_owned(), None));
    }
    let mut root = None;
    let mut rest = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "sslrootcert" => root = Some(value),
            _ => rest.push(format!("{key}={}", quoted(&value))),
        }
    }
    Ok((rest.join(" "), root))
}

/// `value` as a `key=value` connection string writes it: as it is when it needs no quotes.
fn quoted(value: &str) -> String {
    let plain =
        !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\');
    match plain {
        true => value.to_owned(),
        false => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

/// TLS as [`default_tls_config`], but trusting only the CA certificates of the PEM file at
/// `path` (libpq's `sslrootcert`): the server's certificate must be issued by one of them and
/// name the host.
pub(super) fn tls_config_with_roots(path: &Path) -> Result<rustls::ClientConfig, StoreError> {
    let context = format!("postgres store: sslrootcert {}", path.display());
    let pem = std::fs::read(path).map_err(|e| StoreError::io(context.clone(), e))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            StoreError::invalid_data(&context, format!("not a PEM certificate file: {e}"))
        })?;
    if certificates.is_empty() {
        return Err(StoreError::invalid_data(
            &context,
            "no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| {
            StoreError::invalid_data(&context, format!("not a usable CA certificate: {e}"))
        })?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Other(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Whether a connection failed in the TLS handshake (a certificate that does not verify, a
/// protocol mismatch), as opposed to reaching the server, authenticating, …
pub(super) fn tls_failed(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn sslrootcert_is_taken_out_of_either_form() {
        let (rest, root) = take_sslrootcert(
            "postgres://etl@db/w?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20file.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://etl@db/w?sslmode=verify-full&connect_timeout=3"
        );
        assert_eq!(root.as_deref(), Some("/etc/ca file.pem"));
        let (rest, root) = take_sslrootcert("postgres://db/w?sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            (rest.as_str(), root.as_deref()),
            ("postgres://db/w", Some("/ca.pem"))
        );
        let (rest, root) = take_sslrootcert(
            "host=db sslmode=verify-full sslrootcert='/etc/my ca.pem' password='it\\'s'",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.as_deref(), Some("/etc/my ca.pem"));
        assert!(
            tokio_postgres::Config::from_str(&libpq_sslmode(&rest)).is_ok(),
            "{rest}"
        );
        assert!(!rest.contains("sslrootcert"), "{rest}");
        assert_eq!(
            tokio_postgres::Config::from_str(&libpq_sslmode(&rest))
                .unwrap()
                .get_password(),
            Some(&b"it's"[..])
        );
        // Without it, the text is left as it is.
        let plain = "host=db user=etl";
        assert_eq!(take_sslrootcert(plain).unwrap(), (plain.to_owned(), None));
    }

    #[test]
    fn a_missing_or_empty_root_certificate_file_is_an_error_naming_it() {
        let err = tls_config_with_roots(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(
            err.to_string().contains("sslrootcert /nonexistent/ca.pem"),
            "{err}"
        );
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = tls_config_with_roots(&empty).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn a_root_certificate_file_is_trusted() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["db.test".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ca.pem");
        std::fs::write(&path, ca.pem()).unwrap();
        tls_config_with_roots(&path).unwrap();
    }

    #[test]
    fn verify_modes_are_require() {
        assert_eq!(
            libpq_sslmode("host=h sslmode=verify-full"),
            "host=h sslmode=require"
        );
    }
}
