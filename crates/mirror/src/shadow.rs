//! Shadow mode: a simulated head fed the same commands as the real one, compared per motor.
//!
//! The [`Shadow`] owns a [`VirtualHead`] (the default head unless told otherwise) and receives
//! every command the host sends ([`Shadow::on_command`]) and every telemetry frame the real
//! head sends ([`Shadow::on_telemetry`]), each with the session time it happened at. The
//! simulated head runs in that time (virtual, lockstep with the caller), so at each telemetry
//! frame the simulation says what a healthy head would measure now. Per channel it compares:
//!
//! * **position**: `|measured − simulated| > position_threshold` (0.08 travel) — a jammed
//!   motor (the position stays while the model moves), a slipping attachment, a stall;
//! * **current**: measured current below `current_ratio` (20 %) of the simulated current,
//!   while the commanded position is contracted (≥ `contracted_min`) and the simulation draws
//!   a meaningful current (≥ `min_sim_current_ma`) — a torn tendon (the motor runs unloaded,
//!   so the position still tracks, but the current collapses).
//!
//! Currents are low-pass filtered (`current_filter`) on both sides first. A condition must
//! hold without a break for `raise_after` (150 ms) to raise the channel's alarm, and its
//! healthy counterpart (below `position_clear`, above `current_ratio_clear`) for
//! `clear_after` to clear it: hysteresis in level and time. While a condition cannot be
//! judged (e.g. the command is near neutral, so there is no load to compare), the alarm keeps
//! its state.
//!
//! The shadow synchronises to the real head on the first telemetry frame (and on
//! [`Shadow::resync`]): a fresh simulated head is brought to the measured positions and torque
//! mask, so it can be started mid-session. It never forwards `InjectFault` (it is the healthy
//! reference), and it keeps its own telemetry off (it reads the simulation directly).

use crate::tap::{Direction, TappedFrame};
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_protocol::{
    MAX_CHANNELS, MAX_WIRE_FRAME, Message, Telemetry, encode_frame, q15_to_norm,
};
use std::time::Duration;

/// Alarm thresholds and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowConfig {
    /// |Δposition| (normalised travel) above which a channel is diverging.
    pub position_threshold: f32,
    /// |Δposition| below which it is healthy again.
    pub position_clear: f32,
    /// Measured / simulated current below which the load is missing. Static friction lets a
    /// healthy channel hold the same position with a different current depending on how it
    /// got there: on a live session (pty head, shadow started mid-hold) healthy lids held at
    /// 0.56 read 0.36-0.39 of the model's current. A torn tendon reads about 0 (or below),
    /// so the threshold sits well under the friction band.
    pub current_ratio: f32,
    /// Ratio above which the load is back.
    pub current_ratio_clear: f32,
    /// The current is judged only while the commanded position is at least this contracted.
    pub contracted_min: f32,
    /// ... and the simulated current at least this large (mA).
    pub min_sim_current_ma: f32,
    /// A condition must hold this long to raise an alarm.
    pub raise_after: Duration,
    /// The healthy condition must hold this long to clear it.
    pub clear_after: Duration,
    /// Time constant of the current low-pass filter (0 = none).
    pub current_filter: Duration,
    /// Bring the simulation to the real head's pose on the first telemetry frame.
    pub sync_on_first_telemetry: bool,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            position_threshold: 0.08,
            position_clear: 0.04,
            current_ratio: 0.2,
            current_ratio_clear: 0.45,
            contracted_min: 0.3,
            min_sim_current_ma: 40.0,
            raise_after: Duration::from_millis(150),
            clear_after: Duration::from_millis(500),
            current_filter: Duration::from_millis(20),
            sync_on_first_telemetry: true,
        }
    }
}

/// Which comparison raised an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmKind {
    /// Measured position far from the simulated one (jam, slip, stall).
    Position,
    /// Measured current far below the simulated one at a contracted position (torn tendon).
    LowCurrent,
}

/// An alarm raised or cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowEvent {
    pub t: Duration,
    pub channel: usize,
    pub kind: AlarmKind,
    /// True: raised; false: cleared.
    pub raised: bool,
    /// Position error (measured − simulated) and current ratio at that moment.
    pub position_error: f32,
    pub current_ratio: Option<f32>,
}

