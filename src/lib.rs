//! mcflow: run YAML workflows that set up and check Linkerd multicluster.
