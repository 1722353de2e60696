//! The host session: handshake, command stream, telemetry, statistics, disconnect and reconnect.
//!
//! [`HostCore`] is the clock-agnostic state machine (every call takes `now`, so headless runs can
//! drive it in virtual time, deterministically); [`HostLink`] runs a core on its own thread and
//! its own clock, so no render frame ever throttles the command stream.

use crate::transport::{LinkError, Transport};
use facetwin_protocol::status as proto_status;
use facetwin_protocol::{
    ChannelInfo, Decoder, DecoderStats, ErrorCode, Frame, HeadInfo, MAX_CHANNELS, MAX_WIRE_FRAME,
    Message, MsgType, PROTOCOL_VERSION, Targets, Telemetry, encode_frame, q15_to_norm,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Something that produces the desired pose on the command stream's own clock (a timeline
/// being played, a replay): sampled at every command tick, never at the render frame.
pub trait Player: Send {
    /// Writes the pose at `t` (time since playback started) into `out`; returns false once
    /// playback has ended (the last pose is then held).
    fn sample(&mut self, t: Duration, out: &mut Vec<f32>) -> bool;
}

/// A procedure that drives the head from what it reports (a guided calibration), run on the
/// session thread's command clock like a [`Player`], never on a render frame: it sees every
/// message from the head, and at every command tick returns what to send. A `SetTargets`
/// becomes the desired pose (streamed with the host-side limits), anything else is queued.
pub trait Procedure: Send {
    /// A message from the head, as it arrives.
    fn on_message(&mut self, msg: &Message);
    /// One step at session time `now`: the messages to send.
    fn step(&mut self, now: Duration, view: &HeadView) -> Vec<Message>;
    /// Finished: the session drops it after this step.
    fn is_done(&self) -> bool;
}

/// A host-side map applied to every pose on its way out (the designer's, a player's), before
/// the host limits: a calibration, for instance. Runs on the session thread at every command
/// tick, so nothing reaches the head unmapped.
pub trait PoseMap: Send + Sync + std::fmt::Debug {
    /// Maps `pose` (normalised travel per channel) in place.
    fn map(&self, pose: &mut [f32]);
}

/// Opens a transport; called again for every reconnect attempt.
pub type Connector = Box<dyn FnMut() -> Result<Box<dyn Transport>, LinkError> + Send>;

/// Session settings.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Command stream rate, Hz (100 default, up to 1000).
    pub command_rate_hz: u32,
    /// Telemetry rate asked of the head, Hz.
    pub telemetry_hz: u16,
    /// Watchdog timeout asked of the head, ms.
    pub watchdog_ms: u16,
    /// No telemetry for this long means disconnected.
    pub silence_timeout: Duration,
    pub handshake_timeout: Duration,
    pub reconnect_interval: Duration,
    /// Mirror mode: listen to the head's telemetry, send nothing.
    pub passive: bool,
    /// Largest change of any commanded channel per command tick while handing over (normalised
    /// travel; 0.01 = 1 % of travel).
    pub handover_step_norm: f32,
    /// Ping period for round-trip statistics (`None`: no pings).
    pub ping_period: Option<Duration>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            command_rate_hz: 100,
            telemetry_hz: 200,
            watchdog_ms: 200,
            silence_timeout: Duration::from_millis(100),
            handshake_timeout: Duration::from_millis(500),
            reconnect_interval: Duration::from_millis(100),
            passive: false,
            handover_step_norm: 0.01,
            ping_period: Some(Duration::from_millis(100)),
        }
    }
}

/// Where the session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Disconnected {
        reason: String,
    },
    Handshaking,
    /// Handshake done, waiting for the first telemetry to start the handover.
    Syncing,
    Connected,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected)
    }
}

/// Things worth telling the user about, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Connected {
        transport: String,
        info: HeadInfo,
    },
    Disconnected {
        reason: String,
    },
    HandoverDone {
        ticks: u32,
    },
    Rejected {
        msg_type: u8,
        code: ErrorCode,
        detail: u8,
    },
    Clamped {
        channel: usize,
        wanted: f32,
        limit: f32,
    },
    Fault {
        channel: u8,
        faults: u8,
        head_time_us: u32,
    },
}

