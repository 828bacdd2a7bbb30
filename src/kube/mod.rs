//! Native Kubernetes steps: `apply`, `label`, `annotate`, `get`, `wait`, `delete`, over kube-rs.
//!
//! The runner builds one [`KubeRuntime`] per run and calls [`KubeRuntime::execute`] for each
//! `kube` step (after template rendering). Nothing here prints: results come back as a
//! [`KubeOutcome`], failures as a [`KubeError`] that says whether it is a usage error and whether
//! it is worth retrying.
//!
//! Secrets: a manifest may carry service-account tokens (the `linkerd multicluster link`
//! output). No `data`/`stringData` value, kubeconfig content or token appears in a summary, a
//! [`KubeAction::describe`] line, an error message, a tracing event, or a returned object: Secrets
//! come back with every data value replaced by `***` (`secrets::MASK`) (and `capture` reads that redacted
//! object, so it cannot lift a secret value into outputs either).
//!
//! One job per file: [`client`] (kubeconfig, one client per context), [`discovery`] (kinds to
//! resources, cached per run), [`action`] (the step's serde types), [`manifest`] (multi-document
//! YAML), [`apply`], [`label`] (also annotate), [`get`], [`wait`], [`delete`], [`object`] (field
//! paths, `where`, redaction), [`retry`] (per-request retries), [`proxy`] (kubectl's rule for
//! `HTTPS_PROXY`), [`error`].

mod action;
mod apply;
mod client;
mod delete;
pub mod diff;
mod discovery;
mod error;
mod get;
mod http;
mod label;
mod list;
mod manifest;
mod object;
mod proxy;
mod retry;
mod wait;
pub use wait::{WAIT_WATCHER, WaitSeen, WaitWatcher};

use std::collections::BTreeMap;
use std::path::PathBuf;

use ::kube::Api;
use ::kube::core::DynamicObject;

pub use action::{
    ApplyOp, ConditionIs, DeleteOp, FieldEquals, GetOp, KubeAction, LabelOp, ListOp, Target,
    WaitFor, WaitOp,
};
pub use error::{KubeError, KubeErrorKind};
pub use object::REDACTED;

pub(crate) use retry::RequestRetry;

use action::Operation;
use client::{Clients, ContextClient, KubeconfigSource};
use discovery::Resolved;

/// The Kubernetes side of one run: the kubeconfig, and one client per context, built lazily on
/// first use and reused, each with its discovery cache. Shared by parallel steps (`&self`).
pub struct KubeRuntime {
    clients: Clients,
}

/// The client of one context, outside a run (the kube state store's).
pub(crate) async fn client_for(
    kubeconfig: Option<&std::path::Path>,
    context: &str,
) -> Result<::kube::Client, KubeError> {
    let clients = Clients::new(KubeconfigSource::load(kubeconfig)?);
    Ok(clients.get(context).await?.client.clone())
}

/// How to execute a kube step.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Server-side dry run (`dryRun=All`) for apply, label, annotate and delete; summaries then
    /// say "would ...". A get runs as usual; a wait looks once and says "would wait for …".
    pub dry_run: bool,
    /// The directory `apply.file` is relative to (the workflow file's directory).
    pub base_dir: PathBuf,
    /// The step's timeout, if the runner wants the `wait` to end by itself at that point with
    /// the last state seen in its message (a wait's own `timeout` applies when shorter). The
    /// runner should still drop the future a little later as a backstop.
    pub timeout: Option<std::time::Duration>,
}

/// What a kube step did.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeOutcome {
    /// One line: "applied 7 objects (2 created, 1 configured, 4 unchanged)",
    /// "labelled Secret argocd/cluster-prod", "Deployment linkerd-multicluster/x is available".
    pub summary: String,
    /// Whether anything changed in the cluster (or would have, in a dry run).
    pub changed: bool,
    /// For get and wait: the object, Secret data redacted and `managedFields` dropped.
    pub object: Option<serde_json::Value>,
    /// Named outputs: get's captures and `exists`; apply's counts.
    pub outputs: BTreeMap<String, serde_json::Value>,
}

impl KubeRuntime {
    /// Reads the kubeconfig now: `kubeconfig` if given, else `KUBECONFIG` (several paths merged
    /// like kubectl), else `~/.kube/config`. A missing file is an error naming the paths looked at.
    /// Clients are built later, on each context's first use.
    pub fn new(kubeconfig: Option<PathBuf>) -> Result<Self, KubeError> {
        let source = KubeconfigSource::load(kubeconfig.as_deref())?;
        Ok(KubeRuntime {
            clients: Clients::new(source),
        })
    }

