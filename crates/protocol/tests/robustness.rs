//! Bad input into the decoder: no panic, errors counted by kind, next valid frame accepted.

mod common;

use common::{all_cases, wire};
use facetwin_protocol::*;
use proptest::prelude::*;

fn decode_all(bytes: &[u8]) -> (Vec<Result<Frame, DecodeError>>, DecoderStats) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    d.feed(bytes, |f| out.push(f));
    (out, *d.stats())
}

fn ok_messages(results: &[Result<Frame, DecodeError>]) -> Vec<Message> {
    results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|f| f.message))
        .collect()
}

#[test]
fn truncated_frame_is_dropped_and_next_is_accepted() {
    let good = wire(1, &Message::Ping { token: 7 });
    let mut bytes = good[..good.len() - 4].to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&good);
    let (res, stats) = decode_all(&bytes);
    assert_eq!(ok_messages(&res), vec![Message::Ping { token: 7 }]);
    assert_eq!(stats.errors(), 1);
}

#[test]
fn lost_delimiter_merges_two_frames_into_one_error() {
    let a = wire(1, &Message::Ping { token: 1 });
    let b = wire(2, &Message::Ping { token: 2 });
    let c = wire(3, &Message::Ping { token: 3 });
    let mut bytes = a[..a.len() - 1].to_vec(); // lose a's delimiter
    bytes.extend_from_slice(&b);
    bytes.extend_from_slice(&c);
    let (res, stats) = decode_all(&bytes);
    assert_eq!(ok_messages(&res), vec![Message::Ping { token: 3 }]);
    assert_eq!(stats.errors(), 1);
}

#[test]
fn flipped_bit_is_a_crc_error() {
    let mut bytes = wire(1, &Message::SetTargets(Targets::from_norm(&[0.5; 25], 10)));
    bytes[10] ^= 0x04;
    if bytes[10] == 0 {
        bytes[10] = 0x55;
    }
    let (res, stats) = decode_all(&bytes);
    assert!(ok_messages(&res).is_empty());
    assert_eq!(stats.crc + stats.cobs + stats.too_short, 1, "{stats:?}");
}

#[test]
fn oversize_frame_is_counted_once_and_decoder_recovers() {
    let mut bytes = vec![0x55u8; MAX_WIRE_FRAME * 3];
    bytes.push(0);
    bytes.extend_from_slice(&wire(4, &Message::EmergencyStop));
    let (res, stats) = decode_all(&bytes);
    assert_eq!(stats.too_long, 1);
    assert_eq!(ok_messages(&res), vec![Message::EmergencyStop]);
}

fn raw_frame(version: u8, msg_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut raw = vec![version, msg_type, 0];
    raw.extend_from_slice(payload);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    let mut out = vec![0u8; corncobs::max_encoded_len(raw.len())];
    let n = corncobs::encode_buf(&raw, &mut out);
    out.truncate(n);
    out
}

#[test]
fn unknown_type_version_and_bad_length_are_counted_separately() {
    let mut bytes = raw_frame(PROTOCOL_VERSION, 0x7E, &[1, 2, 3]);
    bytes.extend(raw_frame(2, 0x08, &[0, 0, 0, 0]));
    bytes.extend(raw_frame(PROTOCOL_VERSION, 0x08, &[0, 0, 0]));
    bytes.extend(raw_frame(PROTOCOL_VERSION, 0x02, &[10, 0, 40])); // 40 channels
    bytes.extend(wire(9, &Message::Ping { token: 9 }));
    let (res, stats) = decode_all(&bytes);
    assert_eq!(stats.unknown_type, 1);
    assert_eq!(stats.version, 1);
    assert_eq!(stats.bad_length, 1);
    assert_eq!(stats.bad_value, 1);
    assert_eq!(ok_messages(&res), vec![Message::Ping { token: 9 }]);
}

/// Exhaustive: every byte of every golden message, every possible corruption of that byte.
/// CRC-16 detects every single-byte error, and a corrupted COBS code byte only moves a zero or
/// cuts the frame, which the CRC catches too: nothing decodes to a different message.
#[test]
fn single_byte_corruption_never_yields_a_different_message() {
    let mut corruptions = 0u32;
    for (name, seq, msg) in all_cases() {
        let good = wire(seq, &msg);
        for pos in 0..good.len() - 1 {
            for xor in 1..=255u8 {
                let mut bytes = good.clone();
                bytes[pos] ^= xor;
                let (res, _) = decode_all(&bytes);
                for r in res.iter().flatten() {
                    assert_eq!(
                        r.message, msg,
                        "{name}: byte {pos} ^ {xor:#04x} decoded to another message"
                    );
                }
                corruptions += 1;
            }
        }
    }
    assert!(corruptions > 100_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_and_resync(garbage in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = garbage;
        bytes.push(0);
        let frame = wire(42, &Message::Ping { token: 0xABCD });
        bytes.extend_from_slice(&frame);
        let (res, _) = decode_all(&bytes);
        prop_assert_eq!(res.last().and_then(|r| r.as_ref().ok()).map(|f| f.message), Some(Message::Ping { token: 0xABCD }));
    }

    #[test]
    fn any_chunking_gives_the_same_frames(splits in proptest::collection::vec(1usize..64, 1..40)) {
        let mut stream = Vec::new();
        let cases = all_cases();
        for (_, seq, m) in &cases {
            stream.extend(wire(*seq, m));
        }
        let mut d = Decoder::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = splits[i % splits.len()].min(rest.len());
            d.feed(&rest[..n], |f| got.push(f));
            rest = &rest[n..];
            i += 1;
        }
        let msgs: Vec<Message> = got.into_iter().map(|r| r.expect("valid").message).collect();
        let want: Vec<Message> = cases.into_iter().map(|c| c.2).collect();
        prop_assert_eq!(msgs, want);
    }

    #[test]
    fn targets_round_trip(values in proptest::collection::vec(-1.0f32..1.0, 0..=32), ttt in any::<u16>(), seq in any::<u8>()) {
        let msg = Message::SetTargets(Targets::from_norm(&values, ttt));
        let (res, _) = decode_all(&wire(seq, &msg));
        let frame = res[0].as_ref().expect("decodes");
        prop_assert_eq!(frame.message, msg);
        prop_assert_eq!(frame.seq, seq);
        if let Message::SetTargets(t) = frame.message {
            for (i, v) in values.iter().enumerate() {
                prop_assert!((t.norm(i) - v).abs() <= 1.0 / 32768.0);
            }
        }
    }

    #[test]
    fn arbitrary_raw_payloads_never_panic(ty in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let bytes = raw_frame(PROTOCOL_VERSION, ty, &payload);
        let _ = decode_all(&bytes);
    }
}
