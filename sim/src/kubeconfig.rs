//! Writing the kubeconfig that lists every simulated cluster as a context.

use base64::Engine;

/// One cluster's entry.
pub struct Entry<'a> {
    /// Cluster, context and (with `-admin`) user name.
    pub name: &'a str,
    /// `https://127.0.0.1:<port>`.
    pub server: &'a str,
    /// Bearer token.
    pub token: &'a str,
}

/// The kubeconfig YAML: context name = cluster name, user `<name>-admin` with a bearer token,
/// the first cluster as current context.
pub fn render(entries: &[Entry<'_>], ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut s = String::from("apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n");
    for e in entries {
        s.push_str(&format!(
            "- name: {}\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n",
            e.name, e.server
        ));
    }
    s.push_str("contexts:\n");
    for e in entries {
        s.push_str(&format!(
            "- name: {0}\n  context:\n    cluster: {0}\n    user: {0}-admin\n",
            e.name
        ));
    }
    if let Some(first) = entries.first() {
        s.push_str(&format!("current-context: {}\n", first.name));
    }
    s.push_str("users:\n");
    for e in entries {
        s.push_str(&format!(
            "- name: {}-admin\n  user:\n    token: {}\n",
            e.name, e.token
        ));
    }
    s
}
