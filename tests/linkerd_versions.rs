//! The Linkerd workflows on each supported release: bootstrap → verify → unlink on clusters,
//! charts and a CLI of 2.17, 2.18 and 2.19 (what differs is in sim/src/linkerd_version.rs and
//! the README's "Supported Linkerd versions"), and the repository's config adjusted only where a
//! user of that release would adjust it: the chart version in config and the ApplicationSet.

mod support;

use mcflow_sim::{LinkerdVersion, Scenario};
use serde_json::Value;
use support::clusters::{Linkerd, SPOKES, edited_config};

/// config/clusters.yaml and deploy/applicationset.yaml for `version`'s chart; the config's path.
fn config_for(world: &Linkerd, version: LinkerdVersion) -> String {
    let root = support::workspace::repo_root();
    let newest = LinkerdVersion::NEWEST.chart();
    let appset = std::fs::read_to_string(root.join("deploy/applicationset.yaml")).expect("appset");
    assert!(
        appset.contains(newest),
        "the ApplicationSet installs {newest}"
    );
    let appset = world.ws.write(
        "applicationset.yaml",
        &appset.replace(newest, version.chart()),
    );
    edited_config(world, |t| {
        t.replace(
            &format!("version: {newest}"),
            &format!("version: {}", version.chart()),
        )
        .replace(
            "applicationset: deploy/applicationset.yaml",
            &format!("applicationset: {}", appset.display()),
        )
    })
}

/// The Links on a spoke, read at the version its CRD stores.
fn links(world: &Linkerd, spoke: &str, version: LinkerdVersion) -> Vec<Value> {
    let api = version.link_api_version();
    world
        .sim
        .cluster(spoke)
        .list(api, "Link", Some("linkerd-multicluster"), "")
        .expect("links")
}

fn bootstrap_verify_unlink(version: LinkerdVersion) {
    let world = Linkerd::new(
        Scenario::linkerd_fresh()
            .version(version)
            .export_alloy(true),
    );
    let config = config_for(&world, version);
    let env = [("FAKE_LINKERD_VERSION", version.tag())];
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str(), "run"];
        all.extend_from_slice(args);
        world.mcflow_with(&all, &env)
    };
    let out = run(&["workflows/bootstrap.yaml"]);
    out.assert_code(0);
    for spoke in SPOKES {
        let l = links(&world, spoke, version);
        assert_eq!(l.len(), 1, "{version}: one Link on {spoke}");
        assert_eq!(l[0]["apiVersion"], version.link_api_version());
        let mirror =
            world
                .sim
                .cluster(spoke)
                .get("v1", "Endpoints", "monitoring", "alloy-internal");
        assert!(
            mirror.is_some_and(|e| e["subsets"][0]["addresses"][0]["ip"] == "192.0.2.10"),
            "{version}: alloy-internal on {spoke} has the gateway's resolved address"
        );
    }
    // 2.17's `link` brings its own service mirror; from 2.18 the chart's `controllers` run it.
    let controller = if version.has_link_gen() {
        "controller-internal"
    } else {
        "linkerd-service-mirror-internal"
    };
    assert!(
        world
            .sim
            .cluster("production")
            .get("apps/v1", "Deployment", "linkerd-multicluster", controller)
            .is_some()
    );

    let out = run(&["workflows/verify.yaml"]);
    out.assert_code(0);
    let shown = out.all();
    assert!(shown.contains("0 problem(s)"), "{version}: {shown}");
    // This machine cannot resolve the config's gateway host: a warning, not a problem.
    let tcp = shown
        .lines()
        .find(|l| l.contains("TCP tfx-internal.gerega.net:30143 "))
        .unwrap_or_else(|| panic!("{version}: no reachability row: {shown}"));
    assert!(tcp.contains("WARN: does not resolve here"), "{tcp}");
    assert!(
        shown.lines().any(|l| l.starts_with("production")
            && l.contains("gateway internal alive")
            && l.ends_with("ok")),
        "{version}: {shown}"
    );

    run(&["workflows/unlink-spoke.yaml", "--set", "spoke=production"]).assert_code(0);
    assert!(
        links(&world, "production", version).is_empty(),
        "{version}: unlinked"
    );
    assert!(
        world
            .sim
            .cluster("production")
            .get("v1", "Service", "monitoring", "alloy-internal")
            .is_none()
    );
    assert_eq!(
        links(&world, "nonproduction", version).len(),
        1,
        "{version}: the other spoke keeps its Link"
    );
}

