//! [`Rules`]: how the arena moves, written once for the server that simulates it and the
//! clients that check it (and may predict it).
//!
//! Positions are fixed-point: [`QUANTA`] steps per unit, `0 <= x, y < size * QUANTA`, `u16` on
//! the wire. The simulation itself runs on these integers, so what a client is sent is exactly
//! the server's state and a delta never drifts from the absolute position.
//!
//! A heading is a byte: 1/256 of a turn, 0 = +x (east), 64 = +y (south: screen coordinates).
//! Each tick an entity moves by `velocity(heading, speed)`:
//!
//! ```text
//!   per_tick = min(speed, max_speed) * QUANTA / tick_hz          (integer division)
//!   vx = (per_tick * COS[heading] + 8192) >> 14                   COS: 16384 * cos, rounded
//!   vy = (per_tick * COS[heading - 64] + 8192) >> 14              (sin = cos shifted a quarter)
//!   x' = clamp(x + vx, 0, size * QUANTA - 1), y' likewise
//! ```
//!
//! Integer arithmetic and a literal table: every client computes the same step bit for bit,
//! whatever its platform's `cos`.

/// Position steps per unit.
pub const QUANTA: u8 = 8;

/// The largest arena side in units: `size * QUANTA` must fit a `u16`.
pub const MAX_SIZE: u16 = (u16::MAX / QUANTA as u16) - 1;

/// The most entities a snapshot may list (`max_in_view`): keeps a snapshot under the 16-bit
/// packet size (see [`crate::arena::snapshot::max_len`]).
pub const MAX_IN_VIEW: u16 = 4096;

/// `16384 * cos(2 pi k / 256)` for `k` in 0..=64, rounded: a quarter turn.
const QUARTER_COS: [i32; 65] = [
    16384, 16379, 16364, 16340, 16305, 16261, 16207, 16143, 16069, 15986, 15893, 15791, 15679,
    15557, 15426, 15286, 15137, 14978, 14811, 14635, 14449, 14256, 14053, 13842, 13623, 13395,
    13160, 12916, 12665, 12406, 12140, 11866, 11585, 11297, 11003, 10702, 10394, 10080, 9760, 9434,
    9102, 8765, 8423, 8076, 7723, 7366, 7005, 6639, 6270, 5897, 5520, 5139, 4756, 4370, 3981, 3590,
    3196, 2801, 2404, 2006, 1606, 1205, 804, 402, 0,
];

/// `16384 * cos(2 pi heading / 256)`, from the quarter table by symmetry.
fn cos_q14(heading: u8) -> i32 {
    let k = usize::from(heading);
    match k {
        0..=64 => QUARTER_COS[k],
        65..=128 => -QUARTER_COS[128 - k],
        129..=192 => -QUARTER_COS[k - 128],
        _ => QUARTER_COS[256 - k],
    }
}

/// An arena's rules, as ARENA_WELCOME tells them (sizes in units, speeds in units per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Simulation steps (and snapshots) per second.
    pub tick_hz: u16,
    /// The arena is `size` x `size` units.
    pub size: u16,
    /// An entity is in view when at most this far (Euclidean, in units).
    pub view_radius: u16,
    /// The fastest an entity moves; faster requests are clamped (and counted).
    pub max_speed: u16,
    /// How close a tagger must be to tag.
    pub tag_radius: u16,
    /// The most entities one snapshot lists (the nearest, when more are in view).
    pub max_in_view: u16,
}

/// A rule that cannot work, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRule(pub &'static str);

impl std::fmt::Display for BadRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BadRule {}

impl Rules {
    /// Checks what a simulation and a snapshot need.
    ///
    /// # Errors
    /// [`BadRule`] naming the first value out of range.
    pub fn check(&self) -> Result<(), BadRule> {
        if !(1..=1000).contains(&self.tick_hz) {
            return Err(BadRule("tick_hz must be 1..=1000"));
        }
        if !(1..=MAX_SIZE).contains(&self.size) {
            return Err(BadRule("size must be 1..=8190 units"));
        }
        if self.view_radius == 0 || self.tag_radius == 0 {
            return Err(BadRule(
                "view_radius and tag_radius must be at least 1 unit",
            ));
        }
        if !(1..=MAX_IN_VIEW).contains(&self.max_in_view) {
            return Err(BadRule("max_in_view must be 1..=4096"));
        }
        Ok(())
    }

    /// One past the largest position on either axis, in quanta.
    pub fn extent(&self) -> i32 {
        i32::from(self.size) * i32::from(QUANTA)
    }

