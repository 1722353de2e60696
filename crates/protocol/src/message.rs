//! Message types and their payload layouts (all little-endian).

use crate::{DecodeError, EncodeError, MAX_CHANNELS, norm_to_q15, q15_to_norm};

/// Message type codes. Host → head below 0x80, head → host from 0x80.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MsgType {
    Hello = 0x01,
    SetTargets = 0x02,
    ConfigureChannel = 0x03,
    Torque = 0x04,
    EmergencyStop = 0x05,
    SetWatchdog = 0x06,
    SetTelemetryRate = 0x07,
    Ping = 0x08,
    GetChannelInfo = 0x09,
    ClearFaults = 0x0A,
    InjectFault = 0x40,
    HelloReply = 0x81,
    Telemetry = 0x82,
    Ack = 0x83,
    FaultEvent = 0x84,
    Pong = 0x85,
    ChannelInfo = 0x86,
}

impl MsgType {
    pub const ALL: [MsgType; 17] = [
        Self::Hello,
        Self::SetTargets,
        Self::ConfigureChannel,
        Self::Torque,
        Self::EmergencyStop,
        Self::SetWatchdog,
        Self::SetTelemetryRate,
        Self::Ping,
        Self::GetChannelInfo,
        Self::ClearFaults,
        Self::InjectFault,
        Self::HelloReply,
        Self::Telemetry,
        Self::Ack,
        Self::FaultEvent,
        Self::Pong,
        Self::ChannelInfo,
    ];

    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| *t as u8 == code)
    }

    /// True for messages the host sends to the head.
    pub fn is_host_to_head(self) -> bool {
        (self as u8) < 0x80
    }
}

/// Capability bits in [`HeadInfo::capabilities`].
pub mod capability {
    /// `SetTargets.time_to_target_ms` is honoured (trajectory interpolation in the head).
    pub const TIME_TO_TARGET: u16 = 1 << 0;
    /// `ConfigureChannel` is supported.
    pub const CHANNEL_CONFIG: u16 = 1 << 1;
    /// `InjectFault` is supported (simulated heads only).
    pub const FAULT_INJECTION: u16 = 1 << 2;
    /// The head is a simulation, not hardware.
    pub const SIMULATED: u16 = 1 << 3;
}

/// Per-channel fault bits, as in telemetry and fault events.
pub mod fault {
    /// Winding over its cut-off temperature: torque dropped.
    pub const OVERHEAT: u8 = 1 << 0;
    /// Stalled at the current limit (jammed): torque dropped.
    pub const STALL: u8 = 1 << 1;
    /// Implausible encoder reading.
    pub const ENCODER: u8 = 1 << 2;
    /// Load far below expectation (torn tendon suspected).
    pub const NO_LOAD: u8 = 1 << 3;
    /// Motor supply lost.
    pub const POWER: u8 = 1 << 4;
    /// Tracking error above threshold for too long.
    pub const FOLLOWING: u8 = 1 << 5;
    /// The host went silent past the watchdog timeout: safe neutral, torque off.
    pub const WATCHDOG: u8 = 1 << 6;
    /// Emergency stop latched.
    pub const ESTOP: u8 = 1 << 7;

    /// Short names, bit 0 first.
    pub const NAMES: [&str; 8] = [
        "overheat",
        "stall",
        "encoder",
        "no-load",
        "power",
        "following",
        "watchdog",
        "estop",
    ];

    /// The names of the bits set in `bits`, bit 0 first.
    pub fn names(bits: u8) -> impl Iterator<Item = &'static str> {
        NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

/// Head status bits in [`Telemetry::status`].
pub mod status {
    /// Emergency stop is latched (cleared by `ClearFaults` with bit 31).
    pub const ESTOP: u8 = 1 << 0;
    /// The watchdog tripped and has not been re-armed by a host frame.
    pub const WATCHDOG_TRIPPED: u8 = 1 << 1;
    /// A host handshake has completed since power-up.
    pub const HOST_CONNECTED: u8 = 1 << 2;
    /// The watchdog put the head in its safe state (torque off, neutral) since the last
    /// `ClearFaults` with bit 31. Unlike [`WATCHDOG_TRIPPED`], re-arming does not clear it, so a
    /// host that reconnects after a cable pull still learns the head went safe meanwhile.
    pub const SAFE_STOP_LATCHED: u8 = 1 << 3;
}

/// Error codes carried by [`Message::Ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ErrorCode {
    Ok = 0,
    BadLength = 1,
    BadChannel = 2,
    /// Accepted but one or more values were clamped to limits.
    Clamped = 3,
    EStopActive = 4,
    UnknownType = 5,
    /// Not allowed in the head's state (e.g. a command before the handshake).
    NotPermitted = 6,
    Unsupported = 7,
    BadVersion = 8,
    BadValue = 9,
}

