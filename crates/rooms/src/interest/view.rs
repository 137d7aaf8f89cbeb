//! [`View`] and [`Interest`]: what a member was last sent, and the difference against what it
//! should see now.
//!
//! ```text
//!   candidates (grid query, nearest `max` kept)      view (last sent)
//!        ids marked "new" this round  ──┐      ┌── ids marked "old" (with their index)
//!                                       v      v
//!   1. every old id not new ........................ sink.left(id)
//!   2. every candidate: old and changed ............ sink.changed(id, old, new)
//!                       not old .................... sink.entered(id, state)
//!   3. the view becomes the candidates
//! ```
//!
//! Marks are stamps in one array indexed by entity id (kept across members and ticks): no
//! sorting, no hashing, no allocation once the arrays have grown to the largest id.

use super::grid::Grid;

/// One entity a member could see, with its squared distance (to keep the nearest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Candidate<S> {
    pub id: u32,
    pub dist2: i64,
    pub state: S,
}

/// What one member was last sent: (entity id, state) of each entity in its view.
#[derive(Debug, Clone)]
pub struct View<S> {
    entries: Vec<(u32, S)>,
}

impl<S> Default for View<S> {
    fn default() -> Self {
        View {
            entries: Vec::new(),
        }
    }
}

impl<S> View<S> {
    /// The entities in view, as last sent.
    pub fn entries(&self) -> &[(u32, S)] {
        &self.entries
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the member sees nobody.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where the differences go (the game's snapshot writer).
pub trait ViewSink<S> {
    /// `id` is no longer in view (all of these come first).
    fn left(&mut self, id: u32);
    /// `id` came into view in `state`.
    fn entered(&mut self, id: u32, state: &S);
    /// `id`, in view before and now, went from `old` to `new` (only called when they differ).
    fn changed(&mut self, id: u32, old: &S, new: &S);
}

/// How many differences one [`Interest::diff`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    pub left: usize,
    pub entered: usize,
    pub changed: usize,
    /// Entities in view afterwards.
    pub in_view: usize,
}

/// What one diff knows of one entity id: in one place, so each look is one cache line.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// The stamp of the diff that saw it in the view, and its index there.
    old: u32,
    at: u32,
    /// The stamp of the diff that had it as a candidate.
    new: u32,
}

/// The scratch space that diffs one member's view after another (one per room).
#[derive(Debug, Clone)]
pub struct Interest<S> {
    stamp: u32,
    /// By entity id.
    marks: Vec<Mark>,
    /// The largest id pushed so far.
    highest: u32,
    candidates: Vec<Candidate<S>>,
    next: Vec<(u32, S)>,
}

impl<S> Default for Interest<S> {
    fn default() -> Self {
        Interest {
            stamp: 0,
            marks: Vec::new(),
            highest: 0,
            candidates: Vec::new(),
            next: Vec::new(),
        }
    }
}

impl<S: Copy + PartialEq> Interest<S> {
    /// Adds a candidate for the member being diffed (e.g. from [`super::Grid::query`]).
    pub fn push(&mut self, candidate: Candidate<S>) {
        self.highest = self.highest.max(candidate.id);
        self.candidates.push(candidate);
    }

    /// Candidates pushed so far.
    pub fn candidates(&self) -> &[Candidate<S>] {
        &self.candidates
    }

    /// Forgets the candidates (if a diff is abandoned).
    pub fn clear(&mut self) {
        self.candidates.clear();
    }

    /// Diffs the candidates pushed since the last diff against `view`: keeps the nearest
    /// `max`, tells `sink` every difference (leaves first), and makes `view` the new set.
    /// `view` must have been built by this `Interest` (every id in it was pushed here), as a
    /// room's views are by the room's one `Interest`.
    pub fn diff(&mut self, view: &mut View<S>, max: usize, sink: &mut impl ViewSink<S>) -> Changes {
        if self.candidates.len() > max {
            if max > 0 {
                self.candidates
                    .select_nth_unstable_by_key(max - 1, |c| c.dist2);
            }
            self.candidates.truncate(max);
        }
        self.next_stamp();
        self.cover();
        let stamp = self.stamp;
        for (at, &(id, _)) in view.entries.iter().enumerate() {
            let mark = &mut self.marks[id as usize];
            (mark.old, mark.at) = (stamp, at as u32);
        }
        for c in &self.candidates {
            self.marks[c.id as usize].new = stamp;
        }
        let mut changes = Changes::default();
        for &(id, _) in &view.entries {
            if self.marks[id as usize].new != stamp {
                sink.left(id);
                changes.left += 1;
            }
        }
        self.next.clear();
        for c in self.candidates.drain(..) {
            let mark = self.marks[c.id as usize];
            if mark.old == stamp {
                let old = &view.entries[mark.at as usize].1;
                if *old != c.state {
                    sink.changed(c.id, old, &c.state);
                    changes.changed += 1;
                }
            } else {
                sink.entered(c.id, &c.state);
                changes.entered += 1;
            }
            self.next.push((c.id, c.state));
        }
        std::mem::swap(&mut view.entries, &mut self.next);
        changes.in_view = view.entries.len();
        changes
    }