    /// The kubeconfig's context names, in file order.
    pub fn contexts(&self) -> Vec<String> {
        self.clients.contexts()
    }

    /// The API server of `context`, from the kubeconfig (for diagnostics).
    pub fn server_of(&self, context: &str) -> Option<String> {
        self.clients.server_of(context)
    }

    /// Runs one kube step.
    pub async fn execute(
        &self,
        action: &KubeAction,
        opts: &ExecOptions,
    ) -> Result<KubeOutcome, KubeError> {
        self.execute_recording(action, opts, None).await
    }

    /// Runs one kube step; with `changes` (`mcflow diff`, with `opts.dry_run`), each write also
    /// records what it would change in each object.
    pub async fn execute_recording(
        &self,
        action: &KubeAction,
        opts: &ExecOptions,
        changes: Option<&diff::ChangeSink>,
    ) -> Result<KubeOutcome, KubeError> {
        action.validate().map_err(KubeError::invalid)?;
        let op = action.operation().map_err(KubeError::invalid)?;
        let cc = self.clients.get(&action.context).await?;
        match op {
            Operation::Apply(op) => apply::apply(&cc, op, opts, changes).await,
            Operation::Label(op) => {
                label::label(&cc, op, label::Field::Labels, opts, changes).await
            }
            Operation::Annotate(op) => {
                label::label(&cc, op, label::Field::Annotations, opts, changes).await
            }
            Operation::Get(op) => get::get(&cc, op).await,
            Operation::Wait(op) if opts.dry_run => wait::look_once(&cc, op).await,
            Operation::Wait(op) => wait::wait(&cc, op, opts.timeout).await,
            Operation::Delete(op) => delete::delete(&cc, op, opts, changes).await,
            Operation::List(op) => list::list(&cc, op).await,
        }
    }
}

/// A kind resolved on one context, with the namespace it is addressed in.
pub(crate) struct Scoped {
    pub api: Api<DynamicObject>,
    pub resolved: Resolved,
    pub namespace: Option<String>,
}

impl Scoped {
    /// Resolves `kind` and picks the namespace: the given one, else the context's (else
    /// `default`); none for cluster-scoped kinds.
    pub(crate) async fn new(
        cc: &ContextClient,
        kind: &str,
        api_version: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<Self, KubeError> {
        let resolved = cc
            .discovery
            .resolve(&cc.client, &cc.name, api_version, kind)
            .await?;
        let (api, namespace) = if resolved.namespaced {
            let ns = namespace
                .unwrap_or(cc.client.default_namespace())
                .to_string();
            (
                Api::namespaced_with(cc.client.clone(), &ns, &resolved.resource),
                Some(ns),
            )
        } else {
            (Api::all_with(cc.client.clone(), &resolved.resource), None)
        };
        Ok(Scoped {
            api,
            resolved,
            namespace,
        })
    }

    /// `Kind namespace/name`.
    pub(crate) fn name(&self, name: &str) -> String {
        action::object_ref(
            &self.resolved.resource.kind,
            self.namespace.as_deref(),
            name,
        )
    }

    /// The object as JSON, with `apiVersion` and `kind` filled in (list items lack them).
    pub(crate) fn json(&self, obj: &DynamicObject) -> serde_json::Value {
        let mut value = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            let r = &self.resolved.resource;
            map.insert("apiVersion".to_string(), r.api_version.clone().into());
            map.insert("kind".to_string(), r.kind.clone().into());
        }
        value
    }

    /// `Kind in namespace` (or `Kind` for cluster-scoped kinds).
    pub(crate) fn all(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in {ns}", self.resolved.resource.kind),
            None => self.resolved.resource.kind.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner may run kube steps on any thread: `execute`'s future must be `Send`.
    #[allow(dead_code)]
    fn execute_is_send<'a>(
        rt: &'a KubeRuntime,
        action: &'a KubeAction,
        opts: &'a ExecOptions,
    ) -> impl std::future::Future<Output = Result<KubeOutcome, KubeError>> + Send + 'a {
        rt.execute(action, opts)
    }

    #[test]
    fn runtime_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<KubeRuntime>();
    }
}
