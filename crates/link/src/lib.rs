//! The host link: byte transports and the host session.
//!
//! - [`Transport`]: serial port ([`SerialTransport`], pseudo-terminals included), in-process
//!   virtual head in real time ([`VirtualTransport`]) or in lockstep virtual time
//!   ([`LockstepTransport`]).
//! - [`HostCore`] / [`HostLink`]: handshake, command stream on its own clock, telemetry,
//!   statistics, disconnect detection and reconnect, host-side limits, smooth handover.
//! - [`pty`]: the virtual head served on a pseudo-terminal.

pub mod lockstep;
pub mod pty;
mod session;
mod transport;

pub use lockstep::{LockstepTransport, SharedHead};
pub use session::{
    ChannelMeta, Connector, HeadView, HostConfig, HostCore, HostLink, LinkEvent, LinkState,
    LinkStats, Player, PoseMap, Procedure, msg_type_name,
};
pub use transport::{
    LinkError, SerialTransport, Transport, VirtualTransport, describe_port, list_ports,
};
