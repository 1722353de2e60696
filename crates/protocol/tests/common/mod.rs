//! One example of every message, shared by the golden-vector and property tests.
#![allow(dead_code)]

use facetwin_protocol::*;

pub fn telemetry_25() -> Telemetry {
    let mut channels = [ChannelTelemetry::default(); MAX_CHANNELS];
    for (i, c) in channels.iter_mut().take(25).enumerate() {
        let i16i = i as i16;
        *c = ChannelTelemetry {
            position_q15: i16i * 1000 - 4000,
            velocity: i16i * 37 - 200,
            current_ma: 40 + i16i * 3,
            temperature_dc: 251 + i16i,
            faults: if i == 12 { fault::STALL } else { 0 },
        };
    }
    Telemetry {
        head_time_us: 1_234_567,
        torque_mask: 0x01FF_FFFF,
        status: status::HOST_CONNECTED,
        count: 25,
        channels,
    }
}

pub fn config_3() -> ChannelConfig {
    ChannelConfig {
        channel: 3,
        min_q15: -8192,
        max_q15: 32767,
        max_velocity: 8 * 1024,
        current_limit_ma: 350,
        kp_q8: GAIN_UNITY_Q8,
        ki_q8: 128,
        kd_q8: 512,
    }
}

/// (name, seq, message): every message type at least once.
pub fn all_cases() -> Vec<(&'static str, u8, Message)> {
    let ramp: Vec<f32> = (0..25).map(|i| i as f32 / 24.0).collect();
    vec![
        ("hello", 0, Message::Hello { nonce: 0x1234_5678 }),
        (
            "set_targets_25_neutral",
            1,
            Message::SetTargets(Targets::from_norm(&[0.0; 25], 10)),
        ),
        (
            "set_targets_25_ramp",
            2,
            Message::SetTargets(Targets::from_norm(&ramp, 10)),
        ),
        (
            "set_targets_32_immediate",
            3,
            Message::SetTargets(Targets::from_norm(&[-0.25; 32], 0)),
        ),
        (
            "configure_channel",
            4,
            Message::ConfigureChannel(config_3()),
        ),
        (
            "torque_all_25",
            5,
            Message::Torque {
                enable_mask: 0x01FF_FFFF,
            },
        ),
        ("emergency_stop", 6, Message::EmergencyStop),
        (
            "set_watchdog_200ms",
            7,
            Message::SetWatchdog { timeout_ms: 200 },
        ),
        (
            "set_telemetry_rate_200hz",
            8,
            Message::SetTelemetryRate { rate_hz: 200 },
        ),
        ("ping", 9, Message::Ping { token: 0xDEAD_BEEF }),
        (
            "get_channel_info",
            10,
            Message::GetChannelInfo { channel: 12 },
        ),
        (
            "clear_faults_all_and_estop",
            11,
            Message::ClearFaults { mask: 0xFFFF_FFFF },
        ),
        (
            "inject_fault_jam_ch12",
            12,
            Message::InjectFault {
                channel: 12,
                kind: FaultKind::Jam,
                active: true,
            },
        ),
        (
            "hello_reply",
            0,
            Message::HelloReply(HeadInfo {
                protocol_version: PROTOCOL_VERSION,
                firmware: [0, 1, 0],
                channel_count: 25,
                capabilities: capability::TIME_TO_TARGET
                    | capability::CHANNEL_CONFIG
                    | capability::FAULT_INJECTION
                    | capability::SIMULATED,
                max_frame: MAX_RAW_FRAME as u16,
                head_id: 0xFACE_0001,
                nonce: 0x1234_5678,
            }),
        ),
        ("telemetry_25", 1, Message::Telemetry(telemetry_25())),
        (
            "ack_ok",
            2,
            Message::Ack {
                msg_type: MsgType::SetWatchdog as u8,
                seq: 7,
                code: ErrorCode::Ok,
                detail: 0,
            },
        ),
        (
            "ack_bad_channel",
            3,
            Message::Ack {
                msg_type: MsgType::GetChannelInfo as u8,
                seq: 10,
                code: ErrorCode::BadChannel,
                detail: 40,
            },
        ),
        (
            "fault_event_stall_ch12",
            4,
            Message::FaultEvent {
                head_time_us: 2_000_000,
                channel: 12,
                faults: fault::STALL,
            },
        ),
        (
            "pong",
            5,
            Message::Pong {
                token: 0xDEAD_BEEF,
                head_time_us: 1_500_000,
            },
        ),
        (
            "channel_info_12",
            6,
            Message::ChannelInfo(ChannelInfo {
                config: ChannelConfig {
                    channel: 12,
                    ..config_3()
                },
                neutral_q15: 0,
                travel_um: 8000,
                name: ChannelInfo::name_from_str("zygomaticus_major_l"),
            }),
        ),
    ]
}

pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn unhex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

pub fn wire(seq: u8, msg: &Message) -> Vec<u8> {
    let mut buf = [0u8; MAX_WIRE_FRAME];
    let n = encode_frame(seq, msg, &mut buf).expect("encodes");
    buf[..n].to_vec()
}