/// One alarm's state machine (level + time hysteresis).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlarmState {
    pub active: bool,
    bad_since: Option<Duration>,
    ok_since: Option<Duration>,
}

impl AlarmState {
    /// `bad`: Some(true) = failing, Some(false) = healthy, None = cannot judge.
    /// Returns Some(new state) on a change.
    fn update(&mut self, t: Duration, bad: Option<bool>, cfg: &ShadowConfig) -> Option<bool> {
        match bad {
            Some(true) => {
                self.ok_since = None;
                let since = *self.bad_since.get_or_insert(t);
                if !self.active && t.saturating_sub(since) >= cfg.raise_after {
                    self.active = true;
                    return Some(true);
                }
            }
            Some(false) => {
                self.bad_since = None;
                let since = *self.ok_since.get_or_insert(t);
                if self.active && t.saturating_sub(since) >= cfg.clear_after {
                    self.active = false;
                    return Some(false);
                }
            }
            None => {
                self.bad_since = None;
                self.ok_since = None;
            }
        }
        None
    }
}

/// Latest comparison of one channel (for tables and plots).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChannelCompare {
    /// Last commanded target (normalised travel).
    pub commanded: f32,
    pub measured_position: f32,
    pub simulated_position: f32,
    /// measured − simulated.
    pub position_error: f32,
    /// Filtered currents, mA.
    pub measured_current_ma: f32,
    pub simulated_current_ma: f32,
    /// Measured current projected on the simulated one's direction, over its magnitude;
    /// `None` while the current is not judged.
    pub current_ratio: Option<f32>,
    pub position_alarm: AlarmState,
    pub current_alarm: AlarmState,
}

impl ChannelCompare {
    pub fn alarmed(&self) -> bool {
        self.position_alarm.active || self.current_alarm.active
    }
}

/// Accumulated divergence of one channel over all compared frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChannelDivergence {
    pub samples: u64,
    /// Largest |measured − simulated| position.
    pub max_position: f32,
    pub rms_position: f32,
    pub mean_position: f32,
    /// RMS of measured − simulated current (filtered), mA.
    pub rms_current_ma: f32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: u64,
    max: f64,
    sum: f64,
    sum_sq: f64,
    cur_sq: f64,
}

/// A simulated head shadowing the real one; see the [module docs](self).
#[derive(Debug)]
pub struct Shadow {
    head_config: HeadConfig,
    config: ShadowConfig,
    head: VirtualHead,
    /// Session time the simulation has reached (`None` before the first call).
    now: Option<Duration>,
    seq: u8,
    synced: bool,
    last_watchdog: Option<u16>,
    commanded: Vec<f32>,
    compare: Vec<ChannelCompare>,
    acc: Vec<Acc>,
    last_telemetry: Option<Duration>,
    events: Vec<ShadowEvent>,
    scratch: Vec<u8>,
}

impl Shadow {
    pub fn new(head_config: HeadConfig, config: ShadowConfig) -> Self {
        let n = head_config.channels.len();
        let commanded = head_config
            .channels
            .iter()
            .map(|c| c.neutral_norm)
            .collect();
        let mut s = Self {
            head: VirtualHead::new(head_config.clone()),
            head_config,
            config,
            now: None,
            seq: 0,
            synced: false,
            last_watchdog: None,
            commanded,
            compare: vec![ChannelCompare::default(); n],
            acc: vec![Acc::default(); n],
            last_telemetry: None,
            events: Vec::new(),
            scratch: Vec::new(),
        };
        s.feed(&Message::Hello { nonce: 0x5AD0_0001 });
        s.feed(&Message::SetTelemetryRate { rate_hz: 0 });
        s
    }

    /// The default head with the default thresholds.
    pub fn with_default_head() -> Self {
        Self::new(HeadConfig::default_head(), ShadowConfig::default())
    }

