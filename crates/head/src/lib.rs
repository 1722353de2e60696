//! The virtual head: what the robot head's firmware does, over the facetwin protocol.
//!
//! It parses host frames, applies limits, runs the simulated micro-motors at the controller rate,
//! streams telemetry at the requested rate, reports faults, obeys the emergency stop, and goes to
//! a safe neutral with torque off when the host is silent past the watchdog timeout.
//!
//! It is a plain state machine with no clock and no I/O of its own: bytes go in with
//! [`VirtualHead::receive`], simulated time goes forward with [`VirtualHead::advance`], bytes
//! come out of [`VirtualHead::take_output`]. Whoever owns it decides whether time is virtual (as
//! fast as possible, deterministic) or real (behind a pseudo-terminal).

mod config;

pub use config::{ChannelSpec, ConfigError, DEFAULT_CHANNELS, HeadConfig};

use facetwin_motor::{Channel, ChannelKind, ChannelState, Fault};
use facetwin_protocol::{
    self as proto, ChannelConfig, ChannelInfo, ChannelTelemetry, Decoder, DecoderStats, ErrorCode,
    FaultKind, Frame, HeadInfo, MAX_CHANNELS, MAX_RAW_FRAME, MAX_WIRE_FRAME, Message, MsgType,
    PROTOCOL_VERSION, Targets, Telemetry, capability, encode_frame, fault, norm_to_q15,
    q15_to_norm, status,
};

/// Counters of what the head did, beyond the decoder's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub frames_in: u64,
    pub frames_out: u64,
    pub target_frames: u64,
    pub rejected: u64,
    pub clamped: u64,
    pub watchdog_trips: u64,
    pub telemetry_frames: u64,
}

/// A simulated robot head speaking the protocol.
#[derive(Debug)]
pub struct VirtualHead {
    config: HeadConfig,
    channels: Vec<Channel>,
    /// Each channel's power-up configuration: the reference for gain scales and hard limits.
    power_up: Vec<facetwin_motor::ChannelConfig>,
    decoder: Decoder,
    output: Vec<u8>,
    /// Simulated time in controller ticks.
    ticks: u64,
    tick_s: f64,
    /// Fraction of a tick carried between `advance` calls.
    carry_s: f64,
    seq_out: u8,
    handshaken: bool,
    estop: bool,
    watchdog_ms: u16,
    watchdog_tripped: bool,
    /// The watchdog tripped since the last head-wide `ClearFaults` (status `SAFE_STOP_LATCHED`).
    safe_stop_latched: bool,
    last_host_tick: u64,
    telemetry_hz: u16,
    next_telemetry_tick: u64,
    last_faults: [u8; MAX_CHANNELS],
    stats: HeadStats,
}

