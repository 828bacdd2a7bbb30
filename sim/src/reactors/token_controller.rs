//! The service-account token controller: a Secret of type `kubernetes.io/service-account-token`
//! annotated `kubernetes.io/service-account.name: <sa>` gets `data.token`, `data.ca.crt` and
//! `data.namespace` once that ServiceAccount exists (kube-controller-manager's
//! pkg/controller/serviceaccount/tokens_controller.go `generateTokenIfNeeded` @v1.33.13).
//! `linkerd multicluster link`/`link-gen` read that token for the Link's credentials. The token
//! is one the simulated API server accepts (the cluster's own; real ones are signed JWTs of the
//! account); no `ca.crt` (nothing here reads it).

use base64::Engine;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::store::EventType;

const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const ACCOUNT: &str = "kubernetes.io/service-account.name";

/// Fill the token Secrets of `c` that need it.
fn reconcile(c: &Cluster) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in c.list("v1", "Secret", None, "").unwrap_or_default() {
        let account = secret
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ACCOUNT))
            .and_then(Value::as_str);
        let (Some(account), true) = (account, secret["type"] == TOKEN_TYPE) else {
            continue;
        };
        if secret.pointer("/data/token").is_some() {
            continue;
        }
        let ns = secret["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = secret["metadata"]["name"].as_str().unwrap_or_default();
        if c.get("v1", "ServiceAccount", ns, account).is_none() {
            continue;
        }
        let data = json!({"data": {"token": b64(c.token()), "namespace": b64(ns)}});
        let _ = c.merge_patch("v1", "Secret", ns, name, data);
    }
}

/// Watch Secrets and ServiceAccounts and fill token Secrets in.
pub async fn run(c: Cluster) {
    let mut rx = c.subscribe();
    reconcile(&c);
    loop {
        match rx.recv().await {
            Ok(ev)
                if (ev.type_key == "/secrets" || ev.type_key == "/serviceaccounts")
                    && ev.kind != EventType::Deleted =>
            {
                reconcile(&c)
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => reconcile(&c),
            Err(_) => return,
        }
    }
}
