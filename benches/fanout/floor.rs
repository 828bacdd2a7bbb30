//! The floor of figure 5c: the CPU that linking a spoke costs a bare Rust program that does
//! only what link-spoke.yaml asks of the clusters, with the libraries mcflow is built on (kube-rs
//! for the API, duct for the linkerd CLI, serde-saphyr for the manifest), and nothing of
//! mcflow's own: no workflow, templates, scheduler, journal, redactor or reports.
//!
//! Per spoke, as link-spoke.yaml does it: `linkerd version`, the hub's remote-access
//! ServiceAccount and token Secret (two gets; all spokes' first, one after the other, over one
//! connection), `linkerd multicluster link-gen` on the hub, a
//! client for the spoke (its TLS handshake), the manifest read and each object applied
//! server-side, the service-mirror Deployment read once (the bench re-links spokes already
//! linked: the wait is over at its first look), the Link and the probe Service read, and
//! `linkerd multicluster check` on the spoke. Every spoke at once, on a two-worker tokio runtime,
//! as mcflow runs them with `--max-parallel 50`. The same API requests as mcflow makes: the
//! Link's group-version discovered before it is applied, and the API groups listed for the
//! Link read by kind alone (link-spoke names no version: it is v1alpha2 up to Linkerd 2.17,
//! v1alpha3 after); built-in kinds are named from a table, as mcflow names them.
//!
//! Not mcflow's: kube's own client speaks HTTP/1.1 (mcflow's, `src/kube/http.rs`, HTTP/2), so
//! the floor reads the hub's accounts one after the other over one connection, where parallel
//! reads would each open one (a TLS handshake each).
//!
//! It runs as a child process of the bench (`--floor-child`), so that its CPU is its own: the
//! simulator runs in the bench's process, the linkerd processes are its children.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};

const FLAG: &str = "--floor-child";
const HUB: &str = "internal";
const NAMESPACE: &str = "linkerd-multicluster";

/// The floor's CPU seconds linking `spokes` spokes (the process's own, its children apart).
pub fn measure(dir: &Path, linkerd: &Path, kubeconfig: &Path, spokes: usize) -> f64 {
    let out = Command::new(std::env::current_exe().expect("the bench's own path"))
        .arg(FLAG)
        .arg(kubeconfig)
        .arg(linkerd)
        .arg(spokes.to_string())
        .current_dir(dir)
        .env("FAKE_LINKERD_STATE_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("the floor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the floor failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("floor_cpu_us="))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|us| us / 1e6)
        .expect("the floor prints its CPU")
}

/// In the child (`--floor-child <kubeconfig> <linkerd> <spokes>`): links the spokes, prints the
/// process's CPU, and returns true. Anywhere else: false.
pub fn child_main() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == FLAG) else {
        return false;
    };
    let kubeconfig = PathBuf::from(&args[at + 1]);
    let linkerd = PathBuf::from(&args[at + 2]);
    let spokes: usize = args[at + 3].parse().expect("a number of spokes");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(link_all(&kubeconfig, &linkerd, spokes));
    drop(rt);
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let us = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    println!("floor_cpu_us={us}");
    true
}

