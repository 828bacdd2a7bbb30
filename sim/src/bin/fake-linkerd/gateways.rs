//! `linkerd multicluster gateways`: one row per target cluster this cluster links to
//! (multicluster/cmd/gateways.go @edge-24.11.8, same @edge-25.10.7; table layout
//! cli/table/table.go). Run on the cluster that has the Links. Upstream finds the service mirror
//! pods and their leases, then scrapes each leader's `gateway_alive` and `gateway_latency`
//! metrics; the simulator has no pods, so an Available service mirror Deployment stands for its
//! pod and [`check::gateway_alive`] for the metric.

use std::process::ExitCode;

use mcflow_sim::client::KubeContext;

use crate::check::{self, Link, available, q};
use crate::{Cli, cobra_error, context, version};

/// One row: cluster, alive, number of mirrored services.
struct Row {
    cluster: String,
    alive: bool,
    services: usize,
}

pub fn gateways(cli: &Cli, only: Option<&str>, output: Option<&str>) -> ExitCode {
    let ctx = match context(cli) {
        Ok(c) => c,
        Err(e) => return cobra_error("multicluster gateways", &e.to_string()),
    };
    let extension = ctx
        .list(&format!(
            "/api/v1/namespaces?labelSelector={}",
            q("linkerd.io/extension=multicluster")
        ))
        .unwrap_or_default();
    if extension.is_empty() {
        return cobra_error(
            "multicluster gateways",
            "make sure the linkerd-multicluster extension is installed, using 'linkerd multicluster install' (namespace with label \"linkerd.io/extension: multicluster\" not found)",
        );
    }
    let (_, release) = version();
    let mut rows = match rows(&ctx, release, only) {
        Ok(rows) => rows,
        Err(e) => return cobra_error("multicluster gateways", &e.to_string()),
    };
    rows.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    if output == Some("json") {
        println!("{}", json(&rows));
    } else {
        print!("{}", table(&rows));
    }
    ExitCode::SUCCESS
}

/// A row per Link whose service mirror runs; an API error is the command's error.
fn rows(
    ctx: &KubeContext,
    release: mcflow_sim::LinkerdVersion,
    only: Option<&str>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for l in check::links(ctx, release.link_api_version())? {
        if only.is_none_or(|c| c == l.target) && mirror_running(ctx, &l.target)? {
            rows.push(row(ctx, &l)?);
        }
    }
    Ok(rows)
}

fn mirror_running(ctx: &KubeContext, target: &str) -> anyhow::Result<bool> {
    let selector = q(&format!(
        "component in (service-mirror, controller),mirror.linkerd.io/cluster-name={target}"
    ));
    let deployments = ctx.list(&format!(
        "/apis/apps/v1/namespaces/linkerd-multicluster/deployments?labelSelector={selector}"
    ))?;
    Ok(deployments.iter().any(available))
}

fn row(ctx: &KubeContext, l: &Link) -> anyhow::Result<Row> {
    let selector = q(&format!(
        "mirror.linkerd.io/mirrored-service=true,mirror.linkerd.io/cluster-name={}",
        l.target
    ));
    let services = ctx
        .list(&format!("/api/v1/services?labelSelector={selector}"))?
        .len();
    Ok(Row {
        cluster: l.target.clone(),
        alive: check::gateway_alive(ctx, l)?.is_ok(),
        services,
    })
}

/// The table: CLUSTER and ALIVE left-aligned (at least 7 and 5 wide), NUM_SVC (9) and LATENCY
/// (11) right-aligned, two spaces after every column, the last included.
fn table(rows: &[Row]) -> String {
    let width = rows
        .iter()
        .map(|r| r.cluster.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let line =
        |c: &str, a: &str, n: &str, l: &str| format!("{c:<width$}  {a:<5}  {n:>9}  {l:>11}  \n");
    let mut out = line("CLUSTER", "ALIVE", "NUM_SVC", "LATENCY");
    for r in rows {
        let (alive, latency) = if r.alive {
            ("True", "1ms")
        } else {
            ("False", "-")
        };
        out.push_str(&line(&r.cluster, alive, &r.services.to_string(), latency));
    }
    out
}

/// `-o json`: MarshalIndent of the rows (`null` when there are none).
fn json(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "null".into();
    }
    let v: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"clusterName": r.cluster, "alive": r.alive, "numberOfServices": r.services, "latency": if r.alive { 1 } else { 0 }}))
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