/// Static description of a channel as the head reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMeta {
    pub name: String,
    pub min_norm: f32,
    pub max_norm: f32,
    pub neutral_norm: f32,
    pub travel_mm: f32,
}

impl From<&ChannelInfo> for ChannelMeta {
    fn from(i: &ChannelInfo) -> Self {
        Self {
            name: i.name_str().to_owned(),
            min_norm: q15_to_norm(i.config.min_q15),
            max_norm: q15_to_norm(i.config.max_q15),
            neutral_norm: q15_to_norm(i.neutral_q15),
            travel_mm: f32::from(i.travel_um) / 1000.0,
        }
    }
}

/// Link statistics.
#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    pub frames_out: u64,
    pub frames_in: u64,
    pub target_frames: u64,
    pub telemetry_frames: u64,
    pub bytes_out: u64,
    pub decoder: DecoderStats,
    pub rejected: u64,
    pub clamped: u64,
    pub reconnects: u64,
    /// Frames per second over the last full second, each way.
    pub out_per_s: f64,
    pub in_per_s: f64,
    pub telemetry_per_s: f64,
    /// Recent round-trip times (ping → pong), microseconds, oldest first.
    pub rtt_us: VecDeque<u32>,
}

impl LinkStats {
    /// The p-th percentile (0..=100) of recent round-trip times, microseconds.
    pub fn rtt_percentile_us(&self, p: f64) -> Option<u32> {
        if self.rtt_us.is_empty() {
            return None;
        }
        let mut v: Vec<u32> = self.rtt_us.iter().copied().collect();
        v.sort_unstable();
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v.get(idx.min(v.len() - 1)).copied()
    }
}

/// Everything the app or a CLI wants to read, refreshed by the session.
#[derive(Debug, Clone)]
pub struct HeadView {
    pub state: LinkState,
    pub transport: String,
    pub info: Option<HeadInfo>,
    pub channels: Vec<ChannelMeta>,
    pub telemetry: Option<Telemetry>,
    /// Session time of the last telemetry frame.
    pub telemetry_at: Option<Duration>,
    /// What was last sent, normalised travel, per channel.
    pub sent_norm: Vec<f32>,
    pub handing_over: bool,
    /// Time into the current playback, on the command clock (`None`: not playing).
    pub playhead: Option<Duration>,
    /// A [`Procedure`] is running on the session thread.
    pub procedure: bool,
    pub stats: LinkStats,
    pub events: VecDeque<LinkEvent>,
}

impl Default for HeadView {
    fn default() -> Self {
        Self {
            state: LinkState::Disconnected {
                reason: "not started".into(),
            },
            transport: String::new(),
            info: None,
            channels: Vec::new(),
            telemetry: None,
            telemetry_at: None,
            sent_norm: Vec::new(),
            handing_over: false,
            playhead: None,
            procedure: false,
            stats: LinkStats::default(),
            events: VecDeque::new(),
        }
    }
}

impl HeadView {
    /// Measured positions from the latest telemetry, normalised travel.
    pub fn positions_norm(&self) -> Option<Vec<f32>> {
        self.telemetry
            .map(|t| t.channels().iter().map(|c| c.position_norm()).collect())
    }
}

const MAX_EVENTS: usize = 256;
const RTT_SAMPLES: usize = 1024;

/// The session state machine. Not thread-aware; see [`HostLink`] for the threaded runner.
pub struct HostCore {
    config: HostConfig,
    connector: Connector,
    transport: Option<Box<dyn Transport>>,
    decoder: Decoder,
    seq: u8,
    nonce: u32,
    state_since: Duration,
    last_attempt: Option<Duration>,
    last_ping: Duration,
    pings: VecDeque<(u32, Duration)>,
    ping_token: u32,
    handover_ticks: u32,
    want_torque: bool,
    torque_sent: Option<bool>,
    desired: Vec<f32>,
    outbox: VecDeque<Message>,
    rate_window: (Duration, u64, u64, u64),
    /// Last time any frame (valid or not) completed: the line is alive.
    last_heard: Duration,
    last_torque_send: Duration,
    last_info_request: Duration,
    last_hello: Duration,
    /// Which channels' `ChannelInfo` has arrived since the handshake.
    info_received: Vec<bool>,
    player: Option<(Box<dyn Player>, Duration)>,
    procedure: Option<Box<dyn Procedure>>,
    pose_map: Option<Arc<dyn PoseMap>>,
    /// This session already reported the head's latched safe stop (status `SAFE_STOP_LATCHED`).
    safe_stop_reported: bool,
    /// The desired pose after the pose map (reused, so a tick allocates nothing).
    mapped: Vec<f32>,
    view: HeadView,
    rx: Vec<u8>,
}

