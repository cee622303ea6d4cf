//! A private certificate authority made at test time (rcgen): a CA certificate, written to a
//! PEM file for `OTEL_EXPORTER_OTLP_CERTIFICATE`, and a server certificate it signs for
//! `127.0.0.1` and `localhost`, with its key, for the TLS receivers.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA and the server certificate it signed.
pub struct TestCa {
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: String,
    /// The server certificate's private key (PEM, PKCS#8).
    pub server_key: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tracing-etl test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        server_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tracing-etl test receiver");
        server_params.use_authority_key_identifier_extension = true;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        TestCa {
            _dir: dir,
            ca_file,
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
        }
    }

    /// The CA certificate's PEM file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }
}
