use core::fmt;

/// Why a frame was dropped. Every variant is counted by [`crate::Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// More than [`crate::MAX_WIRE_FRAME`] bytes arrived without a delimiter.
    TooLong,
    /// The COBS encoding was invalid (a run ran past the delimiter).
    Cobs,
    /// Fewer bytes than a header and a CRC.
    TooShort { len: usize },
    /// The CRC did not match.
    Crc { expected: u16, actual: u16 },
    /// The header's protocol version is not ours.
    Version { version: u8 },
    /// The message type is not defined.
    UnknownType { msg_type: u8 },
    /// The payload length does not fit the message type.
    BadLength { msg_type: u8, len: usize },
    /// A field holds a value the message does not allow (e.g. a channel count above 32).
    BadValue { msg_type: u8 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLong => write!(f, "frame longer than {} bytes", crate::MAX_WIRE_FRAME),
            Self::Cobs => f.write_str("invalid COBS encoding"),
            Self::TooShort { len } => {
                write!(f, "frame of {len} bytes is shorter than header + CRC")
            }
            Self::Crc { expected, actual } => {
                write!(
                    f,
                    "CRC mismatch: frame says {expected:#06x}, bytes give {actual:#06x}"
                )
            }
            Self::Version { version } => write!(
                f,
                "protocol version {version}, expected {}",
                crate::PROTOCOL_VERSION
            ),
            Self::UnknownType { msg_type } => write!(f, "unknown message type {msg_type:#04x}"),
            Self::BadLength { msg_type, len } => {
                write!(
                    f,
                    "payload of {len} bytes is invalid for message type {msg_type:#04x}"
                )
            }
            Self::BadValue { msg_type } => {
                write!(f, "field out of range in message type {msg_type:#04x}")
            }
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is shorter than the encoded frame.
    BufferTooSmall { needed: usize },
    /// A count field exceeds [`crate::MAX_CHANNELS`].
    TooManyChannels { count: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::TooManyChannels { count } => {
                write!(f, "{count} channels, at most {}", crate::MAX_CHANNELS)
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}