    /// A fresh stamp (after 2^32 - 1 diffs the marks are cleared and stamps start over).
    fn next_stamp(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = Mark::default());
            self.stamp = 1;
        }
    }

    /// Makes the marks cover every id pushed so far (a view holds only ids that were pushed).
    fn cover(&mut self) {
        let len = self.highest as usize + 1;
        if len > self.marks.len() {
            self.marks.resize(len, Mark::default());
        }
    }

    /// Adds the entries of `grid` within `radius2` (squared) of (`x`, `y`), but `skip` (the
    /// member itself), as candidates, their payload as their state. A branch-free filter: on
    /// a dense grid about half the entries looked at are out of reach, a branch each would be
    /// mispredicted half the time.
    pub fn gather(&mut self, grid: &Grid<S>, x: i32, y: i32, radius2: i64, skip: u32)
    where
        S: Default,
    {
        grid.cells_around(x, y, |cell| {
            let mut len = self.candidates.len();
            self.candidates
                .resize(len + cell.len(), Candidate::default());
            for entry in cell {
                let (dx, dy) = (i64::from(entry.x - x), i64::from(entry.y - y));
                let dist2 = dx * dx + dy * dy;
                self.candidates[len] = Candidate {
                    id: entry.id,
                    dist2,
                    state: entry.data,
                };
                len += usize::from((dist2 <= radius2) & (entry.id != skip));
                self.highest = self.highest.max(entry.id);
            }
            self.candidates.truncate(len);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Log(Vec<String>);

    impl ViewSink<u8> for Log {
        fn left(&mut self, id: u32) {
            self.0.push(format!("-{id}"));
        }
        fn entered(&mut self, id: u32, state: &u8) {
            self.0.push(format!("+{id}={state}"));
        }
        fn changed(&mut self, id: u32, old: &u8, new: &u8) {
            self.0.push(format!("~{id}:{old}>{new}"));
        }
    }

    fn diff(
        interest: &mut Interest<u8>,
        view: &mut View<u8>,
        now: &[(u32, i64, u8)],
        max: usize,
    ) -> Vec<String> {
        for &(id, dist2, state) in now {
            interest.push(Candidate { id, dist2, state });
        }
        let mut log = Log::default();
        let changes = interest.diff(view, max, &mut log);
        assert_eq!(changes.in_view, view.len());
        log.0
    }

    #[test]
    fn enters_changes_and_leaves_with_leaves_first() {
        let (mut interest, mut view) = (Interest::default(), View::default());
        assert_eq!(
            diff(&mut interest, &mut view, &[(1, 0, 5), (2, 0, 6)], 10),
            ["+1=5", "+2=6"]
        );
        assert_eq!(
            diff(&mut interest, &mut view, &[(2, 0, 6), (1, 0, 5)], 10),
            Vec::<String>::new()
        );
        assert_eq!(
            diff(&mut interest, &mut view, &[(3, 0, 1), (2, 0, 7)], 10),
            ["-1", "+3=1", "~2:6>7"]
        );
        assert_eq!(diff(&mut interest, &mut view, &[], 10), ["-3", "-2"]);
        assert!(view.is_empty());
    }

    #[test]
    fn keeps_the_nearest_when_over_the_bound() {
        let (mut interest, mut view) = (Interest::default(), View::default());
        let now = [(1, 50, 0), (2, 10, 0), (3, 30, 0), (4, 20, 0)];
        let mut got = diff(&mut interest, &mut view, &now, 2);
        got.sort();
        assert_eq!(got, ["+2=0", "+4=0"]);
        assert!(
            diff(&mut interest, &mut view, &now, 0).len() == 2,
            "max 0: both leave"
        );
    }

    #[test]
    fn gather_keeps_what_is_in_reach_but_the_member() {
        let mut grid: Grid<u8> = Grid::new(100, 100, 10);
        for (id, x, y) in [
            (0, 50, 50),
            (1, 55, 50),
            (2, 50, 61),
            (3, 90, 90),
            (4, 42, 44),
        ] {
            grid.insert(id, x, y, id as u8);
        }
        let mut interest = Interest::default();
        interest.gather(&grid, 50, 50, 100, 0);
        let mut got: Vec<(u32, i64, u8)> = interest
            .candidates()
            .iter()
            .map(|c| (c.id, c.dist2, c.state))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [(1, 25, 1), (4, 100, 4)]);
        let mut view = View::default();
        let mut log = Log::default();
        interest.diff(&mut view, 8, &mut log);
        assert_eq!(view.len(), 2);
    }

    #[test]
    fn many_members_share_one_interest() {
        let mut interest = Interest::default();
        let (mut a, mut b) = (View::default(), View::default());
        diff(&mut interest, &mut a, &[(1, 0, 1)], 4);
        diff(&mut interest, &mut b, &[(1, 0, 1), (2, 0, 2)], 4);
        assert_eq!(
            diff(&mut interest, &mut a, &[(1, 0, 1)], 4),
            Vec::<String>::new()
        );
        assert_eq!(diff(&mut interest, &mut b, &[(2, 0, 2)], 4), ["-1"]);
    }
}
