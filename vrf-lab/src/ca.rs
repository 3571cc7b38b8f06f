//! A certificate authority made at test time, for the lab's HTTPS servers and the clients that must
//! trust them.
//!
//! [`TestCa::new`] makes the CA (ECDSA P-256, with rcgen; nothing is read from or left on disk unless
//! asked); [`TestCa::server_config`] issues a certificate for a server's names and returns the rustls
//! configuration that [`http_server`](crate::http::http_server) serves TLS with. Clients trust the CA
//! through a PEM file ([`TestCa::write_ca`], for `curl --cacert` and `vrf-curl-lite --cacert`) or a
//! rustls client configuration ([`TestCa::client_config`]).
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! let ca = vrf_lab::ca::TestCa::new()?;
//! let server = ca.server_config(&["www.lab", "10.99.0.2", "fd00:99::2"])?; // for http_server
//! let dir = vrf_lab::TempDir::new("ca-doc")?;
//! ca.write_ca(dir.join("ca.pem"))?; // curl --cacert …/ca.pem https://www.lab/
//! # let _ = server;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made at test time that issues server certificates (see the
/// [module documentation](self)).
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: String,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the key.
        f.debug_struct("TestCa").field("pem", &self.pem).finish()
    }
}

impl TestCa {
    /// Makes a new CA: a self-signed certificate `CN=vrf-toolkit lab CA` (CA:TRUE, keyCertSign) and its key.
    pub fn new() -> Result<TestCa> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "vrf-toolkit lab CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("generating the test CA's key")?;
        let cert = params
            .self_signed(&key)
            .context("signing the test CA's certificate")?;
        let pem = cert.pem();
        Ok(TestCa { cert, key, pem })
    }

    /// The CA's certificate, PEM-encoded.
    pub fn ca_pem(&self) -> &str {
        &self.pem
    }

    /// The CA's certificate, DER-encoded (for a rustls root store).
    pub fn ca_der(&self) -> &[u8] {
        self.cert.der().as_ref()
    }

    /// Writes the CA's certificate (PEM) to `path`, for `curl --cacert path`.
    pub fn write_ca(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, &self.pem).with_context(|| format!("writing {}", path.display()))
    }

    /// A rustls server configuration with a fresh certificate signed by this CA for `names`: each one
    /// that parses as an IP address (`10.99.0.2`, `fd00:99::2`, `[fd00:99::2]`) becomes an IP SAN, the
    /// others DNS names (`www.lab`, `*.lab`). ALPN offers `h2` then `http/1.1`. The crypto is ring's
    /// (`rustls::crypto::ring::default_provider()`), whatever the process default is.
    pub fn server_config(&self, names: &[&str]) -> Result<Arc<rustls::ServerConfig>> {
        self.server_config_alpn(names, &[b"h2", b"http/1.1"])
    }

    /// [`TestCa::server_config`] offering the ALPN protocols `alpn` instead (`&[b"http/1.1"]`: a
    /// server that cannot do HTTP/2 over TLS; `&[]`: no ALPN at all, which means HTTP/1.1).
    pub fn server_config_alpn(
        &self,
        names: &[&str],
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>> {
        let Some(first) = names.first() else {
            bail!("a server certificate needs at least one name");
        };
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| {
                let bare = n
                    .strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .unwrap_or(n);
                Ok(match bare.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(
                        n.to_string()
                            .try_into()
                            .with_context(|| format!("{n:?} is neither a DNS name nor an IP"))?,
                    ),
                })
            })
            .collect::<Result<_>>()?;
        params
            .distinguished_name
            .push(DnType::CommonName, first.to_string());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().context("generating a server key")?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .with_context(|| format!("issuing a certificate for {names:?}"))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .context("building the rustls server configuration")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A rustls client configuration that trusts this CA only, offering the ALPN protocols `alpn`
    /// (`&[b"h2", b"http/1.1"]`), with ring's crypto.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der().to_vec().into())
            .context("adding the test CA to a root store")?;
        let mut config = rustls::ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// ring's crypto, whatever the process default provider is.
fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;

    use super::*;

    /// A TLS handshake in memory between a client that trusts `ca` and asks for `name` and a server with
    /// `server`; the ALPN protocol agreed on, or the error that ended the handshake.
    fn handshake(
        ca: &TestCa,
        server: Arc<rustls::ServerConfig>,
        name: &str,
    ) -> Result<Option<Vec<u8>>, rustls::Error> {
        let client = ca.client_config(&[b"h2", b"http/1.1"]).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        let mut client = rustls::ClientConnection::new(client, name)?;
        let mut server = rustls::ServerConnection::new(server)?;
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut &wire[..]).unwrap();
            server.process_new_packets()?;
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut &wire[..]).unwrap();
            client.process_new_packets()?;
        }
        Ok(client.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[test]
    fn certificates_are_trusted_for_their_names_only() {
        let ca = TestCa::new().unwrap();
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let server = ca
            .server_config(&["www.lab", "*.apps.lab", "127.0.0.1", "[::1]"])
            .unwrap();
        for name in ["www.lab", "x.apps.lab", "127.0.0.1", "::1"] {
            let alpn = handshake(&ca, server.clone(), name);
            assert_eq!(alpn, Ok(Some(b"h2".to_vec())), "{name}");
        }
        for name in ["other.lab", "apps.lab", "127.0.0.2"] {
            let e = handshake(&ca, server.clone(), name).unwrap_err();
            assert!(
                matches!(e, rustls::Error::InvalidCertificate(_)),
                "{name}: {e}"
            );
        }
        // Another CA's clients do not trust it.
        let other = TestCa::new().unwrap();
        let e = handshake(&other, server, "www.lab").unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e}");
        assert!(ca.server_config(&[]).is_err());
    }

    #[test]
    fn alpn_offers_are_the_servers() {
        let ca = TestCa::new().unwrap();
        let h1 = ca.server_config_alpn(&["www.lab"], &[b"http/1.1"]).unwrap();
        assert_eq!(
            handshake(&ca, h1, "www.lab"),
            Ok(Some(b"http/1.1".to_vec()))
        );
        let none = ca.server_config_alpn(&["www.lab"], &[]).unwrap();
        assert_eq!(handshake(&ca, none, "www.lab"), Ok(None));
    }
}