impl ErrorCode {
    pub fn from_u8(code: u8) -> Option<Self> {
        use ErrorCode::*;
        [
            Ok,
            BadLength,
            BadChannel,
            Clamped,
            EStopActive,
            UnknownType,
            NotPermitted,
            Unsupported,
            BadVersion,
            BadValue,
        ]
        .into_iter()
        .find(|c| *c as u8 == code)
    }
}

/// Faults a simulated head can inject on request ([`Message::InjectFault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FaultKind {
    Jam = 1,
    TornTendon = 2,
    EncoderGlitch = 3,
    Overheat = 4,
    PowerLoss = 5,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        Self::Jam,
        Self::TornTendon,
        Self::EncoderGlitch,
        Self::Overheat,
        Self::PowerLoss,
    ];

    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == code)
    }
}

/// Targets for all channels in one frame. Positions in Q1.15 normalised travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// Time over which the head interpolates from its current setpoint to these targets; 0 = as
    /// fast as the channel's velocity limit allows.
    pub time_to_target_ms: u16,
    pub count: u8,
    pub positions_q15: [i16; MAX_CHANNELS],
}

impl Targets {
    /// Builds targets from normalised travel; at most [`MAX_CHANNELS`] values are used.
    pub fn from_norm(positions_norm: &[f32], time_to_target_ms: u16) -> Self {
        let count = positions_norm.len().min(MAX_CHANNELS);
        let mut positions_q15 = [0; MAX_CHANNELS];
        for (q, &p) in positions_q15.iter_mut().zip(&positions_norm[..count]) {
            *q = norm_to_q15(p);
        }
        Self {
            time_to_target_ms,
            count: count as u8,
            positions_q15,
        }
    }

    pub fn positions(&self) -> &[i16] {
        &self.positions_q15[..usize::from(self.count).min(MAX_CHANNELS)]
    }

    pub fn norm(&self, channel: usize) -> f32 {
        q15_to_norm(self.positions_q15[channel])
    }
}

/// Run-time configuration of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    pub channel: u8,
    /// Travel limits, Q1.15 normalised travel.
    pub min_q15: i16,
    pub max_q15: i16,
    /// Velocity limit, LSB = 1/1024 travel per second.
    pub max_velocity: u16,
    pub current_limit_ma: u16,
    /// Controller gains as Q8.8 multiples of the firmware's defaults (256 = default).
    pub kp_q8: u16,
    pub ki_q8: u16,
    pub kd_q8: u16,
}

/// The head's answer to `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    pub protocol_version: u8,
    /// Firmware version major, minor, patch.
    pub firmware: [u8; 3],
    pub channel_count: u8,
    pub capabilities: u16,
    /// Longest frame, before COBS, that the head accepts.
    pub max_frame: u16,
    pub head_id: u32,
    /// Echo of the host's `Hello` nonce.
    pub nonce: u32,
}

/// One channel's state in a telemetry frame (9 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelTelemetry {
    /// Measured position, Q1.15 normalised travel.
    pub position_q15: i16,
    /// Velocity, LSB = 1/1024 travel per second.
    pub velocity: i16,
    pub current_ma: i16,
    /// Winding temperature, LSB = 0.1 °C.
    pub temperature_dc: i16,
    /// [`fault`] bits.
    pub faults: u8,
}

impl ChannelTelemetry {
    pub fn position_norm(&self) -> f32 {
        q15_to_norm(self.position_q15)
    }

    pub fn velocity_norm_s(&self) -> f32 {
        f32::from(self.velocity) * crate::VELOCITY_LSB_NORM_S
    }

    pub fn temperature_c(&self) -> f32 {
        f32::from(self.temperature_dc) * crate::TEMPERATURE_LSB_C
    }
}

/// A telemetry frame: every channel's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Telemetry {
    /// Head clock, microseconds since power-up (wraps after ~71 minutes).
    pub head_time_us: u32,
    /// Bit i set: channel i has torque enabled.
    pub torque_mask: u32,
    /// [`status`] bits.
    pub status: u8,
    pub count: u8,
    pub channels: [ChannelTelemetry; MAX_CHANNELS],
}

