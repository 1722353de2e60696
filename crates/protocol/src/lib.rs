//! The facetwin actuator command protocol: the exact bytes a robot head speaks.
//!
//! One crate, built by the host, the virtual head and the head's firmware alike. `no_std`,
//! allocation-free, no `unsafe`. `docs/PROTOCOL.md` is the normative description; this crate is
//! its reference implementation and `vectors/golden.txt` pins the bytes.
//!
//! A frame on the wire is `COBS(header ‖ payload ‖ CRC-16) ‖ 0x00`:
//!
//! | bytes | field                                                       |
//! |-------|-------------------------------------------------------------|
//! | 1     | protocol version ([`PROTOCOL_VERSION`])                     |
//! | 1     | message type ([`MsgType`])                                  |
//! | 1     | sequence number (wraps at 256, per direction)               |
//! | n     | payload, little-endian, layout per message type             |
//! | 2     | CRC-16/IBM-3740 (CCITT-FALSE) of all preceding bytes, LE    |
//!
//! ```
//! use facetwin_protocol::{encode_frame, Decoder, Message, Targets, MAX_WIRE_FRAME};
//! let mut wire = [0u8; MAX_WIRE_FRAME];
//! let targets = Targets::from_norm(&[0.5; 25], 10);
//! let n = encode_frame(7, &Message::SetTargets(targets), &mut wire).unwrap();
//! assert!(n <= 60);
//! let mut decoder = Decoder::new();
//! let mut got = None;
//! decoder.feed(&wire[..n], |frame| got = Some(frame));
//! let frame = got.unwrap().unwrap();
//! assert_eq!(frame.seq, 7);
//! assert_eq!(frame.message, Message::SetTargets(targets));
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod codec;
mod decoder;
mod error;
mod message;

pub use codec::{Frame, crc16, decode_frame, encode_frame, encode_raw};
pub use decoder::{Decoder, DecoderStats};
pub use error::{DecodeError, EncodeError};
pub use message::*;

/// The protocol version carried in every frame header.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most channels a head may have; every per-channel array is this long.
pub const MAX_CHANNELS: usize = 32;
/// Header length: version, type, sequence.
pub const HEADER_LEN: usize = 3;
/// CRC length.
pub const CRC_LEN: usize = 2;
/// Largest frame before COBS: header + payload + CRC.
pub const MAX_RAW_FRAME: usize = 320;
/// Largest payload.
pub const MAX_PAYLOAD: usize = MAX_RAW_FRAME - HEADER_LEN - CRC_LEN;
/// Largest frame on the wire, COBS overhead and the 0x00 delimiter included.
pub const MAX_WIRE_FRAME: usize = corncobs::max_encoded_len(MAX_RAW_FRAME);

/// Converts normalised travel (0 = neutral, +1 = full contraction) to the wire's Q1.15.
pub fn norm_to_q15(norm: f32) -> i16 {
    // Round half away from zero without libm; `as` saturates and maps NaN to 0.
    let scaled = norm * 32768.0;
    let rounded = if scaled >= 0.0 {
        scaled + 0.5
    } else {
        scaled - 0.5
    };
    rounded as i16
}

/// Converts the wire's Q1.15 to normalised travel.
pub fn q15_to_norm(q: i16) -> f32 {
    f32::from(q) / 32768.0
}

/// Velocity LSB: 1/1024 of full travel per second.
pub const VELOCITY_LSB_NORM_S: f32 = 1.0 / 1024.0;
/// Temperature LSB: 0.1 °C.
pub const TEMPERATURE_LSB_C: f32 = 0.1;
/// Gain scale: 256 = the firmware's default gain (Q8.8).
pub const GAIN_UNITY_Q8: u16 = 256;