impl std::fmt::Debug for HostCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCore")
            .field("state", &self.view.state)
            .finish_non_exhaustive()
    }
}

impl HostCore {
    pub fn new(connector: Connector, config: HostConfig) -> Self {
        Self {
            config,
            connector,
            transport: None,
            decoder: Decoder::new(),
            seq: 0,
            nonce: 0x5EED_0000,
            state_since: Duration::ZERO,
            last_attempt: None,
            last_ping: Duration::ZERO,
            pings: VecDeque::new(),
            ping_token: 0,
            handover_ticks: 0,
            want_torque: true,
            torque_sent: None,
            desired: Vec::new(),
            outbox: VecDeque::new(),
            rate_window: (Duration::ZERO, 0, 0, 0),
            last_heard: Duration::ZERO,
            last_torque_send: Duration::ZERO,
            last_info_request: Duration::ZERO,
            last_hello: Duration::ZERO,
            info_received: Vec::new(),
            player: None,
            procedure: None,
            pose_map: None,
            safe_stop_reported: false,
            mapped: Vec::new(),
            view: HeadView::default(),
            rx: vec![0u8; 4096],
        }
    }

    pub fn view(&self) -> &HeadView {
        &self.view
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Maps every outgoing pose through `map` from the next command tick on (`None`: as is).
    pub fn set_pose_map(&mut self, map: Option<Arc<dyn PoseMap>>) {
        self.pose_map = map;
    }

    /// The pose the designer wants, normalised travel per channel.
    pub fn set_desired(&mut self, positions_norm: &[f32]) {
        self.desired.clear();
        self.desired.extend_from_slice(positions_norm);
    }

    pub fn set_torque(&mut self, on: bool) {
        self.want_torque = on;
    }

    /// Emergency stop: sent at once (even in passive mode, since safety beats silence).
    pub fn emergency_stop(&mut self, now: Duration) {
        self.want_torque = false;
        self.send(&Message::EmergencyStop, now);
    }

    /// Starts playing `player` from the next command tick (replacing any playback).
    pub fn play(&mut self, player: Box<dyn Player>, now: Duration) {
        self.player = Some((player, now));
        self.view.playhead = Some(Duration::ZERO);
    }

    pub fn stop_playback(&mut self) {
        self.player = None;
        self.view.playhead = None;
    }

    /// Runs `procedure` from the next command tick (replacing any other); `None` stops it.
    pub fn run_procedure(&mut self, procedure: Option<Box<dyn Procedure>>) {
        self.view.procedure = procedure.is_some();
        self.procedure = procedure;
    }

    fn step_procedure(&mut self, now: Duration) {
        let Some(mut p) = self.procedure.take() else {
            return;
        };
        for m in p.step(now, &self.view) {
            match m {
                Message::SetTargets(t) => {
                    let pose: Vec<f32> = (0..t.positions().len()).map(|i| t.norm(i)).collect();
                    self.set_desired(&pose);
                }
                other => self.queue(other),
            }
        }
        if p.is_done() {
            self.view.procedure = false;
        } else {
            self.procedure = Some(p);
        }
    }

    /// Queues any other command (configuration, clear faults, fault injection).
    pub fn queue(&mut self, msg: Message) {
        self.outbox.push_back(msg);
    }

    fn event(&mut self, e: LinkEvent) {
        if self.view.events.len() == MAX_EVENTS {
            self.view.events.pop_front();
        }
        self.view.events.push_back(e);
    }

    fn set_state(&mut self, s: LinkState, now: Duration) {
        self.view.state = s;
        self.state_since = now;
    }

    fn disconnect(&mut self, reason: String, now: Duration) {
        if self.transport.take().is_some() {
            self.event(LinkEvent::Disconnected {
                reason: reason.clone(),
            });
        }
        self.decoder.reset();
        self.torque_sent = None;
        self.safe_stop_reported = false;
        self.view.handing_over = false;
        self.pings.clear();
        self.set_state(LinkState::Disconnected { reason }, now);
    }

    fn send(&mut self, msg: &Message, now: Duration) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let mut buf = [0u8; MAX_WIRE_FRAME];
        let Ok(n) = encode_frame(self.seq, msg, &mut buf) else {
            return;
        };
        self.seq = self.seq.wrapping_add(1);
        match t.write_all(&buf[..n]) {
            Ok(()) => {
                self.view.stats.frames_out += 1;
                self.view.stats.bytes_out += n as u64;
                if msg.msg_type() == MsgType::SetTargets {
                    self.view.stats.target_frames += 1;
                }
            }
            Err(e) => self.disconnect(e.to_string(), now),
        }
    }

