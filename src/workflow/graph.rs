//! The dependency graph of a workflow's steps: what each step waits for, and the order steps
//! start in.

use std::collections::HashMap;

use super::model::Step;

/// The step indices each step waits for: its `needs`, or the step above it.
pub fn dependencies(steps: &[Step]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.needs {
            Some(needs) => needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect(),
            None if i > 0 => vec![i - 1],
            None => vec![],
        })
        .collect()
}

/// The order steps start in: dependencies first, file order among equals (Kahn's algorithm,
/// smallest index first). Assumes no cycle (validation rejects them).
pub fn execution_order<D: AsRef<[usize]>>(deps: &[D]) -> Vec<usize> {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); deps.len()];
    let mut missing: Vec<usize> = deps.iter().map(|d| d.as_ref().len()).collect();
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds.as_ref() {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..deps.len()).filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            missing[d] -= 1;
            if missing[d] == 0 {
                ready.insert(d);
            }
        }
    }
    order
}
