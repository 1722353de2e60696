//! Frame encoding (header, payload, CRC, COBS) and decoding of one delimited frame.

use crate::{
    CRC_LEN, DecodeError, EncodeError, HEADER_LEN, MAX_RAW_FRAME, Message, PROTOCOL_VERSION,
};
use crc::{CRC_16_IBM_3740, Crc};

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// CRC-16/IBM-3740 (a.k.a. CRC-16/CCITT-FALSE): poly 0x1021, init 0xFFFF, no reflection, no
/// final XOR. Check value for "123456789" is 0x29B1.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub seq: u8,
    pub message: Message,
}

/// Writes the raw (pre-COBS) frame — header, payload, CRC — into `out`, returning its length.
pub fn encode_raw(seq: u8, msg: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let needed_min = HEADER_LEN + CRC_LEN;
    if out.len() < needed_min {
        return Err(EncodeError::BufferTooSmall { needed: needed_min });
    }
    out[0] = PROTOCOL_VERSION;
    out[1] = msg.msg_type() as u8;
    out[2] = seq;
    let payload_end = out.len() - CRC_LEN;
    let payload_len = msg
        .write_payload(&mut out[HEADER_LEN..payload_end])
        .map_err(|e| match e {
            EncodeError::BufferTooSmall { needed } => EncodeError::BufferTooSmall {
                needed: needed + needed_min,
            },
            other => other,
        })?;
    let body = HEADER_LEN + payload_len;
    let crc = crc16(&out[..body]);
    out[body..body + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(body + CRC_LEN)
}

/// Encodes one message as a complete wire frame (COBS, trailing 0x00) into `out`.
/// Returns the number of bytes written. `out` of [`crate::MAX_WIRE_FRAME`] bytes always suffices.
pub fn encode_frame(seq: u8, msg: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut raw = [0u8; MAX_RAW_FRAME];
    let raw_len = encode_raw(seq, msg, &mut raw)?;
    let needed = corncobs::max_encoded_len(raw_len);
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    Ok(corncobs::encode_buf(&raw[..raw_len], out))
}

/// Decodes one raw (already COBS-decoded) frame: checks length, CRC, version and payload.
pub fn decode_frame(raw: &[u8]) -> Result<crate::Frame, DecodeError> {
    if raw.len() < HEADER_LEN + CRC_LEN {
        return Err(DecodeError::TooShort { len: raw.len() });
    }
    let (body, crc_bytes) = raw.split_at(raw.len() - CRC_LEN);
    let expected = u16::from_le_bytes([crc_bytes[0], crc_bytes[1]]);
    let actual = crc16(body);
    if expected != actual {
        return Err(DecodeError::Crc { expected, actual });
    }
    if body[0] != PROTOCOL_VERSION {
        return Err(DecodeError::Version { version: body[0] });
    }
    let message = Message::read_payload(body[1], &body[HEADER_LEN..])?;
    Ok(Frame {
        seq: body[2],
        message,
    })
}