    /// The view radius in quanta, squared (compare with [`Rules::distance2`]).
    pub fn view_radius2(&self) -> i64 {
        let r = i64::from(self.view_radius) * i64::from(QUANTA);
        r * r
    }

    /// The tag radius in quanta, squared.
    pub fn tag_radius2(&self) -> i64 {
        let r = i64::from(self.tag_radius) * i64::from(QUANTA);
        r * r
    }

    /// Squared distance between two positions (quanta).
    pub fn distance2(a: (i32, i32), b: (i32, i32)) -> i64 {
        let dx = i64::from(a.0) - i64::from(b.0);
        let dy = i64::from(a.1) - i64::from(b.1);
        dx * dx + dy * dy
    }

    /// True if `b` is in view of `a`.
    pub fn in_view(&self, a: (i32, i32), b: (i32, i32)) -> bool {
        Rules::distance2(a, b) <= self.view_radius2()
    }

    /// `speed` within the rules.
    pub fn clamp_speed(&self, speed: u16) -> u16 {
        speed.min(self.max_speed)
    }

    /// Quanta per tick at `speed` (clamped).
    pub fn per_tick(&self, speed: u16) -> i32 {
        i32::from(self.clamp_speed(speed)) * i32::from(QUANTA) / i32::from(self.tick_hz.max(1))
    }

    /// The most an entity moves along one axis in one tick.
    pub fn max_step(&self) -> i32 {
        self.per_tick(self.max_speed)
    }

    /// The move of one tick at `heading` and `speed` (clamped), in quanta.
    pub fn velocity(&self, heading: u8, speed: u16) -> (i32, i32) {
        let per_tick = self.per_tick(speed);
        let axis = |cos: i32| (per_tick * cos + 8192) >> 14;
        (
            axis(cos_q14(heading)),
            axis(cos_q14(heading.wrapping_sub(64))),
        )
    }

    /// Where an entity at `pos` is after a tick at velocity `v`: inside the arena.
    pub fn step(&self, pos: (i32, i32), v: (i32, i32)) -> (i32, i32) {
        let max = self.extent() - 1;
        ((pos.0 + v.0).clamp(0, max), (pos.1 + v.1).clamp(0, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            tick_hz: 20,
            size: 1000,
            view_radius: 100,
            max_speed: 120,
            tag_radius: 24,
            max_in_view: 256,
        }
    }

    #[test]
    fn the_table_is_the_cosine() {
        for heading in 0..=255u8 {
            let exact = 16384.0 * (f64::from(heading) * std::f64::consts::TAU / 256.0).cos();
            assert!(
                (f64::from(cos_q14(heading)) - exact).abs() <= 0.5,
                "{heading}"
            );
        }
    }

    #[test]
    fn velocities_point_where_the_heading_says_and_speed_is_clamped() {
        let r = rules();
        assert_eq!(r.per_tick(120), 48);
        assert_eq!(r.velocity(0, 120), (48, 0));
        assert_eq!(r.velocity(64, 120), (0, 48));
        assert_eq!(r.velocity(128, 120), (-48, 0));
        assert_eq!(r.velocity(192, 120), (0, -48));
        assert_eq!(r.velocity(32, 120), (34, 34));
        assert_eq!(r.velocity(0, 60_000), (48, 0), "clamped to max_speed");
        assert_eq!(r.velocity(17, 0), (0, 0));
        for heading in 0..=255u8 {
            let (vx, vy) = r.velocity(heading, u16::MAX);
            assert!(vx.abs() <= r.max_step() && vy.abs() <= r.max_step());
        }
    }

    #[test]
    fn steps_stay_inside() {
        let r = rules();
        assert_eq!(r.step((5, 5), (-48, 10)), (0, 15));
        let max = r.extent() - 1;
        assert_eq!(r.step((max - 1, 0), (48, -1)), (max, 0));
        assert!(r.in_view((0, 0), (800, 0)) && !r.in_view((0, 0), (800, 1)));
    }

    #[test]
    fn bad_rules_are_named() {
        assert_eq!(rules().check(), Ok(()));
        for bad in [
            Rules {
                tick_hz: 0,
                ..rules()
            },
            Rules {
                size: MAX_SIZE + 1,
                ..rules()
            },
            Rules {
                view_radius: 0,
                ..rules()
            },
            Rules {
                max_in_view: MAX_IN_VIEW + 1,
                ..rules()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(u32::from(MAX_SIZE) * u32::from(QUANTA) <= u32::from(u16::MAX));
    }
}
