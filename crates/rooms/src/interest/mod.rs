//! Interest management: each member is sent only what it can see, as a delta against what it
//! was last sent. Three pieces, generic over the game's entity state:
//!
//! - [`Grid`]: a uniform spatial grid with cells as wide as the view radius, so the entities
//!   within the radius of any point are in the 3 x 3 cells around it (Mirror's spatial-hash
//!   interest management);
//! - [`View`]: what one member was last sent — (entity id, state) of each entity in its view;
//! - [`Interest`]: a member's new candidates (from a grid query) against its [`View`]: the
//!   nearest `max` are kept, and every difference goes to a [`ViewSink`] as `left`, `entered`
//!   or `changed` (`left` first, so an id reused in the same tick is never ambiguous). No
//!   sorting and no allocation per member once warm: marks in arrays indexed by entity id.
//!
//! The sink is the game's snapshot writer: it encodes each difference straight into the
//! member's pooled send buffer.

mod grid;
mod view;

pub use grid::{Entry, Grid, MAX_CELLS_PER_SIDE};
pub use view::{Candidate, Changes, Interest, View, ViewSink};
