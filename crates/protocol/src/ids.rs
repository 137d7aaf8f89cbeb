//! The packet ids as Rust constants, each read from [`crate::schema::PACKETS`] at compile time
//! (a name missing from the table does not compile; `ALL` lets a test check that no packet of
//! the table lacks its constant).

use crate::schema::id_of;

macro_rules! ids {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("The id of `", stringify!($name), "` (docs/protocol.md; `schema::PACKETS`).")]
            pub const $name: u16 = id_of(stringify!($name));
        )*
        /// Every constant of this module: (name, id).
        pub const ALL: &[(&str, u16)] = &[$((stringify!($name), $name)),*];
    };
}

ids!(
    ECHO,
    ENTER_ROOM,
    LEAVE_ROOM,
    CHAT,
    CHAT_BROADCAST,
    ROOM_JOINED,
    SERVER_FULL,
    ROOM_FULL,
    RATE_LIMITED,
    ARENA_JOIN,
    ARENA_WELCOME,
    ARENA_INPUT,
    ARENA_SNAPSHOT,
    ARENA_LEAVE,
    REDIRECT,
    ROOM_UNAVAILABLE,
    HELLO,
    HELLO_OK,
    UNAUTHENTICATED,
    SESSION_REPLACED,
    ROOM_FORBIDDEN,
    SEAT_ASK,
    SEAT,
    ACK,
    RESUME,
    RESUMED,
    SEAT_LOST,
    PLAYER_AWAY,
    PLAYER_BACK,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::PACKETS;

    #[test]
    fn every_packet_of_the_table_has_its_constant() {
        assert_eq!(ALL.len(), PACKETS.len());
        for packet in PACKETS {
            assert!(ALL.contains(&(packet.name, packet.id)), "{}", packet.name);
        }
    }
}