impl VirtualHead {
    pub fn new(config: HeadConfig) -> Self {
        let channels: Vec<Channel> = config
            .channels
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut params = spec.motor.clone().unwrap_or_default();
                if spec.bidirectional {
                    params.kind = ChannelKind::Bidirectional;
                }
                let mut ch = Channel::new(&params, config.seed.wrapping_add(i as u64));
                let mut c = ch.config();
                c.min_norm = spec.min_norm;
                c.max_norm = spec.max_norm;
                ch.configure(c);
                ch.set_target(spec.neutral_norm, 0.0);
                ch.set_torque(false);
                ch
            })
            .collect();
        let power_up = channels.iter().map(Channel::config).collect();
        let tick_s = 1.0 / f64::from(config.controller_rate_hz);
        Self {
            watchdog_ms: config.watchdog_ms,
            telemetry_hz: config.telemetry_hz,
            channels,
            power_up,
            decoder: Decoder::new(),
            output: Vec::with_capacity(4096),
            ticks: 0,
            tick_s,
            carry_s: 0.0,
            seq_out: 0,
            handshaken: false,
            estop: false,
            watchdog_tripped: false,
            safe_stop_latched: false,
            last_host_tick: 0,
            next_telemetry_tick: 0,
            last_faults: [0; MAX_CHANNELS],
            stats: HeadStats::default(),
            config,
        }
    }

    pub fn config(&self) -> &HeadConfig {
        &self.config
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Simulated time since power-up, seconds.
    pub fn time_s(&self) -> f64 {
        self.ticks as f64 * self.tick_s
    }

    pub fn time_us(&self) -> u64 {
        self.ticks * 1_000_000 / u64::from(self.config.controller_rate_hz)
    }

    pub fn states(&self) -> impl Iterator<Item = ChannelState> + '_ {
        self.channels.iter().map(Channel::state)
    }

    pub fn channel(&self, i: usize) -> Option<&Channel> {
        self.channels.get(i)
    }

    pub fn stats(&self) -> HeadStats {
        self.stats
    }

    pub fn decoder_stats(&self) -> &DecoderStats {
        self.decoder.stats()
    }

    pub fn estop_latched(&self) -> bool {
        self.estop
    }

    pub fn watchdog_tripped(&self) -> bool {
        self.watchdog_tripped
    }

    /// Brings a freshly powered head to `positions_norm` the way firmware would: torque on,
    /// drive there, settle (half a second of simulated time). Used so a newly started
    /// simulated head continues from the pose a real head was in.
    pub fn set_positions(&mut self, positions_norm: &[f32]) {
        for (ch, &p) in self.channels.iter_mut().zip(positions_norm) {
            let c = ch.config();
            ch.set_torque(true);
            ch.set_target(
                if p.is_finite() {
                    p.clamp(c.min_norm, c.max_norm)
                } else {
                    0.0
                },
                0.0,
            );
        }
        self.advance(0.5);
        self.output.clear();
        self.last_faults = [0; MAX_CHANNELS];
    }

    /// Injects a fault directly (tests, scenes); the protocol way is `InjectFault`.
    pub fn inject(&mut self, channel: usize, kind: FaultKind, active: bool) -> bool {
        let Some(ch) = self.channels.get_mut(channel) else {
            return false;
        };
        let fault = motor_fault(kind);
        if active {
            ch.inject(fault);
        } else {
            ch.clear_injected(fault);
        }
        true
    }

    /// Bytes from the host. Frames are acted on at the current simulated time.
    pub fn receive(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(result) = self.decoder.push(b) {
                match result {
                    Ok(frame) => self.handle(frame),
                    Err(proto::DecodeError::Version { version }) => {
                        // Answer in the frozen Ack layout so a newer host learns why.
                        self.send(Message::Ack {
                            msg_type: 0,
                            seq: 0,
                            code: ErrorCode::BadVersion,
                            detail: version,
                        });
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Takes everything the head has to send.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Appends pending output to `out` without giving up the internal buffer.
    pub fn drain_output_into(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.output);
        self.output.clear();
    }

    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// Advances simulated time by `dt_s`, stepping the motors at the controller rate and
    /// emitting telemetry and fault events when due.
    pub fn advance(&mut self, dt_s: f64) {
        self.carry_s += dt_s;
        let n = (self.carry_s / self.tick_s + 1e-9).floor();
        if n < 1.0 {
            return;
        }
        self.carry_s -= n * self.tick_s;
        for _ in 0..n as u64 {
            self.tick();
        }
    }

    fn tick(&mut self) {
        self.ticks += 1;
        for ch in &mut self.channels {
            ch.step(self.tick_s);
        }
        self.check_watchdog();
        self.check_faults();
        if self.telemetry_hz > 0 && self.ticks >= self.next_telemetry_tick {
            let period =
                (u64::from(self.config.controller_rate_hz) / u64::from(self.telemetry_hz)).max(1);
            self.next_telemetry_tick = self.ticks + period;
            self.send_telemetry();
        }
    }

    fn check_watchdog(&mut self) {
        if self.watchdog_ms == 0 || !self.handshaken || self.watchdog_tripped {
            return;
        }
        let limit = u64::from(self.watchdog_ms) * u64::from(self.config.controller_rate_hz) / 1000;
        if self.ticks - self.last_host_tick > limit {
            self.watchdog_tripped = true;
            self.safe_stop_latched = true;
            self.stats.watchdog_trips += 1;
            self.safe_state(fault::WATCHDOG);
            self.send(Message::FaultEvent {
                head_time_us: self.time_us() as u32,
                channel: 0xFF,
                faults: fault::WATCHDOG,
            });
        }
    }

    /// Torque off on every channel, setpoints to neutral, `flag` raised.
    fn safe_state(&mut self, flag: u8) {
        for (ch, spec) in self.channels.iter_mut().zip(&self.config.channels) {
            ch.set_target(spec.neutral_norm, 0.0);
            ch.set_torque(false);
            ch.set_fault_flag(flag, true);
        }
    }

    fn check_faults(&mut self) {
        for i in 0..self.channels.len() {
            let now = self.channels[i].state().faults.0;
            let new = now & !self.last_faults[i];
            self.last_faults[i] = now;
            if new & !(fault::WATCHDOG | fault::ESTOP) != 0 {
                self.send(Message::FaultEvent {
                    head_time_us: self.time_us() as u32,
                    channel: i as u8,
                    faults: now,
                });
            }
        }
    }

    fn send(&mut self, msg: Message) {
        let mut buf = [0u8; MAX_WIRE_FRAME];
        // Every message the head builds fits by construction; an error would be a bug, so it is
        // dropped rather than panicking the firmware.
        if let Ok(n) = encode_frame(self.seq_out, &msg, &mut buf) {
            self.output.extend_from_slice(&buf[..n]);
            self.seq_out = self.seq_out.wrapping_add(1);
            self.stats.frames_out += 1;
        }
    }

    fn ack(&mut self, frame: &Frame, code: ErrorCode, detail: u8) {
        if code != ErrorCode::Ok {
            self.stats.rejected += 1;
        }
        self.send(Message::Ack {
            msg_type: frame.message.msg_type() as u8,
            seq: frame.seq,
            code,
            detail,
        });
    }

    /// The current telemetry frame.
    pub fn telemetry(&self) -> Telemetry {
        let mut channels = [ChannelTelemetry::default(); MAX_CHANNELS];
        let mut torque_mask = 0u32;
        for (i, (out, ch)) in channels.iter_mut().zip(&self.channels).enumerate() {
            let s = ch.state();
            if s.torque_enabled {
                torque_mask |= 1 << i;
            }
            *out = ChannelTelemetry {
                position_q15: norm_to_q15(s.position_norm),
                velocity: saturate_i16(s.velocity_norm_s / proto::VELOCITY_LSB_NORM_S),
                current_ma: saturate_i16(s.current_a * 1000.0),
                temperature_dc: saturate_i16(s.winding_temp_c / proto::TEMPERATURE_LSB_C),
                faults: s.faults.0,
            };
        }
        let mut st = 0;
        if self.estop {
            st |= status::ESTOP;
        }
        if self.watchdog_tripped {
            st |= status::WATCHDOG_TRIPPED;
        }
        if self.safe_stop_latched {
            st |= status::SAFE_STOP_LATCHED;
        }
        if self.handshaken {
            st |= status::HOST_CONNECTED;
        }
        Telemetry {
            head_time_us: self.time_us() as u32,
            torque_mask,
            status: st,
            count: self.channels.len() as u8,
            channels,
        }
    }

    fn send_telemetry(&mut self) {
        self.stats.telemetry_frames += 1;
        let t = self.telemetry();
        self.send(Message::Telemetry(t));
    }

    fn handle(&mut self, frame: Frame) {
        self.stats.frames_in += 1;
        let ty = frame.message.msg_type();
        if !ty.is_host_to_head() {
            self.ack(&frame, ErrorCode::NotPermitted, 0);
            return;
        }
        // Any valid host frame feeds the watchdog; a tripped watchdog is re-armed, but torque
        // stays off until the host asks for it again.
        self.last_host_tick = self.ticks;
        if self.watchdog_tripped {
            self.watchdog_tripped = false;
            for ch in &mut self.channels {
                ch.set_fault_flag(fault::WATCHDOG, false);
            }
        }
        if !self.handshaken
            && !matches!(ty, MsgType::Hello | MsgType::Ping | MsgType::EmergencyStop)
        {
            self.ack(&frame, ErrorCode::NotPermitted, 0);
            return;
        }
        match frame.message {
            Message::Hello { nonce } => {
                self.handshaken = true;
                self.send(Message::HelloReply(HeadInfo {
                    protocol_version: PROTOCOL_VERSION,
                    firmware: self.config.firmware,
                    channel_count: self.channels.len() as u8,
                    capabilities: capability::TIME_TO_TARGET
                        | capability::CHANNEL_CONFIG
                        | capability::FAULT_INJECTION
                        | capability::SIMULATED,
                    max_frame: MAX_RAW_FRAME as u16,
                    head_id: self.config.head_id,
                    nonce,
                }));
            }
            Message::SetTargets(t) => self.set_targets(&frame, &t),
            Message::ConfigureChannel(c) => self.configure(&frame, &c),
            Message::Torque { enable_mask } => {
                if self.estop && enable_mask != 0 {
                    self.ack(&frame, ErrorCode::EStopActive, 0);
                    return;
                }
                let mut refused = None;
                for (i, ch) in self.channels.iter_mut().enumerate() {
                    let on = enable_mask & (1 << i) != 0;
                    if on && !ch.state().torque_enabled {
                        // Start from where the skin is, not from a stale setpoint.
                        let here = ch.state().position_norm;
                        ch.set_target(here, 0.0);
                    }
                    ch.set_torque(on);
                    // A latched fault keeps torque off until it is cleared.
                    if on && !ch.state().torque_enabled && refused.is_none() {
                        refused = Some(i as u8);
                    }
                }
                match refused {
                    Some(i) => self.ack(&frame, ErrorCode::NotPermitted, i),
                    None => self.ack(&frame, ErrorCode::Ok, 0),
                }
            }
            Message::EmergencyStop => {
                self.estop = true;
                self.safe_state(fault::ESTOP);
                self.ack(&frame, ErrorCode::Ok, 0);
            }
            Message::SetWatchdog { timeout_ms } => {
                if timeout_ms != 0 && timeout_ms < 10 {
                    self.ack(&frame, ErrorCode::BadValue, 0);
                } else {
                    self.watchdog_ms = timeout_ms;
                    self.ack(&frame, ErrorCode::Ok, 0);
                }
            }
            Message::SetTelemetryRate { rate_hz } => {
                if rate_hz > 1000 {
                    self.ack(&frame, ErrorCode::BadValue, 0);
                } else {
                    self.telemetry_hz = rate_hz;
                    self.next_telemetry_tick = self.ticks;
                    self.ack(&frame, ErrorCode::Ok, 0);
                }
            }
            Message::Ping { token } => {
                let head_time_us = self.time_us() as u32;
                self.send(Message::Pong {
                    token,
                    head_time_us,
                });
            }
            Message::GetChannelInfo { channel } => match self.channel_info(usize::from(channel)) {
                Some(info) => self.send(Message::ChannelInfo(info)),
                None => self.ack(&frame, ErrorCode::BadChannel, channel),
            },
            Message::ClearFaults { mask } => {
                let release = mask & (1 << 31) != 0;
                if release {
                    self.estop = false;
                    self.safe_stop_latched = false;
                }
                for (i, ch) in self.channels.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        ch.clear_faults();
                    }
                    // Releasing the e-stop releases it on every channel.
                    if release {
                        ch.set_fault_flag(fault::ESTOP, false);
                    }
                }
                self.ack(&frame, ErrorCode::Ok, 0);
            }
            Message::InjectFault {
                channel,
                kind,
                active,
            } => {
                if self.inject(usize::from(channel), kind, active) {
                    self.ack(&frame, ErrorCode::Ok, channel);
                } else {
                    self.ack(&frame, ErrorCode::BadChannel, channel);
                }
            }
            _ => self.ack(&frame, ErrorCode::UnknownType, 0),
        }
    }

    fn set_targets(&mut self, frame: &Frame, t: &Targets) {
        self.stats.target_frames += 1;
        if usize::from(t.count) != self.channels.len() {
            self.ack(frame, ErrorCode::BadLength, t.count);
            return;
        }
        if self.estop {
            self.ack(frame, ErrorCode::EStopActive, 0);
            return;
        }
        let ttt_s = f32::from(t.time_to_target_ms) / 1000.0;
        let mut first_clamped = None;
        for (i, ch) in self.channels.iter_mut().enumerate() {
            let want = q15_to_norm(t.positions_q15[i]);
            let c = ch.config();
            let clamped = want.clamp(c.min_norm, c.max_norm);
            if clamped != want && first_clamped.is_none() {
                first_clamped = Some(i as u8);
            }
            ch.set_target(clamped, ttt_s);
        }
        if let Some(i) = first_clamped {
            self.stats.clamped += 1;
            self.ack(frame, ErrorCode::Clamped, i);
        }
    }

    fn configure(&mut self, frame: &Frame, c: &ChannelConfig) {
        let i = usize::from(c.channel);
        let Some(ch) = self.channels.get_mut(i) else {
            self.ack(frame, ErrorCode::BadChannel, c.channel);
            return;
        };
        let min_norm = q15_to_norm(c.min_q15);
        let max_norm = q15_to_norm(c.max_q15);
        let spec = &self.config.channels[i];
        let ordered = min_norm.partial_cmp(&max_norm) == Some(std::cmp::Ordering::Less);
        if !ordered || c.max_velocity == 0 || c.current_limit_ma == 0 {
            self.ack(frame, ErrorCode::BadValue, c.channel);
            return;
        }
        // Head-side hard limits: the host may narrow travel, velocity and current, never widen.
        if min_norm.max(spec.min_norm) >= max_norm.min(spec.max_norm) {
            self.ack(frame, ErrorCode::BadValue, c.channel);
            return;
        }
        let clamped = min_norm < spec.min_norm || max_norm > spec.max_norm;
        let base = self.power_up[i];
        let scale = |q: u16| f32::from(q) / f32::from(proto::GAIN_UNITY_Q8);
        let mut cfg = ch.config();
        cfg.min_norm = min_norm.max(spec.min_norm);
        cfg.max_norm = max_norm.min(spec.max_norm);
        cfg.max_velocity_norm_s =
            (f32::from(c.max_velocity) * proto::VELOCITY_LSB_NORM_S).min(base.max_velocity_norm_s);
        cfg.current_limit_a = (f32::from(c.current_limit_ma) / 1000.0).min(base.current_limit_a);
        cfg.kp = base.kp * scale(c.kp_q8);
        cfg.ki = base.ki * scale(c.ki_q8);
        cfg.kd = base.kd * scale(c.kd_q8);
        ch.configure(cfg);
        let code = if clamped {
            ErrorCode::Clamped
        } else {
            ErrorCode::Ok
        };
        self.ack(frame, code, c.channel);
    }

    /// Static information about a channel, as `ChannelInfo` reports it.
    pub fn channel_info(&self, i: usize) -> Option<ChannelInfo> {
        let ch = self.channels.get(i)?;
        let spec = &self.config.channels[i];
        let travel_mm = self.channels[i].params().spool.travel_mm;
        Some(ChannelInfo {
            config: wire_config(i as u8, &ch.config(), &self.power_up[i]),
            neutral_q15: norm_to_q15(spec.neutral_norm),
            travel_um: (travel_mm * 1000.0).clamp(0.0, 65535.0) as u16,
            name: ChannelInfo::name_from_str(&spec.name),
        })
    }
}