    /// Reads what has arrived, handles it, checks timeouts and reconnects. Call often.
    /// How long `poll` may wait for bytes (see [`Transport::set_read_wait`]).
    pub fn set_read_wait(&mut self, wait: Duration) {
        if let Some(t) = self.transport.as_mut() {
            t.set_read_wait(wait);
        }
    }

    pub fn poll(&mut self, now: Duration) {
        if self.transport.is_none() {
            let due = self
                .last_attempt
                .is_none_or(|t| now >= t + self.config.reconnect_interval);
            if due {
                self.last_attempt = Some(now);
                self.try_connect(now);
            }
            return;
        }
        let mut frames: Vec<Frame> = Vec::new();
        let mut completed = 0u32;
        let mut failed = None;
        if let Some(t) = self.transport.as_mut() {
            // Drain what is there now; bounded so a flood cannot starve the command clock.
            for _ in 0..16 {
                match t.read(&mut self.rx) {
                    Ok(0) => break,
                    Ok(n) => {
                        let decoder = &mut self.decoder;
                        decoder.feed(&self.rx[..n], |r| {
                            completed += 1;
                            if let Ok(f) = r {
                                frames.push(f);
                            }
                        });
                    }
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        self.view.stats.decoder = *self.decoder.stats();
        if completed > 0 {
            self.last_heard = now;
        }
        for f in frames {
            self.handle(f, now);
        }
        if let Some(reason) = failed {
            self.disconnect(reason, now);
            return;
        }
        self.check_timeouts(now);
        self.update_rates(now);
    }

    fn try_connect(&mut self, now: Duration) {
        match (self.connector)() {
            Ok(t) => {
                self.view.transport = t.describe();
                self.transport = Some(t);
                self.decoder.reset();
                self.view.info = None;
                self.view.telemetry = None;
                self.view.telemetry_at = None;
                self.view.stats.reconnects += 1;
                if self.config.passive {
                    self.set_state(LinkState::Syncing, now);
                } else {
                    self.nonce = self.nonce.wrapping_add(1);
                    // A lone delimiter first flushes any half frame in the head's decoder.
                    if let Some(t) = self.transport.as_mut() {
                        let _ = t.write_all(&[0]);
                    }
                    self.set_state(LinkState::Handshaking, now);
                    self.last_hello = now;
                    self.send(&Message::Hello { nonce: self.nonce }, now);
                }
            }
            Err(e) => {
                let reason = e.to_string();
                if self.view.state
                    != (LinkState::Disconnected {
                        reason: reason.clone(),
                    })
                {
                    self.set_state(LinkState::Disconnected { reason }, now);
                }
            }
        }
    }

    fn check_timeouts(&mut self, now: Duration) {
        let since = now.saturating_sub(self.state_since);
        match self.view.state {
            LinkState::Handshaking if since > self.config.handshake_timeout => {
                self.disconnect("no handshake reply".into(), now);
            }
            LinkState::Handshaking if now >= self.last_hello + Duration::from_millis(50) => {
                // The hello or its reply may have been lost on a noisy line: ask again.
                self.last_hello = now;
                self.send(&Message::Hello { nonce: self.nonce }, now);
            }
            LinkState::Syncing if since > self.config.handshake_timeout => {
                self.disconnect("no telemetry after handshake".into(), now);
            }
            LinkState::Connected => {
                // Frames that arrive damaged still prove the line is alive: a noisy link is
                // degraded (and counted), a silent one is gone.
                let last = self.last_heard.max(self.state_since);
                if now.saturating_sub(last) > self.config.silence_timeout {
                    let ms = self.config.silence_timeout.as_millis();
                    self.disconnect(format!("no telemetry for {ms} ms"), now);
                }
            }
            _ => {}
        }
    }

    fn update_rates(&mut self, now: Duration) {
        let (t0, out0, in0, tel0) = self.rate_window;
        let dt = now.saturating_sub(t0);
        if dt >= Duration::from_secs(1) {
            let s = &mut self.view.stats;
            let secs = dt.as_secs_f64();
            s.out_per_s = (s.frames_out - out0) as f64 / secs;
            s.in_per_s = (s.frames_in - in0) as f64 / secs;
            s.telemetry_per_s = (s.telemetry_frames - tel0) as f64 / secs;
            self.rate_window = (now, s.frames_out, s.frames_in, s.telemetry_frames);
        }
    }

    fn handle(&mut self, frame: Frame, now: Duration) {
        self.view.stats.frames_in += 1;
        if let Some(p) = self.procedure.as_mut() {
            p.on_message(&frame.message);
        }
        match frame.message {
            Message::HelloReply(info) => {
                if self.view.state != LinkState::Handshaking || info.nonce != self.nonce {
                    return;
                }
                if info.protocol_version != PROTOCOL_VERSION {
                    // Never command a head that speaks another version.
                    self.disconnect(
                        format!(
                            "head speaks protocol v{}, this host v{PROTOCOL_VERSION}",
                            info.protocol_version
                        ),
                        now,
                    );
                    return;
                }
                let count = usize::from(info.channel_count).min(MAX_CHANNELS);
                self.view.info = Some(info);
                self.view.channels = (0..count)
                    .map(|i| ChannelMeta {
                        name: format!("ch{i}"),
                        min_norm: -1.0,
                        max_norm: 1.0,
                        neutral_norm: 0.0,
                        travel_mm: 0.0,
                    })
                    .collect();
                self.info_received = vec![false; count];
                for i in 0..count {
                    self.send(&Message::GetChannelInfo { channel: i as u8 }, now);
                }
                self.send(
                    &Message::SetWatchdog {
                        timeout_ms: self.config.watchdog_ms,
                    },
                    now,
                );
                self.send(
                    &Message::SetTelemetryRate {
                        rate_hz: self.config.telemetry_hz,
                    },
                    now,
                );
                self.set_state(LinkState::Syncing, now);
            }
            Message::ChannelInfo(ci) => {
                let i = usize::from(ci.config.channel);
                if let Some(m) = self.view.channels.get_mut(i) {
                    *m = ChannelMeta::from(&ci);
                }
                if let Some(r) = self.info_received.get_mut(i) {
                    *r = true;
                }
            }
            Message::Telemetry(t) => {
                self.view.stats.telemetry_frames += 1;
                self.view.telemetry = Some(t);
                self.view.telemetry_at = Some(now);
                // The head went to its safe state while this host was not listening (a cable
                // pull, a stalled host): its FaultEvent was lost, the latched status says so.
                let latched = t.status & proto_status::SAFE_STOP_LATCHED != 0;
                if latched && !self.safe_stop_reported {
                    self.event(LinkEvent::Fault {
                        channel: 0xFF,
                        faults: facetwin_protocol::fault::WATCHDOG,
                        head_time_us: t.head_time_us,
                    });
                }
                self.safe_stop_reported = latched;
                if self.view.state == LinkState::Syncing {
                    self.start_handover(&t, now);
                } else if self.view.state == LinkState::Connected
                    && !self.config.passive
                    && t.status & proto_status::WATCHDOG_TRIPPED != 0
                {
                    // The head went to its safe state (this host stalled past the watchdog):
                    // start over from where it is now, with the handover ramp.
                    self.start_handover(&t, now);
                }
            }
            Message::Pong { token, .. } => {
                if let Some(pos) = self.pings.iter().position(|(tok, _)| *tok == token) {
                    let (_, sent) = self.pings[pos];
                    self.pings.drain(..=pos);
                    let rtt = now
                        .saturating_sub(sent)
                        .as_micros()
                        .min(u128::from(u32::MAX)) as u32;
                    let s = &mut self.view.stats;
                    if s.rtt_us.len() == RTT_SAMPLES {
                        s.rtt_us.pop_front();
                    }
                    s.rtt_us.push_back(rtt);
                }
            }
            Message::Ack {
                msg_type,
                code,
                detail,
                ..
            } if code != ErrorCode::Ok => {
                if code == ErrorCode::Clamped {
                    self.view.stats.clamped += 1;
                } else {
                    self.view.stats.rejected += 1;
                }
                self.event(LinkEvent::Rejected {
                    msg_type,
                    code,
                    detail,
                });
            }
            Message::FaultEvent {
                head_time_us,
                channel,
                faults,
            } => {
                self.event(LinkEvent::Fault {
                    channel,
                    faults,
                    head_time_us,
                });
            }
            _ => {}
        }
    }

    /// The head's measured pose becomes the first command; commands then ramp to the desired pose.
    fn start_handover(&mut self, t: &Telemetry, now: Duration) {
        if self.config.passive {
            self.set_state(LinkState::Connected, now);
            self.event(LinkEvent::Connected {
                transport: self.view.transport.clone(),
                info: self.view.info.unwrap_or(HeadInfo {
                    protocol_version: PROTOCOL_VERSION,
                    firmware: [0; 3],
                    channel_count: t.count,
                    capabilities: 0,
                    max_frame: 0,
                    head_id: 0,
                    nonce: 0,
                }),
            });
            return;
        }
        self.view.sent_norm = t.channels().iter().map(|c| c.position_norm()).collect();
        self.view.handing_over = true;
        self.handover_ticks = 0;
        self.torque_sent = None;
        self.set_state(LinkState::Connected, now);
        if let Some(info) = self.view.info {
            self.event(LinkEvent::Connected {
                transport: self.view.transport.clone(),
                info,
            });
        }
    }

    /// One tick of the command stream: targets (ramped while handing over), torque, queued
    /// commands and pings. Call at `command_rate_hz`.
    pub fn command_tick(&mut self, now: Duration) {
        self.step_procedure(now);
        if let Some((player, started)) = self.player.as_mut() {
            let t = now.saturating_sub(*started);
            let mut pose = std::mem::take(&mut self.desired);
            let playing = player.sample(t, &mut pose);
            self.desired = pose;
            self.view.playhead = Some(t);
            if !playing {
                self.player = None;
                self.view.playhead = None;
            }
        }
        if self.transport.is_none()
            || self.config.passive
            || self.view.state != LinkState::Connected
        {
            return;
        }
        while let Some(msg) = self.outbox.pop_front() {
            self.send(&msg, now);
        }
        let n = self.view.channels.len();
        let mask = if self.want_torque { low_mask(n) } else { 0 };
        // Commands can be lost on a noisy line: resend torque until telemetry confirms it, and
        // ask again for channel descriptions that never arrived.
        // Channels with a latched fault refuse torque until it is cleared: don't insist on those.
        let unconfirmed = self.view.telemetry.is_some_and(|t| {
            let healthy = t.channels().iter().enumerate().fold(0u32, |m, (i, c)| {
                if c.faults == 0 { m | (1 << i) } else { m }
            });
            (t.torque_mask ^ mask) & healthy != 0 && t.status & proto_status::ESTOP == 0
        });
        let retry = unconfirmed && now >= self.last_torque_send + Duration::from_millis(50);
        if self.torque_sent != Some(self.want_torque) || retry {
            self.send(&Message::Torque { enable_mask: mask }, now);
            self.torque_sent = Some(self.want_torque);
            self.last_torque_send = now;
        }
        if now >= self.last_info_request + Duration::from_millis(100) {
            self.last_info_request = now;
            let missing: Vec<u8> = self
                .view
                .channels
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.info_received.get(*i).copied().unwrap_or(true))
                .map(|(i, _)| i as u8)
                .take(4)
                .collect();
            for channel in missing {
                self.send(&Message::GetChannelInfo { channel }, now);
            }
        }
        // While the head's emergency stop is latched, targets would only be refused.
        let estop = self
            .view
            .telemetry
            .is_some_and(|t| t.status & proto_status::ESTOP != 0);
        if !estop {
            self.send_targets(now);
        }
        if let Some(period) = self.config.ping_period
            && now >= self.last_ping + period
        {
            self.last_ping = now;
            self.ping_token = self.ping_token.wrapping_add(1);
            self.pings.push_back((self.ping_token, now));
            if self.pings.len() > 64 {
                self.pings.pop_front();
            }
            self.send(
                &Message::Ping {
                    token: self.ping_token,
                },
                now,
            );
        }
    }

    fn send_targets(&mut self, now: Duration) {
        let n = self.view.channels.len();
        if self.view.sent_norm.len() != n {
            return;
        }
        let mut mapped = std::mem::take(&mut self.mapped);
        mapped.clear();
        mapped.extend_from_slice(&self.desired);
        if let Some(map) = &self.pose_map {
            map.map(&mut mapped);
        }
        let mut clamps = Vec::new();
        let step = self.config.handover_step_norm;
        let mut settled = true;
        for i in 0..n {
            let meta = &self.view.channels[i];
            let raw = mapped.get(i).copied().unwrap_or(meta.neutral_norm);
            let raw = if raw.is_finite() {
                raw
            } else {
                meta.neutral_norm
            };
            // Host-side limits: out-of-range targets are clamped and reported, never sent.
            let want = raw.clamp(meta.min_norm, meta.max_norm);
            if want != raw {
                clamps.push((i, raw, want));
            }
            let sent = &mut self.view.sent_norm[i];
            if self.view.handing_over {
                let delta = (want - *sent).clamp(-step, step);
                *sent += delta;
                if (want - *sent).abs() > 1e-6 {
                    settled = false;
                }
            } else {
                *sent = want;
            }
        }
        self.mapped = mapped;
        for (channel, wanted, limit) in clamps {
            self.view.stats.clamped += 1;
            // Report each clamped channel once per change, not at the command rate.
            let already = self.view.events.iter().rev().take(8).any(|e| {
                matches!(e, LinkEvent::Clamped { channel: c, wanted: w, .. } if *c == channel && *w == wanted)
            });
            if !already {
                self.event(LinkEvent::Clamped {
                    channel,
                    wanted,
                    limit,
                });
            }
        }
        if self.view.handing_over {
            self.handover_ticks += 1;
            if settled {
                self.view.handing_over = false;
                self.event(LinkEvent::HandoverDone {
                    ticks: self.handover_ticks,
                });
            }
        }
        let period_ms = (1000 / self.config.command_rate_hz.max(1)).max(1);
        let targets = Targets::from_norm(&self.view.sent_norm, period_ms as u16);
        self.send(&Message::SetTargets(targets), now);
    }
}

fn low_mask(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// Commands from other threads to the session thread.
#[derive(Debug, Default)]
struct Inbox {
    desired: Option<Vec<f32>>,
    torque: Option<bool>,
    estop: bool,
    queue: Vec<Message>,
    play: Option<Box<dyn Player>>,
    stop_playback: bool,
    procedure: Option<Option<Box<dyn Procedure>>>,
    pose_map: Option<Option<Arc<dyn PoseMap>>>,
}

impl std::fmt::Debug for dyn Procedure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Procedure")
    }
}

impl std::fmt::Debug for dyn Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Player")
    }
}

