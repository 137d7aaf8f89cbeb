//! [`Grid`]: entities by cell. Cells are half the view radius wide, so the entities within the
//! radius of a point are in its cell and the 2 cells around it on every side: a query looks
//! at 5 x 5 cells, whatever the number of entities elsewhere (an area of 6.25 r² checked for
//! the circle's 3.14 r²; cells as wide as the radius would check 9 r²).
//!
//! ```text
//!   +--+--+--+--+--+
//!   |  |  |. |  |  |     a query at `o` with radius <= 2 cell sides visits these 25 cells
//!   +--+--+--+--+--+     and keeps the entries within the radius
//!   |  |. |  |. |  |
//!   +--+--+--+--+--+
//!   |  |  |o |  |. |
//!   +--+--+--+--+--+
//!   ...
//! ```
//!
//! Each cell keeps its entries' positions and a payload of the caller's (what a query hands
//! on: the entity's state to send) in one contiguous array; a move within a cell rewrites the
//! entry in place, a move across cells is a swap-remove and a push. Bounded: at most
//! [`MAX_CELLS_PER_SIDE`] cells a side (a tiny radius in a huge arena gets larger cells; a
//! query still covers the radius).

/// Most cells along one side.
pub const MAX_CELLS_PER_SIDE: i32 = 256;

/// No place: the id is not in the grid.
const NOWHERE: (u32, u32) = (u32::MAX, u32::MAX);

/// Cells a query looks at on each side of the center cell (the radius is at most this many
/// cell sides).
const SPAN: i32 = 2;

/// One entity in a cell, with the caller's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<T> {
    pub id: u32,
    pub x: i32,
    pub y: i32,
    pub data: T,
}

/// A uniform grid over `0..width` x `0..height`, entries carrying a `T`.
#[derive(Debug, Clone)]
pub struct Grid<T = ()> {
    cell: i32,
    cols: i32,
    rows: i32,
    cells: Vec<Vec<Entry<T>>>,
    /// By id: (cell, index in the cell), or [`NOWHERE`].
    place: Vec<(u32, u32)>,
    len: usize,
}

impl<T: Copy> Grid<T> {
    /// A grid over `width` x `height` for queries of up to `radius` (all at least 1).
    pub fn new(width: i32, height: i32, radius: i32) -> Grid<T> {
        let (width, height) = (width.max(1), height.max(1));
        let widest = width.max(height);
        let cell = ((radius.max(1) + SPAN - 1) / SPAN)
            .max((widest + MAX_CELLS_PER_SIDE - 1) / MAX_CELLS_PER_SIDE);
        let cols = (width + cell - 1) / cell;
        let rows = (height + cell - 1) / cell;
        Grid {
            cell,
            cols,
            rows,
            cells: vec![Vec::new(); (cols * rows) as usize],
            place: Vec::new(),
            len: 0,
        }
    }

    /// The side of a cell (a query covers up to twice it).
    pub fn cell_size(&self) -> i32 {
        self.cell
    }

    /// Entities in the grid.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if `id` is in the grid.
    pub fn contains(&self, id: u32) -> bool {
        self.place.get(id as usize).is_some_and(|&p| p != NOWHERE)
    }

    fn cell_xy(&self, x: i32, y: i32) -> (i32, i32) {
        (
            (x / self.cell).clamp(0, self.cols - 1),
            (y / self.cell).clamp(0, self.rows - 1),
        )
    }

    fn cell_of(&self, x: i32, y: i32) -> u32 {
        let (cx, cy) = self.cell_xy(x, y);
        (cy * self.cols + cx) as u32
    }

    /// Puts `id` at (`x`, `y`) with `data`, moving it if it is in the grid already.
    pub fn insert(&mut self, id: u32, x: i32, y: i32, data: T) {
        if self.contains(id) {
            return self.update(id, x, y, data);
        }
        let at = id as usize;
        if self.place.len() <= at {
            self.place.resize(at + 1, NOWHERE);
        }
        let cell = self.cell_of(x, y);
        self.place[at] = self.push(cell, Entry { id, x, y, data });
        self.len += 1;
    }

    fn push(&mut self, cell: u32, entry: Entry<T>) -> (u32, u32) {
        let list = &mut self.cells[cell as usize];
        list.push(entry);
        (cell, (list.len() - 1) as u32)
    }

    /// Moves `id` (in the grid) to (`x`, `y`) with `data`; nothing if it is not in the grid.
    pub fn update(&mut self, id: u32, x: i32, y: i32, data: T) {
        let Some(&(cell, index)) = self.place.get(id as usize).filter(|&&p| p != NOWHERE) else {
            return;
        };
        let to = self.cell_of(x, y);
        if to == cell {
            let entry = &mut self.cells[cell as usize][index as usize];
            (entry.x, entry.y, entry.data) = (x, y, data);
            return;
        }
        self.take_out(cell, index);
        self.place[id as usize] = self.push(to, Entry { id, x, y, data });
    }

