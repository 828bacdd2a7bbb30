//! The Linkerd versions the stand-ins imitate, and what differs between them.
//!
//! Each supported release is pinned to the edge tag it shipped as; every difference below was
//! read in linkerd2 at those tags (notes per item). A scenario picks one version for its control
//! plane and charts; the fake `linkerd` picks its own from `FAKE_LINKERD_VERSION`, as a real
//! operator's CLI can differ from the clusters.

/// A supported Linkerd release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkerdVersion {
    /// 2.17, edge-24.11.8.
    V2_17,
    /// 2.18, edge-25.4.4.
    V2_18,
    /// 2.19, edge-25.10.7.
    V2_19,
}

impl LinkerdVersion {
    /// Every supported version, oldest first.
    pub const ALL: [LinkerdVersion; 3] = [Self::V2_17, Self::V2_18, Self::V2_19];
    /// What the demo and the scenario use unless told otherwise.
    pub const NEWEST: LinkerdVersion = Self::V2_19;

    /// The release's name, `2.17`.
    pub fn release(self) -> &'static str {
        match self {
            Self::V2_17 => "2.17",
            Self::V2_18 => "2.18",
            Self::V2_19 => "2.19",
        }
    }

    /// The edge tag the release shipped as (what `linkerd version` prints).
    pub fn tag(self) -> &'static str {
        match self {
            Self::V2_17 => "edge-24.11.8",
            Self::V2_18 => "edge-25.4.4",
            Self::V2_19 => "edge-25.10.7",
        }
    }

    /// The linkerd-multicluster chart version of that tag on `https://helm.linkerd.io/edge`
    /// (CalVer from the tag: linkerd2 bin/helm-bump-edge @edge-25.4.4).
    pub fn chart(self) -> &'static str {
        match self {
            Self::V2_17 => "2024.11.8",
            Self::V2_18 => "2025.4.4",
            Self::V2_19 => "2025.10.7",
        }
    }

    /// A version from a release (`2.18`), a tag (`edge-25.4.4`, `stable-2.18.1`,
    /// `enterprise-2.19.2`) or a chart version (`2025.4.4`). Edge tags and charts between
    /// releases map to the release whose CLI they have: link-gen arrived at edge-25.3.4 (linkerd2
    /// #13858; the v1alpha3 Link and the chart's `controllers` one tag earlier, #13801, #13770,
    /// so edge-25.3.3 alone is a hybrid, taken as 2.17), the probe-port rule at edge-25.7.1
    /// (#14149).
    pub fn parse(s: &str) -> Option<LinkerdVersion> {
        let s = s.trim().trim_start_matches('v');
        let nums = |t: &str| -> Vec<u32> {
            t.split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()
                .unwrap_or_default()
        };
        let calver = |n: &[u32]| match n {
            [y, m, d] if (*y, *m, *d) >= (25, 7, 1) => Some(Self::V2_19),
            [y, m, d] if (*y, *m, *d) >= (25, 3, 4) => Some(Self::V2_18),
            [y, _, _] if *y >= 24 => Some(Self::V2_17),
            _ => None,
        };
        if let Some(rest) = s.strip_prefix("edge-") {
            return calver(&nums(rest));
        }
        let release = s.rsplit('-').next().unwrap_or(s);
        match nums(release).as_slice() {
            [2, 17, ..] => Some(Self::V2_17),
            [2, 18, ..] => Some(Self::V2_18),
            [2, 19, ..] => Some(Self::V2_19),
            [y, m, d] if *y >= 2024 => calver(&[y - 2000, *m, *d]),
            _ => None,
        }
    }

    /// Whether `multicluster link-gen` exists (and `link`/`unlink` print a deprecation notice):
    /// from edge-25.3.4, multicluster/cmd/root.go and link-gen.go.
    pub fn has_link_gen(self) -> bool {
        self >= Self::V2_18
    }

    /// The Link version the CLI writes: `v1alpha3` from edge-25.3.3 (`LinkAPIGroupVersion`,
    /// multicluster/cmd/link.go @edge-25.4.4), `v1alpha2` before (pkg/k8s/k8s.go
    /// `LinkAPIVersion` @edge-24.11.8).
    pub fn link_api_version(self) -> &'static str {
        if self >= Self::V2_18 {
            "multicluster.linkerd.io/v1alpha3"
        } else {
            "multicluster.linkerd.io/v1alpha2"
        }
    }

    /// The Link CRD versions the chart's link-crd.yaml serves, the storage version first
    /// (multicluster/charts/linkerd-multicluster/templates/link-crd.yaml at each tag).
    pub fn link_crd_versions(self) -> &'static [&'static str] {
        if self >= Self::V2_18 {
            &["v1alpha3", "v1alpha2", "v1alpha1"]
        } else {
            &["v1alpha2", "v1alpha1"]
        }
    }

    /// Whether the chart has the `controllers` value, so spokes run `controller-<hub>` from the
    /// chart (templates/controller/*.yaml from edge-25.3.3).
    pub fn chart_controllers(self) -> bool {
        self >= Self::V2_18
    }

    /// Whether the proxy refuses a connection to a port its Service does not declare, so a
    /// spoke's `probe-<hub>` Service must declare the Link's probe port (edge-25.7.1, #14149).
    pub fn probe_port_rule(self) -> bool {
        self >= Self::V2_19
    }
}

impl std::fmt::Display for LinkerdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.release(), self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::LinkerdVersion::{self, *};

    #[test]
    fn parses_releases_tags_and_charts() {
        for (s, v) in [
            ("2.17", V2_17),
            ("edge-24.11.8", V2_17),
            ("stable-2.17.1", V2_17),
            ("2024.11.8", V2_17),
            ("edge-25.3.3", V2_17),
            ("edge-25.3.4", V2_18),
            ("edge-25.4.4", V2_18),
            ("2025.4.4", V2_18),
            ("enterprise-2.18.0", V2_18),
            ("edge-25.7.1", V2_19),
            ("edge-25.10.7", V2_19),
            ("2.19", V2_19),
            ("2025.10.7", V2_19),
        ] {
            assert_eq!(LinkerdVersion::parse(s), Some(v), "{s}");
        }
        for s in [
            "",
            "2.14",
            "stable-2.14.10",
            "edge-23.10.2",
            "30.12.2",
            "banana",
        ] {
            assert_eq!(LinkerdVersion::parse(s), None, "{s}");
        }
    }

    #[test]
    fn round_trips_its_own_names() {
        for v in LinkerdVersion::ALL {
            assert_eq!(LinkerdVersion::parse(v.tag()), Some(v));
            assert_eq!(LinkerdVersion::parse(v.release()), Some(v));
            assert_eq!(LinkerdVersion::parse(v.chart()), Some(v));
        }
    }
}