#[derive(Debug, Default)]
struct Shared {
    inbox: Inbox,
    view: HeadView,
}

/// A host session on its own thread and clock.
#[derive(Debug)]
pub struct HostLink {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panicked session thread leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HostLink {
    pub fn start(connector: Connector, config: HostConfig) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("facetwin-link".into())
                .spawn(move || run(HostCore::new(connector, config), &shared, &stop))
                .ok()
        };
        Self {
            shared,
            stop,
            thread,
        }
    }

    pub fn set_desired(&self, positions_norm: &[f32]) {
        lock(&self.shared).inbox.desired = Some(positions_norm.to_vec());
    }

    /// Runs `procedure` on the session thread (see [`Procedure`]); `None` stops the running one.
    pub fn run_procedure(&self, procedure: Option<Box<dyn Procedure>>) {
        lock(&self.shared).inbox.procedure = Some(procedure);
    }

    /// Maps every outgoing pose through `map` (see [`PoseMap`]); `None` sends poses as they are.
    pub fn set_pose_map(&self, map: Option<Arc<dyn PoseMap>>) {
        lock(&self.shared).inbox.pose_map = Some(map);
    }

    pub fn set_torque(&self, on: bool) {
        lock(&self.shared).inbox.torque = Some(on);
    }

    pub fn emergency_stop(&self) {
        lock(&self.shared).inbox.estop = true;
    }

    pub fn queue(&self, msg: Message) {
        lock(&self.shared).inbox.queue.push(msg);
    }

    /// Plays `player` on the session thread's command clock.
    pub fn play(&self, player: Box<dyn Player>) {
        let mut s = lock(&self.shared);
        s.inbox.play = Some(player);
        s.inbox.stop_playback = false;
    }

    pub fn stop_playback(&self) {
        let mut s = lock(&self.shared);
        s.inbox.play = None;
        s.inbox.stop_playback = true;
    }

    /// A copy of the session's current view.
    pub fn view(&self) -> HeadView {
        lock(&self.shared).view.clone()
    }

    /// Reads the view without copying it.
    pub fn with_view<R>(&self, f: impl FnOnce(&HeadView) -> R) -> R {
        f(&lock(&self.shared).view)
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(mut core: HostCore, shared: &Mutex<Shared>, stop: &AtomicBool) {
    let start = Instant::now();
    let period =
        Duration::from_secs_f64(1.0 / f64::from(core.config().command_rate_hz.clamp(1, 1000)));
    let mut next_tick = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let now = start.elapsed();
        // Wait for bytes no longer than until the next command is due: at 1 kHz a fixed 1 ms
        // read timeout would make every loop longer than a period and drop ticks.
        core.set_read_wait(next_tick.saturating_sub(now));
        core.poll(now);
        {
            let mut s = lock(shared);
            let inbox = std::mem::take(&mut s.inbox);
            if let Some(d) = inbox.desired {
                core.set_desired(&d);
            }
            if let Some(t) = inbox.torque {
                core.set_torque(t);
            }
            if inbox.estop {
                core.emergency_stop(now);
            }
            for m in inbox.queue {
                core.queue(m);
            }
            if inbox.stop_playback {
                core.stop_playback();
            }
            if let Some(p) = inbox.play {
                core.play(p, now);
            }
            if let Some(map) = inbox.pose_map {
                core.set_pose_map(map);
            }
            if let Some(p) = inbox.procedure {
                core.run_procedure(p);
            }
        }
        let now = start.elapsed();
        if now >= next_tick {
            core.command_tick(now);
            next_tick += period;
            // Fell far behind (e.g. the machine was suspended): skip, don't burst.
            if now > next_tick + period * 5 {
                next_tick = now + period;
            }
        }
        {
            let mut s = lock(shared);
            clone_view_into(&mut s.view, core.view());
        }
        if core.view().state != LinkState::Connected || core.config().passive {
            // Nothing to stream; `poll` on a serial port already waited up to 1 ms.
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    // Leaving: torque off so a head left behind is safe even before its watchdog fires.
    if !core.config().passive && core.view().state == LinkState::Connected {
        core.set_torque(false);
        let now = start.elapsed();
        core.command_tick(now);
    }
}

fn clone_view_into(dst: &mut HeadView, src: &HeadView) {
    dst.clone_from(src);
}

/// Names a decoded message type for logs and tables.
pub fn msg_type_name(code: u8) -> String {
    MsgType::from_u8(code).map_or_else(|| format!("{code:#04x}"), |t| format!("{t:?}"))
}
