//! The virtual head's firmware behaviour, driven with protocol frames in virtual time.

use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_protocol::*;

struct Bench {
    head: VirtualHead,
    decoder: Decoder,
    seq: u8,
    received: Vec<Message>,
}

impl Bench {
    fn new() -> Self {
        Self {
            head: VirtualHead::new(HeadConfig::default_head()),
            decoder: Decoder::new(),
            seq: 0,
            received: Vec::new(),
        }
    }

    fn send(&mut self, msg: Message) {
        let mut buf = [0u8; MAX_WIRE_FRAME];
        let n = encode_frame(self.seq, &msg, &mut buf).expect("encode");
        self.seq = self.seq.wrapping_add(1);
        self.head.receive(&buf[..n]);
        self.collect();
    }

    fn collect(&mut self) {
        let out = self.head.take_output();
        let received = &mut self.received;
        self.decoder.feed(&out, |r| {
            received.push(r.expect("head sends valid frames").message)
        });
    }

    /// Advances in 1 ms steps, collecting output.
    fn run_ms(&mut self, ms: u32) {
        for _ in 0..ms {
            self.head.advance(0.001);
            self.collect();
        }
    }

    fn last_telemetry(&self) -> Telemetry {
        self.received
            .iter()
            .rev()
            .find_map(|m| {
                if let Message::Telemetry(t) = m {
                    Some(*t)
                } else {
                    None
                }
            })
            .expect("telemetry received")
    }

    fn acks(&self) -> Vec<(u8, ErrorCode, u8)> {
        self.received
            .iter()
            .filter_map(|m| {
                if let Message::Ack {
                    msg_type,
                    code,
                    detail,
                    ..
                } = m
                {
                    Some((*msg_type, *code, *detail))
                } else {
                    None
                }
            })
            .collect()
    }

    fn connect(&mut self) {
        self.send(Message::Hello { nonce: 77 });
        self.send(Message::Torque {
            enable_mask: (1 << 25) - 1,
        });
    }

    fn targets(&mut self, pose: &[f32]) {
        self.send(Message::SetTargets(Targets::from_norm(pose, 10)));
    }
}

fn pose_with(channel: usize, value: f32) -> Vec<f32> {
    let mut p = vec![0.0; 25];
    p[channel] = value;
    p
}

#[test]
fn handshake_reports_identity_and_commands_before_it_are_refused() {
    let mut b = Bench::new();
    b.send(Message::Torque { enable_mask: 1 });
    assert_eq!(
        b.acks(),
        vec![(MsgType::Torque as u8, ErrorCode::NotPermitted, 0)]
    );
    b.send(Message::Hello { nonce: 0xABCD });
    let reply = b.received.iter().find_map(|m| {
        if let Message::HelloReply(h) = m {
            Some(*h)
        } else {
            None
        }
    });
    let h = reply.expect("hello reply");
    assert_eq!(h.nonce, 0xABCD);
    assert_eq!(h.protocol_version, PROTOCOL_VERSION);
    assert_eq!(h.channel_count, 25);
    b.send(Message::GetChannelInfo { channel: 12 });
    let info = b
        .received
        .iter()
        .find_map(|m| {
            if let Message::ChannelInfo(c) = m {
                Some(*c)
            } else {
                None
            }
        })
        .expect("info");
    assert_eq!(info.name_str(), "zygomaticus_major_l");
    b.send(Message::GetChannelInfo { channel: 40 });
    assert!(
        b.acks()
            .contains(&(MsgType::GetChannelInfo as u8, ErrorCode::BadChannel, 40))
    );
}

#[test]
fn targets_move_the_motor_and_telemetry_reports_it() {
    let mut b = Bench::new();
    b.connect();
    for _ in 0..40 {
        b.targets(&pose_with(12, 0.6));
        b.run_ms(10);
    }
    let t = b.last_telemetry();
    let p = t.channels()[12].position_norm();
    assert!((p - 0.6).abs() < 0.05, "zygomaticus at {p}");
    for (i, c) in t.channels().iter().enumerate() {
        if i != 12 {
            assert!(
                c.position_norm().abs() < 0.05,
                "channel {i} moved to {}",
                c.position_norm()
            );
        }
    }
    assert_eq!(t.torque_mask, (1 << 25) - 1);
    assert!(t.channels()[12].current_ma > 0);
}

