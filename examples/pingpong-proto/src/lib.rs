//! The messages `ping` and `pong` exchange: plain serde types, shared by
//! both actors (and by any client that wants to drive them), so the two
//! sides cannot disagree on the wire format.
//!
//! The wire format is postcard; variant and field order are part of it.

use serde::{Deserialize, Serialize};

/// Init arguments of `ping`. Started without arguments, `ping` plays 1000
/// rounds with the actor registered as `pong`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PingArgs {
    /// The name of the peer to play with (`name` or `name@node`).
    pub peer: String,
    /// Round trips in the first exchange.
    pub rounds: u64,
}

impl Default for PingArgs {
    fn default() -> Self {
        PingArgs {
            peer: "pong".to_owned(),
            rounds: 1000,
        }
    }
}

/// Messages `ping` handles.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PingMsg {
    /// Start the exchange (or retry, while the peer is not there yet).
    Start,
    /// The peer's answer to `PongMsg::Ping { n }`.
    Pong { n: u64 },
}

/// Calls `ping` answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PingRequest {
    /// Replies with the round trips completed so far (`u64`).
    Rounds,
    /// Plays `rounds` more round trips and replies, once they are done, with
    /// the total completed (`u64`). A `Run` that arrives while an exchange
    /// is running waits for that exchange instead.
    Run { rounds: u64 },
}

/// Messages `pong` handles.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PongMsg {
    /// Answered with `PingMsg::Pong { n }`, sent back to the sender.
    Ping { n: u64 },
}

/// Calls `pong` answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PongRequest {
    /// Replies with the pings received so far (`u64`).
    Count,
}
