//! Which steps of a level can be decided next (started, or blocked by a failure): those whose
//! dependencies are all done. Found by counting, not by scanning the level: a scan of every
//! step on each turn of the scheduler's loop made a chain of n steps cost n² checks (at 2,000
//! steps, a third of mcflow's instructions; docs/PERFORMANCE.md, issue 18).

use std::collections::BTreeSet;

pub(super) struct Readiness {
    /// For each step, the steps that need it.
    dependents: Vec<Vec<usize>>,
    /// For each step, how many of its dependencies are not done yet.
    waiting_on: Vec<usize>,
    /// Steps whose dependencies are all done, not decided yet.
    ready: BTreeSet<usize>,
}

impl Readiness {
    /// `deps[i]`: the steps step `i` needs.
    pub(super) fn new(deps: &[Vec<usize>]) -> Readiness {
        let mut dependents = vec![Vec::new(); deps.len()];
        for (i, needs) in deps.iter().enumerate() {
            for &d in needs {
                dependents[d].push(i);
            }
        }
        Readiness {
            dependents,
            waiting_on: deps.iter().map(Vec::len).collect(),
            ready: (0..deps.len()).filter(|&i| deps[i].is_empty()).collect(),
        }
    }

    /// Step `i` is done (once): the steps that need it may be ready.
    pub(super) fn done(&mut self, i: usize) {
        for &d in &self.dependents[i] {
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 {
                self.ready.insert(d);
            }
        }
    }

    /// The ready steps, taken to be decided in index order.
    pub(super) fn take(&mut self) -> BTreeSet<usize> {
        std::mem::take(&mut self.ready)
    }

    /// The steps after `i` that became ready while `i` was decided: in the same pass, as a scan
    /// of the steps in index order would find them (the journal's order of events is the one a
    /// scan gives); those before `i` wait for the next pass.
    pub(super) fn take_after(&mut self, i: usize) -> BTreeSet<usize> {
        self.ready.split_off(&(i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_ready_once_all_it_needs_is_done() {
        // 0 → 1 → 3, 0 → 2 → 3, and 4 on its own; 3 needs 1 twice (counted twice, freed twice).
        let mut r = Readiness::new(&[vec![], vec![0], vec![0], vec![1, 2, 1], vec![]]);
        assert_eq!(r.take(), BTreeSet::from([0, 4]));
        r.done(0);
        assert_eq!(r.take(), BTreeSet::from([1, 2]));
        r.done(1);
        assert!(r.take().is_empty());
        r.done(2);
        assert_eq!(r.take_after(2), BTreeSet::from([3]));
        assert_eq!(r.take_after(3), BTreeSet::new());
    }
}
