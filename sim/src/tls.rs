//! A generated CA and a server certificate for 127.0.0.1 / localhost.
//!
//! Both keys are RSA-2048, as a real API server's are: kube-apiserver's own self-signed serving
//! certificate (k8s.io/client-go `util/cert/cert.go`, `GenerateSelfSignedCertKeyWithFixtures`:
//! `rsa.GenerateKey(…, 2048)` for the CA and the server) and kubeadm's certificates
//! (`cmd/kubeadm/app/apis/kubeadm/v1beta4/defaults.go`: `DefaultEncryptionAlgorithm =
//! EncryptionAlgorithmRSA2048`), both at Kubernetes v1.33.13. The key type decides what a
//! client's handshake costs (an RSA signature is cheap to check, an ECDSA P-256 one is not), so
//! an ECDSA simulator would overstate mcflow's CPU per cluster (figure 5c of
//! docs/PERFORMANCE.md). ring cannot generate RSA keys, so the two keys are fixed test-only keys
//! (`sim/fixtures/test-only-*-rsa2048.key`); the certificates are made fresh each time.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The simulator's TLS material.
pub struct Tls {
    /// The CA certificate, PEM (goes into the kubeconfig's `certificate-authority-data`).
    pub ca_pem: String,
    /// The rustls server configuration every cluster serves with.
    pub server_config: Arc<ServerConfig>,
}

/// A CA and a server certificate it signed.
pub(crate) struct ServerPki {
    pub ca_cert: rcgen::Certificate,
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

/// Test-only keys, made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
const CA_KEY_PEM: &str = include_str!("../fixtures/test-only-ca-rsa2048.key");
const SERVER_KEY_PEM: &str = include_str!("../fixtures/test-only-apiserver-rsa2048.key");

/// An RSA key pair from PKCS#8 PEM, to sign with RSASSA-PKCS1-v1_5 SHA-256 (what Go's x509 uses
/// for an RSA issuer).
fn rsa_key(pem: &str) -> anyhow::Result<KeyPair> {
    Ok(KeyPair::from_pem_and_sign_algo(
        pem,
        &rcgen::PKCS_RSA_SHA256,
    )?)
}

/// A CA named `ca_name` and a server certificate (`kube-apiserver`, for 127.0.0.1 and
/// `dns_names`) signed by it: the simulator's and the rig's API servers serve with these.
pub(crate) fn ca_and_server_cert(ca_name: &str, dns_names: &[&str]) -> anyhow::Result<ServerPki> {
    let ca_key = rsa_key(CA_KEY_PEM)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Every CA has the same (fixed) key, so its name is what keeps a kubeconfig from one
    // simulator trusting another's server: a client finds the issuer by name before it checks
    // the signature with the issuer's key.
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("{ca_name} {:016x}", rand::random::<u64>()),
    );
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);

    let key = rsa_key(SERVER_KEY_PEM)?;
    let names: Vec<String> = dns_names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer)?;
    Ok(ServerPki { ca_cert, cert, key })
}

/// Generate a CA and a server certificate signed by it. The server offers HTTP/2 and HTTP/1.1
/// by ALPN, as kube-apiserver does (k8s.io/apiserver `pkg/server/secure_serving.go`,
/// `http2.ConfigureServer` unless `--disable-http2-serving`, v0.33.13), or HTTP/1.1 alone (`http1_only`: an API server behind a proxy
/// that speaks only HTTP/1.1).
pub fn generate(http1_only: bool) -> anyhow::Result<Tls> {
    let ServerPki { ca_cert, cert, key } = ca_and_server_cert("mcflow-sim-ca", &["localhost"])?;
    let chain = vec![
        CertificateDer::from(cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_rsa_2048_like_a_real_api_server() {
        let pki = ca_and_server_cert("test-ca", &["localhost"]).expect("the certificates");
        assert_eq!(pki.key.algorithm(), &rcgen::PKCS_RSA_SHA256);
        // A 2048-bit modulus: the SubjectPublicKeyInfo of an RSA-2048 key is 294 bytes.
        use rcgen::PublicKeyData;
        assert_eq!(pki.key.subject_public_key_info().len(), 294);
        assert!(generate(false).is_ok(), "rustls takes the RSA key");
    }

    #[test]
    fn each_ca_has_its_own_name() {
        let a = ca_and_server_cert("test-ca", &["localhost"]).unwrap();
        let b = ca_and_server_cert("test-ca", &["localhost"]).unwrap();
        // The common name as it is in the DER: "test-ca " and 16 hex digits.
        let name = |c: &rcgen::Certificate| {
            let der: &[u8] = c.der();
            let at = der
                .windows(8)
                .position(|w| w == b"test-ca ")
                .expect("the CA's name");
            String::from_utf8(der[at..at + 24].to_vec()).unwrap()
        };
        assert_ne!(name(&a.ca_cert), name(&b.ca_cert));
    }
}
