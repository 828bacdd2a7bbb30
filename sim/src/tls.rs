//! A generated CA and a server certificate for 127.0.0.1 / localhost.

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

/// A CA named `ca_name` and a server certificate (`kube-apiserver`, for 127.0.0.1 and
/// `dns_names`) signed by it: the simulator's and the rig's API servers serve with these.
pub(crate) fn ca_and_server_cert(ca_name: &str, dns_names: &[&str]) -> anyhow::Result<ServerPki> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);

    let key = KeyPair::generate()?;
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

/// Generate a CA and a server certificate signed by it.
pub fn generate() -> anyhow::Result<Tls> {
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
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}
