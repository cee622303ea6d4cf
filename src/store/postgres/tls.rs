//! TLS by `sslmode`: libpq's spellings, the default configuration, telling a failed handshake.

use tokio_postgres_rustls::MakeRustlsConnect;

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

    #[test]
    fn verify_modes_are_require() {
        assert_eq!(
            libpq_sslmode("host=h sslmode=verify-full"),
            "host=h sslmode=require"
        );
    }
}
