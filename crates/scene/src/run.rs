//! The runner: host session ([`HostCore`]) and head in lockstep, 1 ms host steps.
//!
//! For the in-process head the host clock and the head's clock are the same virtual clock: each
//! millisecond the head is advanced (its motors step at the controller rate, 10 kHz), then the
//! scene's due steps are applied, the host polls, and on command ticks the host sends. Nothing
//! reads the wall clock, so a scene gives the same telemetry, bit for bit, every time. A serial
//! head runs the same loop paced against the wall clock.

use crate::expect;
use crate::plan::{LoadedScene, Plan, Planned};
use crate::result::SceneResult;
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::{
    HostConfig, HostCore, LinkError, LinkState, SerialTransport, SharedHead, Transport,
};
use facetwin_motor::{Channel, ChannelKind, ChannelParams};
use facetwin_protocol::{Decoder, MAX_RAW_FRAME, Message, Telemetry, encode_raw};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How to run scenes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Pace the in-process head against the wall clock (a serial head always is).
    pub realtime: bool,
    /// Render frames for `Image` expectations (not implemented yet: they are skipped).
    pub render: bool,
}

/// One telemetry frame, on the scene clock.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Scene time, s.
    pub t: f64,
    pub tel: Telemetry,
    /// Currents of the healthy shadow channels at this time (A), in `Plan::shadow_channels`
    /// order.
    pub shadow_a: Vec<f32>,
}

/// Everything the expectations are evaluated on.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub samples: Vec<Sample>,
    /// What the host commanded: (scene time, targets per channel).
    pub commands: Vec<(f64, Vec<f32>)>,
    /// Fault events from the head: (scene time, channel or 0xFF, fault bits).
    pub fault_events: Vec<(f64, u8, u8)>,
    /// Link state changes: (scene time, connected, description). Starts connected at 0.
    pub link: Vec<(f64, bool, String)>,
    /// Measured positions at 100 Hz (only when a `MeshNear` needs the rig).
    pub mesh_track: Vec<(f64, Vec<f32>)>,
    /// Neutral position per channel, as the head reported it.
    pub neutral: Vec<f32>,
    pub period_s: f64,
    pub telemetry_frames: u64,
    pub hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Frames the host read, decoded a second time on the side: every telemetry frame and fault
/// event, even when several arrive in one poll.
#[derive(Debug, Default)]
struct TapLog {
    frames: Vec<Message>,
}

struct Tap {
    inner: Box<dyn Transport>,
    decoder: Decoder,
    log: Arc<Mutex<TapLog>>,
}

