//! Store upkeep in the kube store: whether a run is running (its run key's Lease held and
//! unexpired for it), and deleting a run's objects.

use ::kube::api::{Api, DeleteParams, ListParams};
use k8s_openapi::api::coordination::v1::Lease;

use super::{Inner, MANAGED_BY, RUN_ID};
use crate::journal::StateError;
use crate::kube::{KubeError, KubeErrorKind, RequestRetry};

/// Whether a live holder has run `run_id`'s Lease now.
pub async fn running(i: &Inner, run_id: &str) -> Result<bool, StateError> {
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}=mcflow,{RUN_ID}={run_id}"));
    let api = i.config_maps();
    let list = RequestRetry::default()
        .run("list configmaps", || async {
            api.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| i.err("list", "configmaps", e))?;
    let Some(lock) = list
        .items
        .iter()
        .find_map(|c| c.data.as_ref()?.get("lock").cloned())
    else {
        return Ok(false);
    };
    let leases: Api<Lease> = Api::namespaced(i.client.clone(), &i.namespace);
    let lease = RequestRetry::default()
        .run("get lease", || async {
            leases.get_opt(&lock).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| i.err("get", "leases.coordination.k8s.io", e))?;
    Ok(lease.is_some_and(|l| super::lease::held_for(&l, run_id)))
}

/// Deletes a run: its chunks, then its index (so that a half-deleted run still lists).
pub async fn delete(i: &Inner, run_id: &str) -> Result<(), StateError> {
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}=mcflow,{RUN_ID}={run_id}"));
    let secrets = i.secrets();
    let list = RequestRetry::default()
        .run("list secrets", || async {
            secrets.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| i.err("list", "secrets", e))?;
    for s in list.items {
        let name = s.metadata.name.unwrap_or_default();
        delete_one(i, "secrets", &name, &secrets).await?;
    }
    let cms = i.config_maps();
    delete_one(i, "configmaps", &format!("mcflow-run-{run_id}"), &cms).await
}

async fn delete_one<K>(
    i: &Inner,
    resource: &str,
    name: &str,
    api: &Api<K>,
) -> Result<(), StateError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let gone = RequestRetry::default()
        .run("delete", || async {
            api.delete(name, &DeleteParams::default())
                .await
                .map(|_| ())
                .map_err(KubeError::from)
        })
        .await;
    match gone {
        Ok(()) => Ok(()),
        Err(e) if e.kind == KubeErrorKind::NotFound => Ok(()),
        Err(e) => Err(i.err("delete", resource, e)),
    }
}