impl Telemetry {
    pub fn channels(&self) -> &[ChannelTelemetry] {
        &self.channels[..usize::from(self.count).min(MAX_CHANNELS)]
    }
}

/// Static information about one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    pub config: ChannelConfig,
    /// Q1.15 position the head returns to in its safe state.
    pub neutral_q15: i16,
    /// Tendon travel at +1.0, micrometres.
    pub travel_um: u16,
    /// ASCII name, NUL-padded.
    pub name: [u8; 24],
}

impl ChannelInfo {
    /// The name up to its first NUL (lossy: non-UTF-8 gives "?").
    pub fn name_str(&self) -> &str {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        core::str::from_utf8(&self.name[..end]).unwrap_or("?")
    }

    /// Copies an ASCII name into the fixed field, truncating at 24 bytes.
    pub fn name_from_str(name: &str) -> [u8; 24] {
        let mut out = [0u8; 24];
        for (o, b) in out.iter_mut().zip(name.bytes()) {
            *o = b;
        }
        out
    }
}

/// Every message of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "no allocator in the protocol crate: telemetry stays inline (about 300 bytes)"
)]
pub enum Message {
    // Host → head.
    Hello {
        nonce: u32,
    },
    SetTargets(Targets),
    ConfigureChannel(ChannelConfig),
    /// Bit i set: torque on for channel i; clear: off.
    Torque {
        enable_mask: u32,
    },
    EmergencyStop,
    /// 0 disables the watchdog.
    SetWatchdog {
        timeout_ms: u16,
    },
    /// 0 stops telemetry.
    SetTelemetryRate {
        rate_hz: u16,
    },
    Ping {
        token: u32,
    },
    GetChannelInfo {
        channel: u8,
    },
    /// Bit i: clear channel i's latched faults; bit 31 also releases the emergency stop.
    ClearFaults {
        mask: u32,
    },
    /// Simulated heads only: start (`active` = 1) or stop (0) a fault on a channel.
    InjectFault {
        channel: u8,
        kind: FaultKind,
        active: bool,
    },
    // Head → host.
    HelloReply(HeadInfo),
    Telemetry(Telemetry),
    /// Answer to a command: which one (type and sequence number) and the outcome.
    Ack {
        msg_type: u8,
        seq: u8,
        code: ErrorCode,
        detail: u8,
    },
    FaultEvent {
        head_time_us: u32,
        channel: u8,
        faults: u8,
    },
    Pong {
        token: u32,
        head_time_us: u32,
    },
    ChannelInfo(ChannelInfo),
}