fn wire_config(
    channel: u8,
    c: &facetwin_motor::ChannelConfig,
    base: &facetwin_motor::ChannelConfig,
) -> ChannelConfig {
    let gain = |v: f32, b: f32| {
        if b == 0.0 {
            proto::GAIN_UNITY_Q8
        } else {
            (v / b * f32::from(proto::GAIN_UNITY_Q8))
                .round()
                .clamp(0.0, 65535.0) as u16
        }
    };
    ChannelConfig {
        channel,
        min_q15: norm_to_q15(c.min_norm),
        max_q15: norm_to_q15(c.max_norm),
        max_velocity: (c.max_velocity_norm_s / proto::VELOCITY_LSB_NORM_S)
            .round()
            .clamp(0.0, 65535.0) as u16,
        current_limit_ma: (c.current_limit_a * 1000.0).round().clamp(0.0, 65535.0) as u16,
        kp_q8: gain(c.kp, base.kp),
        ki_q8: gain(c.ki, base.ki),
        kd_q8: gain(c.kd, base.kd),
    }
}

fn motor_fault(kind: FaultKind) -> Fault {
    match kind {
        FaultKind::Jam => Fault::Jam,
        FaultKind::TornTendon => Fault::TornTendon,
        FaultKind::EncoderGlitch => Fault::EncoderGlitch,
        FaultKind::Overheat => Fault::Overheat,
        FaultKind::PowerLoss => Fault::PowerLoss,
    }
}

fn saturate_i16(v: f32) -> i16 {
    // `as` saturates and maps NaN to 0.
    v.round() as i16
}
