//! Simulated clusters: starting them (prepared with the CRDs and namespaces the link output
//! needs), fixtures (the Linkerd link manifest with a canary token), request-log queries, and
//! the Linkerd world: three clusters (internal, production, nonproduction) with the fake
//! `linkerd`, where the repository's own workflows run from the repository root.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use mcflow_sim::{RequestRecord, Scenario, Simulator};
use serde_json::Value;

use super::workspace::{Outcome, Workspace, repo_root};

/// A token no output may ever show.
pub const CANARY: &str = "CANARY-sa-token-7f3a9c1e5d";

/// The repository's fixtures directory (the simulator carries a copy of shared/fixtures).
pub fn fixture(name: &str) -> String {
    let path = repo_root().join("sim/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What `linkerd multicluster link --cluster-name <hub>` prints, with [`CANARY`] as the token.
pub fn link_manifest(hub: &str) -> String {
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {hub}\n  cluster: {{server: 'https://{hub}:6443'}}\n\
         users:\n- name: sa\n  user: {{token: {CANARY}}}\ncontexts:\n- name: {hub}\n  context: {{cluster: {hub}, user: sa}}\n\
         current-context: {hub}\n"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    fixture("link-2.17.yaml")
        .replace("__HUB__", hub)
        .replace("__KUBECONFIG_B64__", &b64)
        .replace("__GATEWAY_ADDRESS__", "tfx-internal.gerega.net")
        .replace("__GATEWAY_PORT__", "30143")
        .replace("__PROBE_PORT__", "30191")
        .replace("__SERVER__", "https://internal:6443")
        .replace("__CA_DATA__", "")
        .replace("__TOKEN__", CANARY)
        .replace("__SA__", "linkerd-service-mirror-remote-access-production")
        .replace("__VERSION__", "stable-2.14.10")
}

/// `count` ConfigMaps in one manifest.
pub fn config_maps(count: usize, namespace: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {namespace}\ndata:\n  index: \"{i}\"\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Starts simulated clusters with their kubeconfig in `dir`, each prepared (see [`prepare`]).
pub async fn start(dir: &Path, clusters: &[&str]) -> Simulator {
    let sim = Simulator::builder()
        .clusters(clusters.iter().copied())
        .kubeconfig_path(dir.join("kubeconfig"))
        .start()
        .await
        .expect("simulator starts");
    prepare(&sim);
    sim
}

/// The same, on the simulator's own runtime (for tests that run the binary).
pub fn start_blocking(dir: &Path, clusters: &[&str]) -> Simulator {
    let sim = bare(dir, clusters);
    prepare(&sim);
    sim
}

/// Simulated clusters with their kubeconfig in `dir`, as they start: nothing applied.
pub fn bare(dir: &Path, clusters: &[&str]) -> Simulator {
    Simulator::builder()
        .clusters(clusters.iter().copied())
        .kubeconfig_path(dir.join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts")
}

/// What the link output needs on every cluster: the Link and Argo CD CRDs and the namespaces
/// `linkerd`, `linkerd-multicluster` and `argocd`. The request logs start empty afterwards.
pub fn prepare(sim: &Simulator) {
    let namespaces = ["linkerd", "linkerd-multicluster", "argocd", "monitoring"]
        .map(|ns| format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"))
        .join("---\n");
    for c in sim.clusters() {
        c.apply_yaml(&fixture("crds.yaml")).expect("CRDs");
        c.apply_yaml(&namespaces).expect("namespaces");
        c.clear_request_log();
    }
}

/// The kubeconfig with every token replaced by a wrong one.
pub fn wrong_token_kubeconfig(sim: &Simulator, dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(sim.kubeconfig_path()).unwrap();
    for c in sim.clusters() {
        text = text.replace(c.token(), "not-the-token");
    }
    let path = dir.join("kubeconfig-wrong-token");
    std::fs::write(&path, text).unwrap();
    path
}

/// Discovery requests: `GET /api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]`.
pub fn is_discovery(r: &RequestRecord) -> bool {
    let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    r.method == "GET"
        && matches!(
            segments.as_slice(),
            ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _]
        )
}

/// Requests that were not discovery.
pub fn object_requests(log: &[RequestRecord]) -> Vec<&RequestRecord> {
    log.iter().filter(|r| !is_discovery(r)).collect()
}

/// The clusters of the Linkerd world (`config/clusters.yaml`): the hub first.
pub const CLUSTERS: [&str; 3] = ["internal", "production", "nonproduction"];
pub const SPOKES: [&str; 2] = ["production", "nonproduction"];

/// The token the fake linkerd puts in the link output of the Linkerd world.
pub const LINKERD_TOKEN: &str = "canary-token-f00dfeed";

/// The Linkerd world: [`CLUSTERS`] simulated with a scenario, the fake linkerd, and a
/// workspace whose mcflow runs the repository's own workflows from the repository root
/// against them (plain output, no colour).
pub struct Linkerd {
    pub sim: Simulator,
    pub ws: Workspace,
}

impl Linkerd {
    pub fn new(scenario: Scenario) -> Linkerd {
        Linkerd::with(scenario, None, LINKERD_TOKEN)
    }

    /// The world after a successful `mcflow run workflows/bootstrap.yaml`.
    pub fn bootstrapped(scenario: Scenario) -> Linkerd {
        let world = Linkerd::new(scenario);
        world
            .mcflow(&["run", "workflows/bootstrap.yaml"])
            .assert_code(0);
        world
    }

    /// Deletes the Link to the hub `internal` on `spoke`, as someone unlinking by hand would.
    pub fn delete_link(&self, spoke: &str) {
        self.sim
            .cluster(spoke)
            .delete(
                "multicluster.linkerd.io/v1alpha3",
                "Link",
                "linkerd-multicluster",
                "internal",
            )
            .expect("delete the Link");
    }

    /// With a simulator seed (for seeded faults) and the token the fake linkerd hands out.
    pub fn with(scenario: Scenario, seed: Option<u64>, token: &str) -> Linkerd {
        Linkerd::build(scenario, seed, token, None)
    }

    /// The world whose kubeconfig names each cluster's context `<prefix><cluster>` (the clusters
    /// keep their names), as a user's kubeconfig often does (`kind-production`, ARNs, ...).
    pub fn with_context_prefix(scenario: Scenario, prefix: &str) -> Linkerd {
        Linkerd::build(scenario, None, LINKERD_TOKEN, Some(prefix))
    }

    fn build(scenario: Scenario, seed: Option<u64>, token: &str, prefix: Option<&str>) -> Linkerd {
        let mut builder = Simulator::builder()
            .clusters(CLUSTERS)
            .scenario(scenario)
            .deployment_ready_delay(Duration::from_millis(50));
        if let Some(seed) = seed {
            builder = builder.seed(seed);
        }
        let sim = builder.start_blocking().expect("simulator starts");
        let ws = Workspace::new();
        let fake_state = ws.path().to_path_buf();
        let kubeconfig = match prefix {
            None => sim.kubeconfig_path().to_path_buf(),
            Some(prefix) => {
                let mut text = std::fs::read_to_string(sim.kubeconfig_path()).expect("kubeconfig");
                for c in CLUSTERS {
                    text = text
                        .replace(
                            &format!("- name: {c}\n  context:"),
                            &format!("- name: {prefix}{c}\n  context:"),
                        )
                        .replace(
                            &format!("current-context: {c}\n"),
                            &format!("current-context: {prefix}{c}\n"),
                        );
                }
                ws.write("kubeconfig-renamed", &text)
            }
        };
        let ws = ws
            .kubeconfig(&kubeconfig)
            .global(&[
                "--linkerd",
                &mcflow_sim::fake_linkerd_bin().display().to_string(),
                "--output",
                "plain",
            ])
            .in_repo_root()
            .no_color()
            .env("FAKE_LINKERD_STATE_DIR", fake_state)
            .env("FAKE_LINKERD_TOKEN", token);
        Linkerd { sim, ws }
    }

    /// `mcflow <args>` against the world.
    pub fn mcflow(&self, args: &[&str]) -> Outcome {
        self.ws.mcflow(args)
    }

    /// The same with more environment (`FAKE_LINKERD_VERSION`, ...).
    pub fn mcflow_with(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut cmd = self.ws.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.ws.run(cmd)
    }

    /// The newest run's journal; every line must parse.
    pub fn journal(&self) -> Vec<Value> {
        self.ws.journal_strict()
    }

    /// Every cluster's resource version, in [`CLUSTERS`] order.
    pub fn resource_versions(&self) -> Vec<u64> {
        CLUSTERS
            .iter()
            .map(|c| self.sim.cluster(c).resource_version())
            .collect()
    }
}

/// A copy of config/clusters.yaml in the world's workspace with `edit` applied; its path.
pub fn edited_config(world: &Linkerd, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(super::workspace::repo_root().join("config/clusters.yaml"))
        .expect("config");
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    world
        .ws
        .write("clusters.yaml", &edited)
        .display()
        .to_string()
}