impl Message {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Self::Hello { .. } => MsgType::Hello,
            Self::SetTargets(_) => MsgType::SetTargets,
            Self::ConfigureChannel(_) => MsgType::ConfigureChannel,
            Self::Torque { .. } => MsgType::Torque,
            Self::EmergencyStop => MsgType::EmergencyStop,
            Self::SetWatchdog { .. } => MsgType::SetWatchdog,
            Self::SetTelemetryRate { .. } => MsgType::SetTelemetryRate,
            Self::Ping { .. } => MsgType::Ping,
            Self::GetChannelInfo { .. } => MsgType::GetChannelInfo,
            Self::ClearFaults { .. } => MsgType::ClearFaults,
            Self::InjectFault { .. } => MsgType::InjectFault,
            Self::HelloReply(_) => MsgType::HelloReply,
            Self::Telemetry(_) => MsgType::Telemetry,
            Self::Ack { .. } => MsgType::Ack,
            Self::FaultEvent { .. } => MsgType::FaultEvent,
            Self::Pong { .. } => MsgType::Pong,
            Self::ChannelInfo(_) => MsgType::ChannelInfo,
        }
    }

    /// Writes the payload into `out`, returning its length.
    pub(crate) fn write_payload(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer { buf: out, pos: 0 };
        match self {
            Self::Hello { nonce } => w.u32(*nonce),
            Self::SetTargets(t) => {
                let count = usize::from(t.count);
                if count > MAX_CHANNELS {
                    return Err(EncodeError::TooManyChannels { count });
                }
                w.u16(t.time_to_target_ms);
                w.u8(t.count);
                for &p in &t.positions_q15[..count] {
                    w.i16(p);
                }
            }
            Self::ConfigureChannel(c) => write_config(&mut w, c),
            Self::Torque { enable_mask } => w.u32(*enable_mask),
            Self::EmergencyStop => {}
            Self::SetWatchdog { timeout_ms } => w.u16(*timeout_ms),
            Self::SetTelemetryRate { rate_hz } => w.u16(*rate_hz),
            Self::Ping { token } => w.u32(*token),
            Self::GetChannelInfo { channel } => w.u8(*channel),
            Self::ClearFaults { mask } => w.u32(*mask),
            Self::InjectFault {
                channel,
                kind,
                active,
            } => {
                w.u8(*channel);
                w.u8(*kind as u8);
                w.u8(u8::from(*active));
            }
            Self::HelloReply(h) => {
                w.u8(h.protocol_version);
                for b in h.firmware {
                    w.u8(b);
                }
                w.u8(h.channel_count);
                w.u16(h.capabilities);
                w.u16(h.max_frame);
                w.u32(h.head_id);
                w.u32(h.nonce);
            }
            Self::Telemetry(t) => {
                let count = usize::from(t.count);
                if count > MAX_CHANNELS {
                    return Err(EncodeError::TooManyChannels { count });
                }
                w.u32(t.head_time_us);
                w.u32(t.torque_mask);
                w.u8(t.status);
                w.u8(t.count);
                for c in &t.channels[..count] {
                    w.i16(c.position_q15);
                    w.i16(c.velocity);
                    w.i16(c.current_ma);
                    w.i16(c.temperature_dc);
                    w.u8(c.faults);
                }
            }
            Self::Ack {
                msg_type,
                seq,
                code,
                detail,
            } => {
                w.u8(*msg_type);
                w.u8(*seq);
                w.u8(*code as u8);
                w.u8(*detail);
            }
            Self::FaultEvent {
                head_time_us,
                channel,
                faults,
            } => {
                w.u32(*head_time_us);
                w.u8(*channel);
                w.u8(*faults);
            }
            Self::Pong {
                token,
                head_time_us,
            } => {
                w.u32(*token);
                w.u32(*head_time_us);
            }
            Self::ChannelInfo(info) => {
                write_config(&mut w, &info.config);
                w.i16(info.neutral_q15);
                w.u16(info.travel_um);
                for b in info.name {
                    w.u8(b);
                }
            }
        }
        if w.pos > w.buf.len() {
            return Err(EncodeError::BufferTooSmall { needed: w.pos });
        }
        Ok(w.pos)
    }

    /// Parses a payload of the given type. The whole payload must be consumed.
    pub(crate) fn read_payload(msg_type: u8, payload: &[u8]) -> Result<Self, DecodeError> {
        let Some(ty) = MsgType::from_u8(msg_type) else {
            return Err(DecodeError::UnknownType { msg_type });
        };
        let bad_length = DecodeError::BadLength {
            msg_type,
            len: payload.len(),
        };
        let bad_value = DecodeError::BadValue { msg_type };
        let fixed = |n: usize| {
            if payload.len() == n {
                Ok(())
            } else {
                Err(bad_length)
            }
        };
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let msg = match ty {
            MsgType::Hello => {
                fixed(4)?;
                Self::Hello { nonce: r.u32() }
            }
            MsgType::SetTargets => {
                if payload.len() < 3 {
                    return Err(bad_length);
                }
                let time_to_target_ms = r.u16();
                let count = r.u8();
                if usize::from(count) > MAX_CHANNELS {
                    return Err(bad_value);
                }
                fixed(3 + 2 * usize::from(count))?;
                let mut positions_q15 = [0; MAX_CHANNELS];
                for p in &mut positions_q15[..usize::from(count)] {
                    *p = r.i16();
                }
                Self::SetTargets(Targets {
                    time_to_target_ms,
                    count,
                    positions_q15,
                })
            }
            MsgType::ConfigureChannel => {
                fixed(CONFIG_LEN)?;
                Self::ConfigureChannel(read_config(&mut r))
            }
            MsgType::Torque => {
                fixed(4)?;
                Self::Torque {
                    enable_mask: r.u32(),
                }
            }
            MsgType::EmergencyStop => {
                fixed(0)?;
                Self::EmergencyStop
            }
            MsgType::SetWatchdog => {
                fixed(2)?;
                Self::SetWatchdog {
                    timeout_ms: r.u16(),
                }
            }
            MsgType::SetTelemetryRate => {
                fixed(2)?;
                Self::SetTelemetryRate { rate_hz: r.u16() }
            }
            MsgType::Ping => {
                fixed(4)?;
                Self::Ping { token: r.u32() }
            }
            MsgType::GetChannelInfo => {
                fixed(1)?;
                Self::GetChannelInfo { channel: r.u8() }
            }
            MsgType::ClearFaults => {
                fixed(4)?;
                Self::ClearFaults { mask: r.u32() }
            }
            MsgType::InjectFault => {
                fixed(3)?;
                let channel = r.u8();
                let kind = FaultKind::from_u8(r.u8()).ok_or(bad_value)?;
                let active = match r.u8() {
                    0 => false,
                    1 => true,
                    _ => return Err(bad_value),
                };
                Self::InjectFault {
                    channel,
                    kind,
                    active,
                }
            }
            MsgType::HelloReply => {
                fixed(17)?;
                Self::HelloReply(HeadInfo {
                    protocol_version: r.u8(),
                    firmware: [r.u8(), r.u8(), r.u8()],
                    channel_count: r.u8(),
                    capabilities: r.u16(),
                    max_frame: r.u16(),
                    head_id: r.u32(),
                    nonce: r.u32(),
                })
            }
            MsgType::Telemetry => {
                if payload.len() < 10 {
                    return Err(bad_length);
                }
                let head_time_us = r.u32();
                let torque_mask = r.u32();
                let status = r.u8();
                let count = r.u8();
                if usize::from(count) > MAX_CHANNELS {
                    return Err(bad_value);
                }
                fixed(10 + TELEMETRY_CHANNEL_LEN * usize::from(count))?;
                let mut channels = [ChannelTelemetry::default(); MAX_CHANNELS];
                for c in &mut channels[..usize::from(count)] {
                    *c = ChannelTelemetry {
                        position_q15: r.i16(),
                        velocity: r.i16(),
                        current_ma: r.i16(),
                        temperature_dc: r.i16(),
                        faults: r.u8(),
                    };
                }
                Self::Telemetry(Telemetry {
                    head_time_us,
                    torque_mask,
                    status,
                    count,
                    channels,
                })
            }
            MsgType::Ack => {
                fixed(4)?;
                let msg_type = r.u8();
                let seq = r.u8();
                let code = ErrorCode::from_u8(r.u8()).ok_or(bad_value)?;
                Self::Ack {
                    msg_type,
                    seq,
                    code,
                    detail: r.u8(),
                }
            }
            MsgType::FaultEvent => {
                fixed(6)?;
                Self::FaultEvent {
                    head_time_us: r.u32(),
                    channel: r.u8(),
                    faults: r.u8(),
                }
            }
            MsgType::Pong => {
                fixed(8)?;
                Self::Pong {
                    token: r.u32(),
                    head_time_us: r.u32(),
                }
            }
            MsgType::ChannelInfo => {
                fixed(CONFIG_LEN + 4 + 24)?;
                let config = read_config(&mut r);
                let neutral_q15 = r.i16();
                let travel_um = r.u16();
                let mut name = [0u8; 24];
                for b in &mut name {
                    *b = r.u8();
                }
                Self::ChannelInfo(ChannelInfo {
                    config,
                    neutral_q15,
                    travel_um,
                    name,
                })
            }
        };
        Ok(msg)
    }
}