impl Transport for Tap {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.inner.write_all(bytes)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            self.decoder.feed(&buf[..n], |r| {
                if let Ok(f) = r
                    && matches!(
                        f.message,
                        Message::Telemetry(_) | Message::FaultEvent { .. }
                    )
                {
                    log.frames.push(f.message);
                }
            });
        }
        Ok(n)
    }

    fn set_read_wait(&mut self, wait: std::time::Duration) {
        self.inner.set_read_wait(wait);
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

enum Driver {
    Lockstep(SharedHead),
    Serial,
}

/// A play in progress.
struct ActivePlay {
    start_ms: u64,
    targets: Vec<(usize, f32)>,
    onset_ms: u32,
    hold_ms: u32,
    offset_ms: u32,
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl ActivePlay {
    /// Envelope 0..1 at `t_ms`, `None` once the play is over.
    fn envelope(&self, t_ms: u64) -> Option<f64> {
        let u = t_ms.saturating_sub(self.start_ms) as f64;
        let (on, hold, off) = (
            f64::from(self.onset_ms),
            f64::from(self.hold_ms),
            f64::from(self.offset_ms),
        );
        if u < on {
            Some(smoothstep(u / on))
        } else if u < on + hold {
            Some(1.0)
        } else if u < on + hold + off {
            Some(smoothstep(1.0 - (u - on - hold) / off))
        } else {
            None
        }
    }
}

/// A healthy motor channel fed the same commands as a head channel.
struct Shadow {
    ch: usize,
    model: Channel,
}

fn low_mask(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

struct Runner<'a> {
    plan: &'a Plan,
    host: HostCore,
    driver: Driver,
    log: Arc<Mutex<TapLog>>,
    rec: Recording,
    /// Host clock (ms) at scene time 0.
    t0_ms: u64,
    started: bool,
    held: Vec<f32>,
    plays: Vec<ActivePlay>,
    silent_until_ms: u64,
    shadows: Vec<Shadow>,
    last_target_frames: u64,
    last_connected: Option<bool>,
    /// Serial heads: head clock minus host clock, µs, fixed at the first telemetry frame.
    head_offset_us: Option<i64>,
    head_clock: (u32, u64),
    last_positions: Vec<f32>,
    /// Reused buffer for the tapped frames.
    scratch: Vec<Message>,
}

/// Runs one scene and evaluates its expectations.
pub fn run(scene: &LoadedScene, options: &RunOptions) -> SceneResult {
    let plan = &scene.plan;
    if plan.needs_mesh {
        // Loading the default face is a one-time asset load, not simulation: keep it out of the
        // scene's wall time.
        crate::mesh::preload();
    }
    let start = Instant::now();
    let (rec, error) = simulate(scene, options);
    let outcomes = if error.is_none() {
        expect::evaluate(plan, &scene.scene.expect, &rec, options)
    } else {
        Vec::new()
    };
    let wall_s = start.elapsed().as_secs_f64();
    let sim_s = plan.duration_ms as f64 / 1000.0;
    SceneResult {
        path: scene.path.clone(),
        name: scene.name.clone(),
        outcomes,
        error,
        telemetry_hash: rec.hash,
        telemetry_frames: rec.telemetry_frames,
        sim_s,
        wall_s,
        realtime_factor: sim_s / wall_s.max(1e-9),
    }
}

/// Runs the scene; the recording, and why the run stopped early if it did.
fn simulate(scene: &LoadedScene, options: &RunOptions) -> (Recording, Option<String>) {
    let plan = &scene.plan;
    let s = &scene.scene;
    let log = Arc::new(Mutex::new(TapLog::default()));
    let config = HostConfig {
        command_rate_hz: s.command_rate_hz,
        telemetry_hz: s.telemetry_hz,
        watchdog_ms: s.watchdog_ms,
        ..HostConfig::default()
    };
    let (driver, connector): (Driver, facetwin_link::Connector) = match &s.head {
        crate::format::HeadSetup::Default => {
            let mut head_config = HeadConfig::default_head();
            head_config.seed = s.seed;
            let shared = SharedHead::new(VirtualHead::new(head_config));
            let pipe = shared.clone();
            let log = Arc::clone(&log);
            let connector: facetwin_link::Connector = Box::new(move || {
                if !pipe.lock().plugged {
                    return Err(LinkError::Open {
                        path: "virtual head".into(),
                        reason: "unplugged".into(),
                    });
                }
                Ok(Box::new(Tap {
                    inner: Box::new(pipe.transport()),
                    decoder: Decoder::new(),
                    log: Arc::clone(&log),
                }) as Box<dyn Transport>)
            });
            (Driver::Lockstep(shared), connector)
        }
        crate::format::HeadSetup::Serial { path, baud } => {
            let (path, baud) = (path.clone(), *baud);
            let log = Arc::clone(&log);
            let connector: facetwin_link::Connector = Box::new(move || {
                let t = SerialTransport::open(&path, baud)?;
                Ok(Box::new(Tap {
                    inner: Box::new(t),
                    decoder: Decoder::new(),
                    log: Arc::clone(&log),
                }) as Box<dyn Transport>)
            });
            (Driver::Serial, connector)
        }
    };
    let realtime = options.realtime || matches!(driver, Driver::Serial);
    let n = plan.channel_names.len();
    let mut r = Runner {
        plan,
        host: HostCore::new(connector, config),
        driver,
        log,
        rec: Recording {
            samples: Vec::with_capacity(
                (plan.duration_ms * u64::from(s.telemetry_hz) / 1000 + 16).min(1 << 20) as usize,
            ),
            period_s: plan.period_ms as f64 / 1000.0,
            neutral: plan.neutral.clone(),
            hash: FNV_OFFSET,
            ..Recording::default()
        },
        t0_ms: 0,
        started: false,
        held: plan.neutral.clone(),
        plays: Vec::new(),
        silent_until_ms: 0,
        shadows: Vec::new(),
        last_target_frames: 0,
        last_connected: None,
        head_offset_us: None,
        head_clock: (0, 0),
        last_positions: plan.neutral.clone(),
        scratch: Vec::new(),
    };
    r.host.set_desired(&r.held);
    let wall = Instant::now();
    let serial = matches!(r.driver, Driver::Serial);
    // The next host millisecond. Virtual time: every millisecond, optionally paced against the
    // wall clock. A real head: the wall clock itself (milliseconds may be skipped when the
    // host falls behind; the head does not wait).
    let clock = |prev: u64| -> u64 {
        let next = prev + 1;
        if realtime {
            let due = Duration::from_millis(next);
            let el = wall.elapsed();
            if due > el {
                std::thread::sleep(due - el);
            }
        }
        if serial {
            next.max(wall.elapsed().as_millis() as u64)
        } else {
            next
        }
    };

    // Connect: handshake, handover, torque confirmed; scene time 0 is the next command tick.
    let mut now_ms = 0u64;
    let mut next_tick = plan.period_ms;
    let connect_limit_ms = 3000;
    loop {
        let prev = now_ms;
        now_ms = clock(prev);
        r.advance_head(now_ms - prev);
        r.host.poll(Duration::from_millis(now_ms));
        if now_ms >= next_tick {
            r.host.command_tick(Duration::from_millis(now_ms));
            next_tick = next_tick_after(next_tick, now_ms, plan.period_ms);
        }
        r.drain_tap(now_ms);
        let v = r.host.view();
        let ready = v.state == LinkState::Connected
            && !v.handing_over
            && v.channels.len() >= n
            && v.channels.iter().all(|c| c.travel_mm > 0.0)
            && v.telemetry
                .is_some_and(|t| t.torque_mask & low_mask(n) == low_mask(n));
        if ready && (serial || now_ms + 1 == next_tick) {
            break;
        }
        if now_ms >= connect_limit_ms {
            let state = match &v.state {
                LinkState::Disconnected { reason } => format!("disconnected: {reason}"),
                other => format!("{other:?}"),
            };
            let why = format!(
                "the head ({}) was not connected and streaming within {} s ({state})",
                describe_head(&s.head),
                connect_limit_ms / 1000
            );
            return (r.rec, Some(why));
        }
    }
    if let Err(e) = r.check_channels() {
        return (r.rec, Some(e));
    }
    r.rec.neutral = r
        .host
        .view()
        .channels
        .iter()
        .take(n)
        .map(|c| c.neutral_norm)
        .collect();
    r.t0_ms = now_ms + 1;
    r.started = true;
    r.start_shadows();

    let mut next_step = 0;
    let mut next_tick = 0u64;
    let mut next_mesh = 0u64;
    let mut now_ms = r.t0_ms - 1;
    loop {
        let prev = now_ms;
        now_ms = clock(prev);
        let scene_ms = now_ms - r.t0_ms;
        if scene_ms > plan.duration_ms {
            break;
        }
        let now = Duration::from_millis(now_ms);
        r.advance_head(now_ms - prev);
        while let Some(step) = plan.steps.get(next_step)
            && step.t_ms <= scene_ms
        {
            r.apply(&step.action, scene_ms, now);
            next_step += 1;
        }
        r.host.poll(now);
        if scene_ms >= next_tick {
            next_tick = next_tick_after(next_tick, scene_ms, plan.period_ms);
            if scene_ms >= r.silent_until_ms {
                let desired = r.desired(scene_ms + plan.period_ms);
                r.host.set_desired(&desired);
                r.host.command_tick(now);
                r.after_tick(scene_ms);
            }
        }
        r.drain_tap(now_ms);
        r.track_link(scene_ms);
        if plan.needs_mesh && scene_ms >= next_mesh {
            next_mesh = scene_ms - scene_ms % 10 + 10;
            r.rec
                .mesh_track
                .push((scene_ms as f64 / 1000.0, r.last_positions.clone()));
        }
    }
    (r.rec, None)
}

/// The command tick after the one due at `due`, given that it ran at `now` (a real head's loop
/// may be late: it skips ticks rather than bursting them).
fn next_tick_after(due: u64, now: u64, period: u64) -> u64 {
    let next = due + period;
    if next > now {
        next
    } else {
        now - now % period + period
    }
}

fn describe_head(h: &crate::format::HeadSetup) -> String {
    match h {
        crate::format::HeadSetup::Default => "in-process default head".into(),
        crate::format::HeadSetup::Serial { path, baud } => format!("{path} @ {baud}"),
    }
}

impl Runner<'_> {
    /// `ms` milliseconds of head time (the in-process head; a real head runs on its own) and of
    /// the shadow models.
    fn advance_head(&mut self, ms: u64) {
        if let Driver::Lockstep(shared) = &self.driver {
            for _ in 0..ms {
                shared.advance(0.001);
            }
        }
        for s in &mut self.shadows {
            for _ in 0..ms * 10 {
                s.model.step(1e-4);
            }
        }
    }

    /// A serial head must have the default head's channels, by name.
    fn check_channels(&self) -> Result<(), String> {
        let v = self.host.view();
        for (i, want) in self.plan.channel_names.iter().enumerate() {
            match v.channels.get(i) {
                Some(c) if &c.name == want => {}
                Some(c) => {
                    return Err(format!(
                        "the head reports channel {i} as `{}`, scenes use the default head's \
                         layout (`{want}`)",
                        c.name
                    ));
                }
                None => {
                    return Err(format!(
                        "the head has {} channels, the default head {}",
                        v.channels.len(),
                        self.plan.channel_names.len()
                    ));
                }
            }
        }
        Ok(())
    }

    fn start_shadows(&mut self) {
        let specs = HeadConfig::default_head().channels;
        for &ch in &self.plan.shadow_channels {
            let Some(spec) = specs.get(ch) else { continue };
            let mut params = ChannelParams::default();
            if spec.bidirectional {
                params.kind = ChannelKind::Bidirectional;
            }
            let mut model = Channel::new(&params, 0x5EED ^ ch as u64);
            let mut c = model.config();
            c.min_norm = spec.min_norm;
            c.max_norm = spec.max_norm;
            model.configure(c);
            model.set_target(spec.neutral_norm, 0.0);
            model.set_torque(true);
            self.shadows.push(Shadow { ch, model });
        }
    }

    fn apply(&mut self, action: &Planned, scene_ms: u64, now: Duration) {
        match action {
            Planned::Set(targets) => {
                for &(ch, v) in targets {
                    self.held[ch] = v;
                }
            }
            Planned::Play {
                targets,
                onset_ms,
                hold_ms,
                offset_ms,
            } => self.plays.push(ActivePlay {
                start_ms: scene_ms,
                targets: targets.clone(),
                onset_ms: *onset_ms,
                hold_ms: *hold_ms,
                offset_ms: *offset_ms,
            }),
            Planned::Inject {
                channel,
                kind,
                active,
            } => match &self.driver {
                Driver::Lockstep(shared) => {
                    shared.lock().head.inject(*channel, *kind, *active);
                }
                Driver::Serial => self.host.queue(Message::InjectFault {
                    channel: *channel as u8,
                    kind: *kind,
                    active: *active,
                }),
            },
            Planned::Corrupt(fraction) => {
                if let Driver::Lockstep(shared) = &self.driver {
                    shared.lock().corrupt_fraction = *fraction;
                }
            }
            Planned::Silence(ms) => {
                self.silent_until_ms = scene_ms + u64::from(*ms);
            }
            Planned::Unplug | Planned::Replug => {
                if let Driver::Lockstep(shared) = &self.driver {
                    shared.lock().plugged = matches!(action, Planned::Replug);
                }
            }
            Planned::EStop => {
                self.host.emergency_stop(now);
                for s in &mut self.shadows {
                    s.model.set_torque(false);
                }
            }
            Planned::ClearFaults => {
                let mask = low_mask(self.plan.channel_names.len()) | (1 << 31);
                self.host.queue(Message::ClearFaults { mask });
            }
            Planned::Torque(on) => {
                self.host.set_torque(*on);
                for s in &mut self.shadows {
                    s.model.set_torque(*on);
                }
            }
        }
    }

    /// The desired pose at scene time `t_ms`: held positions with the plays on top. Streamed
    /// targets are reached one command period after they are sent, so the runner asks for the
    /// envelope one period ahead.
    fn desired(&mut self, t_ms: u64) -> Vec<f32> {
        let mut d = self.held.clone();
        self.plays
            .retain(|p| p.envelope(t_ms).is_some() || t_ms < p.start_ms);
        for p in &self.plays {
            let Some(e) = p.envelope(t_ms) else { continue };
            for &(ch, peak) in &p.targets {
                let base = f64::from(self.held[ch]);
                d[ch] = (base + (f64::from(peak) - base) * e) as f32;
            }
        }
        d
    }

    fn after_tick(&mut self, scene_ms: u64) {
        let v = self.host.view();
        if v.stats.target_frames == self.last_target_frames {
            return;
        }
        self.last_target_frames = v.stats.target_frames;
        let t = scene_ms as f64 / 1000.0;
        self.rec.commands.push((t, v.sent_norm.clone()));
        let period_s = self.plan.period_ms as f32 / 1000.0;
        for s in &mut self.shadows {
            if let Some(&target) = v.sent_norm.get(s.ch) {
                s.model.set_target(target, period_s);
            }
        }
    }

    /// Scene time of a head timestamp.
    fn scene_time(&mut self, head_us: u32, now_ms: u64) -> f64 {
        // Unwrap the head's 32-bit microsecond clock.
        let (last, ext) = self.head_clock;
        let ext = ext + u64::from(head_us.wrapping_sub(last));
        self.head_clock = (head_us, ext);
        let host_us = match self.driver {
            Driver::Lockstep(_) => ext as i64,
            Driver::Serial => {
                let off = *self
                    .head_offset_us
                    .get_or_insert(now_ms as i64 * 1000 - ext as i64);
                ext as i64 + off
            }
        };
        (host_us - self.t0_ms as i64 * 1000) as f64 / 1e6
    }

    fn drain_tap(&mut self, now_ms: u64) {
        let mut frames = std::mem::take(&mut self.scratch);
        std::mem::swap(
            &mut frames,
            &mut self
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .frames,
        );
        for m in frames.drain(..) {
            match m {
                Message::Telemetry(tel) => {
                    let mut raw = [0u8; MAX_RAW_FRAME];
                    if let Ok(len) = encode_raw(0, &m, &mut raw) {
                        self.rec.hash = fnv1a(self.rec.hash, &raw[..len]);
                    }
                    self.rec.telemetry_frames += 1;
                    let t = self.scene_time(tel.head_time_us, now_ms);
                    if !self.started {
                        continue;
                    }
                    self.last_positions.clear();
                    self.last_positions
                        .extend(tel.channels().iter().map(|c| c.position_norm()));
                    let shadow_a = self
                        .shadows
                        .iter()
                        .map(|s| s.model.state().current_a)
                        .collect();
                    self.rec.samples.push(Sample { t, tel, shadow_a });
                }
                Message::FaultEvent {
                    head_time_us,
                    channel,
                    faults,
                } => {
                    let t = self.scene_time(head_time_us, now_ms);
                    if self.started {
                        self.rec.fault_events.push((t, channel, faults));
                    }
                }
                _ => {}
            }
        }
        self.scratch = frames;
    }

    fn track_link(&mut self, scene_ms: u64) {
        let state = &self.host.view().state;
        let connected = state.is_connected();
        if self.last_connected != Some(connected) {
            self.last_connected = Some(connected);
            let what = match state {
                LinkState::Disconnected { reason } => format!("disconnected ({reason})"),
                LinkState::Connected => "connected".into(),
                other => format!("{other:?}"),
            };
            self.rec
                .link
                .push((scene_ms as f64 / 1000.0, connected, what));
        }
    }
}
