//! The streaming decoder: bytes in any chunking in, frames out.

use crate::{DecodeError, Frame, MAX_WIRE_FRAME, decode_frame};

/// Counts of what the decoder has seen, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    pub bytes: u64,
    pub frames_ok: u32,
    pub too_long: u32,
    pub cobs: u32,
    pub too_short: u32,
    pub crc: u32,
    pub version: u32,
    pub unknown_type: u32,
    pub bad_length: u32,
    pub bad_value: u32,
}

impl DecoderStats {
    /// All dropped frames, whatever the reason.
    pub fn errors(&self) -> u32 {
        self.too_long
            + self.cobs
            + self.too_short
            + self.crc
            + self.version
            + self.unknown_type
            + self.bad_length
            + self.bad_value
    }

    fn count(&mut self, err: &DecodeError) {
        let counter = match err {
            DecodeError::TooLong => &mut self.too_long,
            DecodeError::Cobs => &mut self.cobs,
            DecodeError::TooShort { .. } => &mut self.too_short,
            DecodeError::Crc { .. } => &mut self.crc,
            DecodeError::Version { .. } => &mut self.version,
            DecodeError::UnknownType { .. } => &mut self.unknown_type,
            DecodeError::BadLength { .. } => &mut self.bad_length,
            DecodeError::BadValue { .. } => &mut self.bad_value,
        };
        *counter = counter.saturating_add(1);
    }
}

/// Accumulates bytes up to each 0x00 delimiter, then decodes the frame. Never allocates, never
/// panics; after garbage or a lost byte it resynchronises at the next delimiter. Empty frames
/// (consecutive delimiters) are ignored, so a sender may emit a lone 0x00 to flush a receiver.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: [u8; MAX_WIRE_FRAME],
    len: usize,
    /// The current frame overflowed; discard until the next delimiter.
    discarding: bool,
    stats: DecoderStats,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_WIRE_FRAME],
            len: 0,
            discarding: false,
            stats: DecoderStats {
                bytes: 0,
                frames_ok: 0,
                too_long: 0,
                cobs: 0,
                too_short: 0,
                crc: 0,
                version: 0,
                unknown_type: 0,
                bad_length: 0,
                bad_value: 0,
            },
        }
    }

    pub fn stats(&self) -> &DecoderStats {
        &self.stats
    }

    /// Drops any partial frame (e.g. after reconnecting).
    pub fn reset(&mut self) {
        self.len = 0;
        self.discarding = false;
    }

    /// Pushes one byte; returns a result when it completed a frame.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, DecodeError>> {
        self.stats.bytes = self.stats.bytes.wrapping_add(1);
        if byte != 0 {
            if self.discarding {
                return None;
            }
            if self.len == self.buf.len() {
                self.discarding = true;
                self.len = 0;
                let err = DecodeError::TooLong;
                self.stats.count(&err);
                return Some(Err(err));
            }
            self.buf[self.len] = byte;
            self.len += 1;
            return None;
        }
        // Delimiter.
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.discarding) || len == 0 {
            return None;
        }
        let result = match corncobs::decode_in_place(&mut self.buf[..len]) {
            Ok(raw_len) => decode_frame(&self.buf[..raw_len]),
            Err(_) => Err(DecodeError::Cobs),
        };
        match &result {
            Ok(_) => self.stats.frames_ok = self.stats.frames_ok.saturating_add(1),
            Err(e) => self.stats.count(e),
        }
        Some(result)
    }

    /// Pushes a chunk of bytes, calling `on_frame` for every completed frame or error.
    pub fn feed(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<Frame, DecodeError>)) {
        for &b in bytes {
            if let Some(r) = self.push(b) {
                on_frame(r);
            }
        }
    }
}