const CONFIG_LEN: usize = 15;
/// Bytes per channel in a telemetry frame.
pub const TELEMETRY_CHANNEL_LEN: usize = 9;

fn write_config(w: &mut Writer<'_>, c: &ChannelConfig) {
    w.u8(c.channel);
    w.i16(c.min_q15);
    w.i16(c.max_q15);
    w.u16(c.max_velocity);
    w.u16(c.current_limit_ma);
    w.u16(c.kp_q8);
    w.u16(c.ki_q8);
    w.u16(c.kd_q8);
}

fn read_config(r: &mut Reader<'_>) -> ChannelConfig {
    ChannelConfig {
        channel: r.u8(),
        min_q15: r.i16(),
        max_q15: r.i16(),
        max_velocity: r.u16(),
        current_limit_ma: r.u16(),
        kp_q8: r.u16(),
        ki_q8: r.u16(),
        kd_q8: r.u16(),
    }
}

/// Little-endian writer that counts past the end instead of panicking.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes<const N: usize>(&mut self, b: [u8; N]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + N) {
            dst.copy_from_slice(&b);
        }
        self.pos += N;
    }
    fn u8(&mut self, v: u8) {
        self.bytes([v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(v.to_le_bytes());
    }
    fn i16(&mut self, v: i16) {
        self.bytes(v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(v.to_le_bytes());
    }
}

/// Little-endian reader; callers check the length first, past the end it reads zeros.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn i16(&mut self) -> i16 {
        i16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
}