    /// Removes `id`; false if it was not in the grid.
    pub fn remove(&mut self, id: u32) -> bool {
        let Some(&(cell, index)) = self.place.get(id as usize).filter(|&&p| p != NOWHERE) else {
            return false;
        };
        self.take_out(cell, index);
        self.place[id as usize] = NOWHERE;
        self.len -= 1;
        true
    }

    /// Swap-removes entry `index` of `cell`, fixing the place of the entry moved into it.
    fn take_out(&mut self, cell: u32, index: u32) {
        let list = &mut self.cells[cell as usize];
        list.swap_remove(index as usize);
        if let Some(moved) = list.get(index as usize) {
            self.place[moved.id as usize] = (cell, index);
        }
    }

    /// Calls `f(cell)` with the entries of each cell a query at (`x`, `y`) looks at.
    pub fn cells_around(&self, x: i32, y: i32, mut f: impl FnMut(&[Entry<T>])) {
        let (cx, cy) = self.cell_xy(x, y);
        for row in (cy - SPAN).max(0)..=(cy + SPAN).min(self.rows - 1) {
            for col in (cx - SPAN).max(0)..=(cx + SPAN).min(self.cols - 1) {
                f(&self.cells[(row * self.cols + col) as usize]);
            }
        }
    }

    /// Calls `f(entry, squared distance)` for every entry within `radius2` (squared) of
    /// (`x`, `y`), the entity standing there included. The radius must not exceed the one
    /// the grid was made for (two cell sides).
    pub fn query(&self, x: i32, y: i32, radius2: i64, mut f: impl FnMut(&Entry<T>, i64)) {
        let reach = i64::from(self.cell) * i64::from(SPAN);
        debug_assert!(radius2 <= reach * reach);
        self.cells_around(x, y, |cell| {
            for entry in cell {
                let dx = i64::from(entry.x - x);
                let dy = i64::from(entry.y - y);
                let d2 = dx * dx + dy * dy;
                if d2 <= radius2 {
                    f(entry, d2);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids within `r` of (x, y), by brute force over `points`.
    fn brute(points: &[(u32, i32, i32)], x: i32, y: i32, r: i64) -> Vec<u32> {
        let mut ids: Vec<u32> = points
            .iter()
            .filter(|&&(_, px, py)| {
                let (dx, dy) = (i64::from(px - x), i64::from(py - y));
                dx * dx + dy * dy <= r * r
            })
            .map(|p| p.0)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn query(grid: &Grid, x: i32, y: i32, r: i64) -> Vec<u32> {
        let mut ids = Vec::new();
        grid.query(x, y, r * r, |e, _| ids.push(e.id));
        ids.sort_unstable();
        ids
    }

    #[test]
    fn queries_find_exactly_what_brute_force_finds_through_moves_and_removals() {
        let mut grid = Grid::new(1000, 800, 50);
        let mut points: Vec<(u32, i32, i32)> = Vec::new();
        let mut seed = 12345u64;
        let mut next = |n: i32| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % n as u64) as i32
        };
        for id in 0..400 {
            let (x, y) = (next(1000), next(800));
            grid.insert(id, x, y, ());
            points.push((id, x, y));
        }
        for round in 0..5 {
            for p in points.iter_mut() {
                p.1 = (p.1 + next(61) - 30).clamp(0, 999);
                p.2 = (p.2 + next(61) - 30).clamp(0, 799);
                grid.update(p.0, p.1, p.2, ());
            }
            if round == 2 {
                for id in (0..400).step_by(3) {
                    assert!(grid.remove(id));
                }
                points.retain(|p| p.0 % 3 != 0);
            }
            for &(_, x, y) in points.iter().take(50) {
                assert_eq!(query(&grid, x, y, 50), brute(&points, x, y, 50));
            }
        }
        assert_eq!(grid.len(), points.len());
        assert!(!grid.remove(0) && !grid.contains(0) && grid.contains(1));
    }

    #[test]
    fn edges_and_the_cell_bound() {
        let mut grid = Grid::new(100, 100, 10);
        grid.insert(1, 0, 0, ());
        grid.insert(2, 99, 99, ());
        grid.insert(1, 5, 5, ()); // again: a move
        assert_eq!(grid.len(), 2);
        assert_eq!(query(&grid, 0, 0, 10), vec![1]);
        assert_eq!(query(&grid, 99, 99, 10), vec![2]);
        let huge: Grid = Grid::new(1_000_000, 1_000_000, 1);
        assert!(huge.cell_size() >= 1_000_000 / MAX_CELLS_PER_SIDE);
        assert!(huge.cells.len() <= (MAX_CELLS_PER_SIDE * MAX_CELLS_PER_SIDE) as usize);
    }
}