#[test]
fn watchdog_puts_the_head_in_safe_neutral_with_torque_off() {
    let mut b = Bench::new();
    b.connect();
    for _ in 0..40 {
        b.targets(&pose_with(12, 0.8));
        b.run_ms(10);
    }
    assert!(b.last_telemetry().channels()[12].position_norm() > 0.7);
    // Silence: the watchdog (200 ms) plus one telemetry period (10 ms at 100 Hz).
    b.received.clear();
    b.run_ms(200 + 10 + 1);
    let t = b.last_telemetry();
    assert_eq!(t.torque_mask, 0, "torque off after the watchdog");
    assert_ne!(t.status & status::WATCHDOG_TRIPPED, 0);
    assert!(t.channels().iter().all(|c| c.faults & fault::WATCHDOG != 0));
    assert!(b.received.iter().any(|m| matches!(m, Message::FaultEvent { channel: 0xFF, faults, .. } if *faults & fault::WATCHDOG != 0)));
    assert!(b.head.states().all(|s| !s.torque_enabled));
    // Torque off: the skin springs back to neutral.
    b.run_ms(400);
    let p = b.last_telemetry().channels()[12].position_norm();
    assert!(p.abs() < 0.05, "relaxed to {p}");
    // A host frame re-arms the watchdog; torque stays off until asked for.
    b.send(Message::Ping { token: 1 });
    b.run_ms(20);
    let t = b.last_telemetry();
    assert_eq!(t.status & status::WATCHDOG_TRIPPED, 0);
    assert_eq!(t.torque_mask, 0);
    // ... but the head still says it went safe (a host reconnecting after a cable pull learns
    // it), even after a new handshake, until a head-wide ClearFaults acknowledges it.
    assert_ne!(t.status & status::SAFE_STOP_LATCHED, 0);
    b.send(Message::Hello { nonce: 9 });
    b.run_ms(20);
    assert_ne!(b.last_telemetry().status & status::SAFE_STOP_LATCHED, 0);
    b.send(Message::ClearFaults { mask: 1 << 12 });
    b.run_ms(20);
    assert_ne!(
        b.last_telemetry().status & status::SAFE_STOP_LATCHED,
        0,
        "a channel's clear is not the head-wide acknowledgement"
    );
    b.send(Message::ClearFaults { mask: 1 << 31 });
    b.run_ms(20);
    assert_eq!(b.last_telemetry().status & status::SAFE_STOP_LATCHED, 0);
}

#[test]
fn emergency_stop_latches_until_cleared() {
    let mut b = Bench::new();
    b.connect();
    b.targets(&pose_with(0, 0.5));
    b.run_ms(50);
    b.send(Message::EmergencyStop);
    b.run_ms(20);
    let t = b.last_telemetry();
    assert_eq!(t.torque_mask, 0);
    assert_ne!(t.status & status::ESTOP, 0);
    b.received.clear();
    b.targets(&pose_with(0, 0.9));
    b.send(Message::Torque { enable_mask: 1 });
    assert_eq!(
        b.acks(),
        vec![
            (MsgType::SetTargets as u8, ErrorCode::EStopActive, 0),
            (MsgType::Torque as u8, ErrorCode::EStopActive, 0)
        ]
    );
    b.send(Message::ClearFaults { mask: u32::MAX });
    b.send(Message::Torque {
        enable_mask: (1 << 25) - 1,
    });
    b.run_ms(20);
    let t = b.last_telemetry();
    assert_eq!(t.status & status::ESTOP, 0);
    assert_eq!(t.torque_mask, (1 << 25) - 1);
}

#[test]
fn out_of_range_targets_are_clamped_and_reported() {
    let mut b = Bench::new();
    b.connect();
    b.received.clear();
    b.targets(&pose_with(21, -0.5)); // jaw cannot go below 0
    assert_eq!(
        b.acks(),
        vec![(MsgType::SetTargets as u8, ErrorCode::Clamped, 21)]
    );
    assert_eq!(b.head.channel(21).map(|c| c.state().target_norm), Some(0.0));
    b.received.clear();
    b.send(Message::SetTargets(Targets::from_norm(&[0.3; 24], 0)));
    assert_eq!(
        b.acks(),
        vec![(MsgType::SetTargets as u8, ErrorCode::BadLength, 24)]
    );
    assert!(
        b.head.states().all(|s| s.target_norm != 0.3),
        "a short frame changes nothing"
    );
}

#[test]
fn injected_jam_is_reported_as_a_stall_fault() {
    let mut b = Bench::new();
    b.connect();
    b.send(Message::InjectFault {
        channel: 12,
        kind: FaultKind::Jam,
        active: true,
    });
    for _ in 0..40 {
        b.targets(&pose_with(12, 0.8));
        b.run_ms(10);
    }
    let t = b.last_telemetry();
    assert_ne!(
        t.channels()[12].faults & fault::STALL,
        0,
        "faults {:#x}",
        t.channels()[12].faults
    );
    assert!(b.received.iter().any(|m| matches!(m, Message::FaultEvent { channel: 12, faults, .. } if faults & fault::STALL != 0)));
}