#[test]
fn linkerd_2_17_bootstrap_verify_unlink() {
    bootstrap_verify_unlink(LinkerdVersion::V2_17);
}

#[test]
fn linkerd_2_18_bootstrap_verify_unlink() {
    bootstrap_verify_unlink(LinkerdVersion::V2_18);
}

#[test]
fn linkerd_2_19_bootstrap_verify_unlink() {
    bootstrap_verify_unlink(LinkerdVersion::V2_19);
}

/// A gateway address with a port (the seed's `tfx-internal.gerega.net:30143`) resolves to
/// nothing: the service mirror makes no endpoints, the probe fails, and verify says so on the
/// check's row and the gateway's (config validation keeps mcflow from writing such a Link; this
/// is one edited by hand).
#[test]
fn a_gateway_address_with_a_port_leaves_mirrors_without_endpoints() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh().export_alloy(true));
    let production = world.sim.cluster("production");
    production
        .merge_patch(
            LinkerdVersion::NEWEST.link_api_version(),
            "Link",
            "linkerd-multicluster",
            "internal",
            serde_json::json!({"spec": {"gatewayAddress": "tfx-internal.gerega.net:30143"}}),
        )
        .expect("edit the Link");
    assert!(
        production.wait_until(std::time::Duration::from_secs(20), |c| {
            c.get("v1", "Endpoints", "monitoring", "alloy-internal")
                .is_some_and(|e| e["subsets"].as_array().is_none_or(Vec::is_empty))
        })
    );
    let out = world.mcflow(&["run", "workflows/verify.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    let row = |check: &str| {
        shown
            .lines()
            .find(|l| l.starts_with("production ") && l.contains(check))
            .unwrap_or_else(|| panic!("no {check} row: {shown}"))
            .to_string()
    };
    assert!(
        row("multicluster check")
            .contains("× probe services able to communicate with all gateway mirrors"),
        "{shown}"
    );
    assert!(row("gateway internal alive").contains("FAIL"), "{shown}");
    assert!(
        shown.lines().any(|l| l.starts_with("nonproduction ")
            && l.contains("gateway internal alive")
            && l.ends_with("ok")),
        "{shown}"
    );
}

/// Argo CD's resources finalizer: an ApplicationSet without `preserveResourcesOnDeletion` gives
/// its Applications the finalizer, so unlabelling a spoke's cluster secret deletes the extension
/// there and, with its Link CRD, the Link; deploy/applicationset.yaml preserves them.
#[test]
fn unlabelling_a_spoke_keeps_its_link_only_when_the_applicationset_preserves_resources() {
    for preserve in [true, false] {
        let world =
            Linkerd::new(Scenario::linkerd_fresh().preserve_resources_on_deletion(preserve));
        world
            .mcflow(&["run", "workflows/bootstrap.yaml"])
            .assert_code(0);
        let hub = world.sim.cluster("internal");
        let secret = Scenario::argocd_secret_name("production");
        let unlabel = serde_json::json!({"metadata": {"labels": {"spydersoft.io/linkerd-multicluster": null}}});
        hub.merge_patch("v1", "Secret", "argocd", &secret, unlabel)
            .expect("unlabel");
        assert!(hub.wait_until(std::time::Duration::from_secs(20), |c| {
            c.get(
                "argoproj.io/v1alpha1",
                "Application",
                "argocd",
                "linkerd-multicluster-production",
            )
            .is_none()
        }));
        let production = world.sim.cluster("production");
        let link = production.get(
            LinkerdVersion::NEWEST.link_api_version(),
            "Link",
            "linkerd-multicluster",
            "internal",
        );
        assert_eq!(
            link.is_some(),
            preserve,
            "preserveResourcesOnDeletion: {preserve}"
        );
        let other = world.sim.cluster("nonproduction");
        let api = LinkerdVersion::NEWEST.link_api_version();
        assert!(
            other
                .get(api, "Link", "linkerd-multicluster", "internal")
                .is_some()
        );
    }
}
