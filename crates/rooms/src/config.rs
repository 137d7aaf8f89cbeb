//! [`RoomsConfig`]: what every room of a [`RoomsHub`](crate::RoomsHub) is allowed, and the
//! bounds that keep a room's memory finite whatever its members send (docs/limits.md).

use std::time::Duration;

/// Settings shared by the rooms of one hub. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomsConfig {
    /// Most members a room holds; a join beyond it is refused ([`Room::full`](crate::Room::full)).
    /// Default 1,000.
    pub capacity: usize,
    /// Fixed ticks per second, or `None` for a room without a tick (each input is applied as
    /// it arrives: a chat room). Default `None`.
    pub tick_hz: Option<u32>,
    /// Most inputs a room queues between two ticks; more are dropped and counted
    /// (`inputs_dropped{reason="queue"}`). Default 65,536.
    pub max_queued_inputs: usize,
    /// Most inputs of one member applied in one tick; more are dropped and counted
    /// (`inputs_dropped{reason="rate"}`). Default 8.
    pub max_inputs_per_tick: u16,
    /// Most inputs posted to one loop's rooms from other loops and not yet taken; more are
    /// refused to the poster ([`InputError::Busy`](crate::InputError::Busy)) and counted.
    /// Default 65,536.
    pub max_posted_inputs: usize,
    /// Most bytes rooms may have sent to members of one loop that the loop has not taken yet
    /// (the members' loop is far behind): a room's sends past it are dropped and counted
    /// (`undelivered`), as servercore drops sends to a loop past its `mailbox_limit`.
    /// Default 64 MiB.
    pub max_posted_bytes: usize,
    /// Most operations a session may have waiting while its join is answered by another loop
    /// (inputs, leaves, joins); more are refused ([`InputError::Held`](crate::InputError::Held)).
    /// Default 64.
    pub max_held: usize,
    /// Most timers one room has set at once. Default 1,024.
    pub max_timers: usize,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            capacity: 1000,
            tick_hz: None,
            max_queued_inputs: 65_536,
            max_inputs_per_tick: 8,
            max_posted_inputs: 65_536,
            max_posted_bytes: 64 * 1024 * 1024,
            max_held: 64,
            max_timers: 1024,
        }
    }
}

impl RoomsConfig {
    /// The tick period, if the rooms tick.
    pub fn period(&self) -> Option<Duration> {
        self.tick_hz
            .filter(|&hz| hz > 0)
            .map(|hz| Duration::from_nanos(1_000_000_000 / u64::from(hz)))
    }

    /// What `ServiceConfig::tick` should be for the loops that run these rooms: 1 ms when they
    /// tick (a tick starts at most about a millisecond late) or 100 ms otherwise (timers and
    /// the fallback drain of the inboxes).
    pub fn loop_tick(&self) -> Duration {
        match self.period() {
            Some(_) => Duration::from_millis(1),
            None => Duration::from_millis(100),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let hz20 = RoomsConfig {
            tick_hz: Some(20),
            ..Default::default()
        };
        assert_eq!(hz20.period(), Some(Duration::from_millis(50)));
        assert_eq!(hz20.loop_tick(), Duration::from_millis(1));
        assert_eq!(RoomsConfig::default().period(), None);
        assert_eq!(
            RoomsConfig {
                tick_hz: Some(0),
                ..Default::default()
            }
            .period(),
            None
        );
    }
}