/// With 1 % of the bytes corrupted, every pose that reaches the motors is one the host sent,
/// whole: no corrupted command ever reaches a motor.
#[test]
fn corrupted_link_never_delivers_a_corrupted_command() {
    let mut b = Bench::new();
    b.connect();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut sent: Vec<Vec<i16>> = Vec::new();
    let mut corrupted = 0u32;
    let mut delivered = 0u32;
    let mut last_targets: Vec<f32> = b.head.states().map(|s| s.target_norm).collect();
    for k in 0..20_000u32 {
        let pose: Vec<f32> = (0..25)
            .map(|i| ((k * 31 + i * 7) % 30) as f32 / 100.0)
            .collect();
        let t = Targets::from_norm(&pose, 10);
        sent.push(t.positions().to_vec());
        let mut buf = [0u8; MAX_WIRE_FRAME];
        let n = encode_frame(k as u8, &Message::SetTargets(t), &mut buf).expect("encode");
        let mut bytes = buf[..n].to_vec();
        for byte in &mut bytes {
            if next() % 100 == 0 {
                *byte ^= (next() as u8) | 1;
                corrupted += 1;
            }
        }
        b.head.receive(&bytes);
        let _ = b.head.take_output();
        let targets: Vec<f32> = b.head.states().map(|s| s.target_norm).collect();
        if targets != last_targets {
            delivered += 1;
            let as_q15: Vec<i16> = targets.iter().map(|&v| norm_to_q15(v)).collect();
            assert!(
                sent.iter().rev().take(3).any(|s| *s == as_q15),
                "frame {k}: motors got a pose nobody sent"
            );
            last_targets = targets;
        }
    }
    assert!(corrupted > 5_000, "{corrupted} bytes corrupted");
    assert!(
        delivered > 10_000 && delivered < 20_000,
        "{delivered} frames delivered"
    );
    assert!(b.head.decoder_stats().crc + b.head.decoder_stats().cobs > 1_000);
}

#[test]
fn same_inputs_give_identical_telemetry() {
    let run = || {
        let mut b = Bench::new();
        b.connect();
        for k in 0..100 {
            b.targets(&pose_with(k % 25, 0.5));
            b.run_ms(3);
        }
        b.received
            .iter()
            .filter_map(|m| {
                if let Message::Telemetry(t) = m {
                    Some(*t)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn configure_can_narrow_but_never_widen_the_hard_limits() {
    let mut b = Bench::new();
    b.connect();
    let info = b.head.channel_info(6).expect("channel 6");
    let mut c = info.config;
    // levator_palpebrae_l is hard-limited to -1..0.3: a range entirely above it is refused.
    c.min_q15 = norm_to_q15(0.9);
    c.max_q15 = norm_to_q15(0.99);
    b.received.clear();
    b.send(Message::ConfigureChannel(c));
    assert_eq!(
        b.acks(),
        vec![(MsgType::ConfigureChannel as u8, ErrorCode::BadValue, 6)]
    );
    let after = b.head.channel(6).map(|ch| ch.config()).expect("channel");
    assert!(
        after.max_norm <= 0.3 + 1e-6 && after.min_norm >= -1.0 - 1e-6,
        "{after:?}"
    );
    // Overlapping requests are intersected and reported as clamped.
    c.min_q15 = norm_to_q15(-0.5);
    c.max_q15 = norm_to_q15(0.9);
    b.received.clear();
    b.send(Message::ConfigureChannel(c));
    assert_eq!(
        b.acks(),
        vec![(MsgType::ConfigureChannel as u8, ErrorCode::Clamped, 6)]
    );
    let after = b.head.channel(6).map(|ch| ch.config()).expect("channel");
    assert!(
        (after.min_norm + 0.5).abs() < 1e-3 && (after.max_norm - 0.3).abs() < 1e-3,
        "{after:?}"
    );
}

#[test]
fn releasing_the_estop_alone_lets_torque_back_on() {
    let mut b = Bench::new();
    b.connect();
    b.send(Message::EmergencyStop);
    b.send(Message::ClearFaults { mask: 1 << 31 });
    b.received.clear();
    b.send(Message::Torque {
        enable_mask: (1 << 25) - 1,
    });
    assert_eq!(b.acks(), vec![(MsgType::Torque as u8, ErrorCode::Ok, 0)]);
    b.run_ms(20);
    assert_eq!(b.last_telemetry().torque_mask, (1 << 25) - 1);
}

#[test]
fn torque_refused_by_a_latched_fault_is_not_acked_ok() {
    let mut b = Bench::new();
    b.connect();
    b.send(Message::InjectFault {
        channel: 21,
        kind: FaultKind::PowerLoss,
        active: true,
    });
    b.run_ms(20);
    b.received.clear();
    b.send(Message::Torque {
        enable_mask: (1 << 25) - 1,
    });
    assert_eq!(
        b.acks(),
        vec![(MsgType::Torque as u8, ErrorCode::NotPermitted, 21)]
    );
}