async fn link_all(kubeconfig: &Path, linkerd: &Path, spokes: usize) {
    let kc = Kubeconfig::read_from(kubeconfig).expect("the kubeconfig");
    // The hub's accounts first, one spoke after the other: kube's client speaks HTTP/1.1, and
    // parallel requests would each open a connection (a TLS handshake each) where mcflow's
    // HTTP/2 shares one.
    let hub = client(&kc, HUB).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(hub.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(hub, NAMESPACE);
    for i in 0..spokes {
        let account = account(&super::spoke(i));
        assert!(accounts.get_opt(&account).await.expect("get").is_some());
        let token = format!("{account}-token");
        assert!(secrets.get_opt(&token).await.expect("get").is_some());
    }
    let links = (0..spokes).map(|i| {
        let spoke = super::spoke(i);
        let kc = &kc;
        async move { link(kc, kubeconfig, linkerd, &spoke).await }
    });
    futures::future::join_all(links).await;
}

fn account(spoke: &str) -> String {
    format!("linkerd-service-mirror-remote-access-{spoke}")
}

/// A client for `context`, from that context's own entries (a copy of the whole kubeconfig per
/// spoke would grow with the number of spokes).
async fn client(kc: &Kubeconfig, context: &str) -> kube::Client {
    let named = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .expect("context");
    let ctx = named.context.as_ref().expect("context entry");
    let own = Kubeconfig {
        current_context: Some(context.to_string()),
        contexts: vec![named.clone()],
        clusters: kc
            .clusters
            .iter()
            .filter(|c| c.name == ctx.cluster)
            .cloned()
            .collect(),
        auth_infos: kc
            .auth_infos
            .iter()
            .filter(|u| Some(&u.name) == ctx.user.as_ref())
            .cloned()
            .collect(),
        ..Kubeconfig::default()
    };
    let config = kube::Config::from_custom_kubeconfig(own, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    kube::Client::try_from(config).expect("a client")
}

async fn link(kc: &Kubeconfig, kubeconfig: &Path, linkerd: &Path, spoke: &str) {
    let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
    run(linkerd, &["version", "--client", "--short"]).await;
    let account = account(spoke);

    let manifest = run(
        linkerd,
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            HUB,
            "multicluster",
            "link-gen",
            "--cluster-name",
            HUB,
            "--gateway-addresses",
            "127.0.0.1",
            "--service-account-name",
            &account,
        ],
    )
    .await;

    let client = client(kc, spoke).await;
    // What mcflow's discovery asks of each spoke (src/kube/discovery.rs): the resources of the
    // Link's group-version, for the apply, and the API groups, for the read by kind alone.
    client
        .list_api_group_resources("multicluster.linkerd.io/v1alpha3")
        .await
        .expect("discovery");
    client.list_api_groups().await.expect("discovery");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&manifest).expect("YAML");
    let params = PatchParams::apply("mcflow");
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let object: DynamicObject = serde_json::from_value(doc).expect("an object");
        let types = object.types.as_ref().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(types).expect("a group, version and kind");
        let resource = ApiResource::from_gvk(&gvk);
        let api: Api<DynamicObject> = match &object.metadata.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let name = object.metadata.name.clone().expect("a name");
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .expect("apply");
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let controller = deployments
        .get(&format!("controller-{HUB}"))
        .await
        .expect("the service mirror");
    let available = controller
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True"));
    assert!(available, "the service mirror of {spoke} is not available");
    let link = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "multicluster.linkerd.io",
        "v1alpha3",
        "Link",
    ));
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &link)
        .get(HUB)
        .await
        .expect("the Link");
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .get_opt(&format!("probe-{HUB}"))
        .await
        .expect("get");

    run(
        linkerd,
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            spoke,
            "multicluster",
            "check",
        ],
    )
    .await;
}

/// Runs the linkerd CLI as mcflow does (src/run/process.rs): through duct, both pipes read on
/// the reactor, reaped once they end. Its stdout.
async fn run(linkerd: &Path, args: &[&str]) -> String {
    use tokio::io::AsyncReadExt;
    let read = |r: os_pipe::PipeReader| async move {
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())
            .expect("a pipe on the reactor");
        let mut text = String::new();
        pipe.read_to_string(&mut text).await.expect("read");
        text
    };
    let (out_r, out_w) = os_pipe::pipe().expect("pipe");
    let (err_r, err_w) = os_pipe::pipe().expect("pipe");
    let expr = duct::cmd(linkerd, args)
        .stdin_null()
        .stdout_file(out_w)
        .stderr_file(err_w)
        .unchecked();
    let handle = expr.start().expect("linkerd starts");
    drop(expr);
    let (stdout, stderr) = tokio::join!(read(out_r), read(err_r));
    let status = match handle.try_wait().expect("reap linkerd") {
        Some(output) => output.status,
        None => tokio::task::spawn_blocking(move || handle.wait().map(|o| o.status))
            .await
            .expect("join")
            .expect("wait for linkerd"),
    };
    assert!(status.success(), "linkerd {args:?}: {stderr}");
    stdout
}
