//! The game logic of `gameserver`, on servercore: the lecture's raw echo ([`echo::Echo`]) and
//! the packet protocol with echo, rooms and chat ([`game::Game`] over
//! [`chat_room::ChatRoom`]s of the `rooms` facility, [`protocol`]); [`cluster`] spreads rooms
//! over several instances through Redis. The binary (`main.rs`) is the command line around
//! them.

pub mod arena;
pub mod chat_room;
pub mod chat_service;
pub mod cluster;
pub mod echo;
pub mod game;
pub mod login;
pub mod protocol;
