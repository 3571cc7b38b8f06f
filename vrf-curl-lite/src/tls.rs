//! TLS with rustls (ring provider): the system's root certificates or `--cacert`, `-k`, ALPN.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Failure, code};

/// Which certificates the client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The system's store (`/etc/ssl/certs`, as found by rustls-native-certs).
    System,
    /// Only the CA certificates in this PEM file (`--cacert`).
    File(PathBuf),
    /// Nothing is checked (`-k`).
    Insecure,
}

/// The ALPN protocols to offer, most preferred first.
pub fn alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

/// A client configuration; fails with curl's 77 when the trusted certificates cannot be loaded.
pub fn client_config(trust: Trust, alpn: Vec<Vec<u8>>) -> Result<Arc<ClientConfig>, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::new(code::SSL_CONNECT_ERROR, format!("TLS set-up: {e}")))?;
    let mut config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::File(path) => builder
            .with_root_certificates(file_roots(&path)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

fn system_roots() -> Result<RootCertStore, Failure> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), |e| e.to_string());
        return Err(Failure::new(
            code::SSL_CACERT_BADFILE,
            format!(
                "no usable system CA certificates ({why}): apt-get install ca-certificates, or use --cacert FILE"
            ),
        ));
    }
    Ok(roots)
}

fn file_roots(path: &Path) -> Result<RootCertStore, Failure> {
    let bad = |why: String| {
        Failure::new(
            code::SSL_CACERT_BADFILE,
            format!("error setting certificate file: {}: {why}", path.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(roots)
}

/// The name the certificate must carry: an IP address or a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| Failure::new(code::URL_MALFORMED, format!("bad host name {host:?}: {e}")))
}

/// A failed handshake: 60 when the server's certificate is not trusted, 35 otherwise.
pub fn handshake_failure(e: &io::Error, host: &str) -> Failure {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(why)) => Failure::new(
            code::PEER_FAILED_VERIFICATION,
            format!(
                "SSL certificate problem: {why:?} (server {host}); trust its CA with --cacert FILE, or -k to skip the check"
            ),
        ),
        Some(other) => Failure::new(
            code::SSL_CONNECT_ERROR,
            format!("TLS handshake with {host} failed: {other}"),
        ),
        None if e.kind() == io::ErrorKind::TimedOut => Failure::new(
            code::OPERATION_TIMEDOUT,
            format!("TLS handshake with {host} timed out"),
        ),
        None => Failure::new(
            code::SSL_CONNECT_ERROR,
            format!("TLS handshake with {host} failed: {e}"),
        ),
    }
}

/// `-k`: accepts any certificate, but still checks the handshake signatures against it.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_ca_files_are_exit_77() {
        let e = client_config(Trust::File("/nonexistent/ca.pem".into()), alpn(true)).unwrap_err();
        assert_eq!(e.code, code::SSL_CACERT_BADFILE);
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("vcl-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Trust::File(empty), alpn(false)).unwrap_err();
        assert_eq!(e.code, code::SSL_CACERT_BADFILE);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_addresses() {
        assert!(matches!(
            server_name("www.lab").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("[fd00::2]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("10.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
    }

    #[test]
    fn insecure_config_builds() {
        let c = client_config(Trust::Insecure, alpn(true)).unwrap();
        assert_eq!(c.alpn_protocols, alpn(true));
    }
}