    pub fn config(&self) -> &ShadowConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: ShadowConfig) {
        self.config = config;
    }

    /// The simulated head (read it for plots; drive it only through the shadow).
    pub fn head(&self) -> &VirtualHead {
        &self.head
    }

    /// Session time the simulation has reached.
    pub fn time(&self) -> Option<Duration> {
        self.now
    }

    /// Per-channel comparison after the latest telemetry frame.
    pub fn channels(&self) -> &[ChannelCompare] {
        &self.compare
    }

    /// Channels with an active alarm.
    pub fn alarmed(&self) -> Vec<usize> {
        self.compare
            .iter()
            .enumerate()
            .filter(|(_, c)| c.alarmed())
            .map(|(i, _)| i)
            .collect()
    }

    /// Alarms raised and cleared since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<ShadowEvent> {
        std::mem::take(&mut self.events)
    }

    /// Divergence statistics over every compared frame so far.
    pub fn divergence(&self) -> Vec<ChannelDivergence> {
        self.acc
            .iter()
            .map(|a| {
                let n = a.n.max(1) as f64;
                ChannelDivergence {
                    samples: a.n,
                    max_position: a.max as f32,
                    rms_position: (a.sum_sq / n).sqrt() as f32,
                    mean_position: (a.sum / n) as f32,
                    rms_current_ma: (a.cur_sq / n).sqrt() as f32,
                }
            })
            .collect()
    }

    /// Runs the simulation up to session time `t` (never backwards).
    pub fn advance_to(&mut self, t: Duration) {
        match self.now {
            None => self.now = Some(t),
            Some(now) if t > now => {
                self.head.advance((t - now).as_secs_f64());
                self.now = Some(t);
                self.discard_output();
            }
            Some(_) => {}
        }
    }

    fn discard_output(&mut self) {
        self.scratch.clear();
        self.head.drain_output_into(&mut self.scratch);
        self.scratch.clear();
    }

    fn feed(&mut self, msg: &Message) {
        let mut buf = [0u8; MAX_WIRE_FRAME];
        if let Ok(n) = encode_frame(self.seq, msg, &mut buf) {
            self.seq = self.seq.wrapping_add(1);
            self.head.receive(&buf[..n]);
        }
        self.discard_output();
    }

    /// A command the host sent to the real head at session time `t`.
    pub fn on_command(&mut self, t: Duration, msg: &Message) {
        self.advance_to(t);
        match msg {
            // The shadow is the healthy reference; its telemetry stays off; queries are noise.
            Message::InjectFault { .. }
            | Message::SetTelemetryRate { .. }
            | Message::Ping { .. }
            | Message::GetChannelInfo { .. } => return,
            Message::SetWatchdog { timeout_ms } => self.last_watchdog = Some(*timeout_ms),
            Message::SetTargets(targets) => {
                for (c, &q) in self.commanded.iter_mut().zip(targets.positions()) {
                    *c = q15_to_norm(q);
                }
            }
            m if !m.msg_type().is_host_to_head() => return,
            _ => {}
        }
        self.feed(msg);
    }

    /// Brings a fresh simulated head to the real head's measured pose and torque mask.
    pub fn resync(&mut self, telemetry: &Telemetry) {
        let positions: Vec<f32> = telemetry
            .channels()
            .iter()
            .map(|c| c.position_norm())
            .collect();
        self.head = VirtualHead::new(self.head_config.clone());
        self.head.set_positions(&positions);
        self.feed(&Message::Hello { nonce: 0x5AD0_0002 });
        self.feed(&Message::SetTelemetryRate { rate_hz: 0 });
        if let Some(timeout_ms) = self.last_watchdog {
            self.feed(&Message::SetWatchdog { timeout_ms });
        }
        let n = self.head.channel_count().min(MAX_CHANNELS);
        let all = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        self.feed(&Message::Torque {
            enable_mask: telemetry.torque_mask & all,
        });
        for (c, &p) in self.commanded.iter_mut().zip(&positions) {
            *c = p;
        }
        for c in &mut self.compare {
            *c = ChannelCompare::default();
        }
        self.last_telemetry = None;
        self.synced = true;
    }

    /// A telemetry frame from the real head, received at session time `t`: compares and
    /// updates the alarms.
    pub fn on_telemetry(&mut self, t: Duration, telemetry: &Telemetry) {
        self.advance_to(t);
        if !self.synced && self.config.sync_on_first_telemetry {
            self.resync(telemetry);
        }
        self.synced = true;
        let dt = self
            .last_telemetry
            .map_or(Duration::ZERO, |last| t.saturating_sub(last));
        let first = self.last_telemetry.is_none();
        self.last_telemetry = Some(t);
        let tau = self.config.current_filter.as_secs_f64();
        let alpha = if first || tau <= 0.0 {
            1.0
        } else {
            (1.0 - (-dt.as_secs_f64() / tau).exp()) as f32
        };
        let cfg = self.config.clone();
        for (i, real) in telemetry.channels().iter().enumerate() {
            let Some(sim) = self.head.channel(i).map(|c| c.state()) else {
                break;
            };
            let (Some(c), Some(acc)) = (self.compare.get_mut(i), self.acc.get_mut(i)) else {
                break;
            };
            c.commanded = self.commanded.get(i).copied().unwrap_or(0.0);
            c.measured_position = real.position_norm();
            c.simulated_position = sim.position_norm;
            c.position_error = c.measured_position - c.simulated_position;
            let real_ma = f32::from(real.current_ma);
            let sim_ma = sim.current_a * 1000.0;
            c.measured_current_ma += alpha * (real_ma - c.measured_current_ma);
            c.simulated_current_ma += alpha * (sim_ma - c.simulated_current_ma);

            let judged = c.commanded >= cfg.contracted_min
                && c.simulated_current_ma.abs() >= cfg.min_sim_current_ma;
            c.current_ratio = judged.then(|| {
                c.measured_current_ma * c.simulated_current_ma.signum()
                    / c.simulated_current_ma.abs()
            });
            let current_bad = c.current_ratio.and_then(|r| {
                if r < cfg.current_ratio {
                    Some(true)
                } else if r > cfg.current_ratio_clear {
                    Some(false)
                } else {
                    None
                }
            });
            let e = c.position_error.abs();
            let position_bad = if e > cfg.position_threshold {
                Some(true)
            } else if e < cfg.position_clear {
                Some(false)
            } else {
                None
            };
            let (pe, cr) = (c.position_error, c.current_ratio);
            if let Some(raised) = c.position_alarm.update(t, position_bad, &cfg) {
                self.events.push(ShadowEvent {
                    t,
                    channel: i,
                    kind: AlarmKind::Position,
                    raised,
                    position_error: pe,
                    current_ratio: cr,
                });
            }
            if let Some(raised) = c.current_alarm.update(t, current_bad, &cfg) {
                self.events.push(ShadowEvent {
                    t,
                    channel: i,
                    kind: AlarmKind::LowCurrent,
                    raised,
                    position_error: pe,
                    current_ratio: cr,
                });
            }
            let d = f64::from(pe);
            acc.n += 1;
            acc.max = acc.max.max(d.abs());
            acc.sum += d;
            acc.sum_sq += d * d;
            let dc = f64::from(c.measured_current_ma - c.simulated_current_ma);
            acc.cur_sq += dc * dc;
        }
    }

    /// Feeds whatever a [`crate::tap::Tap`] saw (commands and telemetry; the rest is ignored).
    pub fn on_tapped(&mut self, frame: &TappedFrame) {
        match (&frame.direction, &frame.message) {
            (Direction::ToHead, m) => self.on_command(frame.t, m),
            (Direction::FromHead, Message::Telemetry(t)) => self.on_telemetry(frame.t, t),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_need_the_set_time_and_clear_with_hysteresis() {
        let cfg = ShadowConfig::default();
        let ms = Duration::from_millis;
        let mut a = AlarmState::default();
        // Bad for 140 ms, interrupted by "cannot judge": no alarm, and the timer restarts.
        for t in (0..=140).step_by(5) {
            assert_eq!(a.update(ms(t), Some(true), &cfg), None);
        }
        assert_eq!(a.update(ms(145), None, &cfg), None);
        for t in (150..300).step_by(5) {
            assert_eq!(a.update(ms(t), Some(true), &cfg), None, "at {t} ms");
        }
        assert_eq!(a.update(ms(300), Some(true), &cfg), Some(true));
        assert!(a.active);
        // Healthy for less than clear_after, then bad again: stays raised, no new event.
        for t in (305..700).step_by(5) {
            assert_eq!(a.update(ms(t), Some(false), &cfg), None);
        }
        assert_eq!(a.update(ms(705), Some(true), &cfg), None);
        assert!(a.active);
        for t in (710..1210).step_by(5) {
            assert_eq!(a.update(ms(t), Some(false), &cfg), None, "at {t} ms");
        }
        assert_eq!(a.update(ms(1210), Some(false), &cfg), Some(false));
        assert!(!a.active);
    }
}
