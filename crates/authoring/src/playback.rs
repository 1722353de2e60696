//! Playing a clip's channel through the simulated motor
//! ([`facetwin_motor::Channel`]), the way the host streams it to the head.
//!
//! The host sends one target per stream period (`stream_hz`), each with
//! `time_to_target` (default: one period), and the firmware runs its loop at
//! `sim_hz` (10 kHz). A target sent at `t` is the authored value at
//! `t + lead_ms`, so the motor should be there at `t + time_to_target`:
//! the **expected** position at time `t` is `authored(t − time_to_target +
//! lead)`, and the **tracking error** is `|measured − expected|`. With
//! `lead_ms = 0` (what a naive player does) the motion arrives late by the
//! time-to-target plus the servo lag; [`measure_lag_ms`] measures that lag
//! and `lead_ms` cancels it.

use crate::au::AuTable;
use crate::clip::Clip;
use facetwin_head::HeadConfig;
use facetwin_motor::{Channel, ChannelKind};

/// How a channel is played.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackOptions {
    /// Target stream rate, Hz.
    pub stream_hz: f32,
    /// Time-to-target sent with each target, ms (None = one stream period).
    pub time_to_target_ms: Option<f32>,
    /// Commands are sent this much earlier than authored, ms.
    pub lead_ms: f32,
    /// Motor simulation (controller) rate, Hz.
    pub sim_hz: f32,
    /// Extra simulated time after the clip, ms.
    pub tail_ms: f32,
    /// Move the motor to the clip's first value before time 0 (up to 1 s of
    /// untimed pre-roll), as a player would before starting.
    pub preposition: bool,
}

impl Default for PlaybackOptions {
    fn default() -> Self {
        Self {
            stream_hz: 100.0,
            time_to_target_ms: None,
            lead_ms: 0.0,
            sim_hz: 10_000.0,
            tail_ms: 100.0,
            preposition: true,
        }
    }
}

impl PlaybackOptions {
    /// The effective time-to-target, ms.
    pub fn time_to_target(&self) -> f32 {
        self.time_to_target_ms
            .unwrap_or(1000.0 / self.stream_hz.max(1e-3))
    }
}

/// One controller tick of a playback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Time after the tick, ms from the clip start.
    pub t_ms: f32,
    /// Authored value at `t_ms`.
    pub authored: f32,
    /// Where the stream says the motor should be now:
    /// authored(t − time_to_target + lead).
    pub expected: f32,
    /// Encoder position.
    pub measured: f32,
    /// Motor current, A (signed).
    pub current_a: f32,
}

/// A recorded playback (one entry per controller tick).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelTrace {
    pub ticks: Vec<Tick>,
}

impl ChannelTrace {
    /// Time (ms) of the measured apex: the middle of the run of ticks around
    /// the (first) largest measured position that stay within 1 % of the
    /// trace's range of it — robust to the encoder's quantisation on a flat
    /// top.
    pub fn measured_apex_ms(&self) -> Option<f32> {
        let (imax, top) = self
            .ticks
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.measured.total_cmp(&b.1.measured).then(b.0.cmp(&a.0)))?;
        let bottom = self
            .ticks
            .iter()
            .map(|t| t.measured)
            .fold(f32::INFINITY, f32::min);
        let tol = 0.01 * (top.measured - bottom);
        let near = |i: &usize| self.ticks[*i].measured >= top.measured - tol;
        let start = (0..=imax).rev().take_while(near).last().unwrap_or(imax);
        let end = (imax..self.ticks.len())
            .take_while(near)
            .last()
            .unwrap_or(imax);
        Some(0.5 * (self.ticks[start].t_ms + self.ticks[end].t_ms))
    }

    /// Time (ms) of the largest authored value (middle of a flat top).
    pub fn authored_apex_ms(&self) -> Option<f32> {
        let top = self
            .ticks
            .iter()
            .map(|t| t.authored)
            .fold(f32::NEG_INFINITY, f32::max);
        let mut at = self.ticks.iter().filter(|t| t.authored >= top - 1e-6);
        let first = at.next()?.t_ms;
        let last = at.next_back().map_or(first, |t| t.t_ms);
        Some(0.5 * (first + last))
    }

    /// The largest measured position.
    pub fn measured_peak(&self) -> f32 {
        self.ticks
            .iter()
            .map(|t| t.measured)
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The delay (ms, ≥ 0, at most `max_ms`) that best aligns the measured
    /// position with the authored curve: argmin_d Σ (measured(t) −
    /// authored(t − d))², searched at the tick spacing.
    pub fn lag_ms(&self, max_ms: f32) -> f32 {
        let n = self.ticks.len();
        if n < 2 {
            return 0.0;
        }
        let dt = self.ticks[1].t_ms - self.ticks[0].t_ms;
        if dt.is_nan() || dt <= 0.0 {
            return 0.0;
        }
        let max_j = ((max_ms / dt).round() as usize).min(n - 1);
        let mut best = (f64::INFINITY, 0usize);
        for j in 0..=max_j {
            let err: f64 = (j..n)
                .map(|i| {
                    let d = f64::from(self.ticks[i].measured - self.ticks[i - j].authored);
                    d * d
                })
                .sum::<f64>()
                / (n - j) as f64;
            if err < best.0 {
                best = (err, j);
            }
        }
        best.1 as f32 * dt
    }
}

/// A torque-on motor for `channel` of `head`, built the way
/// [`facetwin_head::VirtualHead`] builds it (the channel's motor parameters
/// or the default, bidirectional linkage where the head says so, the
/// channel's travel limits).
pub fn motor_for_channel(head: &HeadConfig, channel: usize) -> Option<Channel> {
    let spec = head.channels.get(channel)?;
    let mut params = spec.motor.clone().unwrap_or_default();
    if spec.bidirectional {
        params.kind = ChannelKind::Bidirectional;
    }
    let mut motor = Channel::new(&params, head.seed.wrapping_add(channel as u64));
    let mut c = motor.config();
    c.min_norm = spec.min_norm;
    c.max_norm = spec.max_norm;
    motor.configure(c);
    motor.set_torque(true);
    Some(motor)
}

/// Plays `curve` (authored value at a time in ms) for `duration_ms` plus the
/// tail through `motor`, calling `on_tick` after every controller tick.
pub fn simulate(
    motor: &mut Channel,
    curve: impl Fn(f32) -> f32,
    duration_ms: f32,
    opts: &PlaybackOptions,
    mut on_tick: impl FnMut(Tick),
) {
    let sim_hz = f64::from(opts.sim_hz.max(1.0));
    let dt_s = 1.0 / sim_hz;
    let dt_ms = 1000.0 * dt_s;
    let ticks_per_cmd = ((sim_hz / f64::from(opts.stream_hz.max(1e-3))).round() as u64).max(1);
    let ttt_ms = opts.time_to_target();
    let ttt_s = ttt_ms / 1000.0;
    let lead = opts.lead_ms;
    if opts.preposition {
        let start = curve(lead);
        motor.set_target(start, 0.0);
        for _ in 0..(sim_hz as u64) {
            motor.step(dt_s);
            let s = motor.state();
            if (s.position_norm - s.target_norm).abs() < 0.003
                && s.setpoint_norm == s.target_norm
                && s.velocity_norm_s.abs() < 0.02
            {
                break;
            }
        }
    }
    let total = f64::from(duration_ms.max(0.0) + opts.tail_ms.max(0.0));
    let n_ticks = (total / dt_ms).ceil() as u64;
    for n in 0..n_ticks {
        if n % ticks_per_cmd == 0 {
            let t_cmd = (n as f64 * dt_ms) as f32;
            motor.set_target(curve(t_cmd + lead), ttt_s);
        }
        motor.step(dt_s);
        let t = ((n + 1) as f64 * dt_ms) as f32;
        let s = motor.state();
        on_tick(Tick {
            t_ms: t,
            authored: curve(t),
            expected: curve(t - ttt_ms + lead),
            measured: s.position_norm,
            current_a: s.current_a,
        });
    }
}

/// Plays one channel of a clip (the clamped, summed value of every track
/// that moves it) and records every tick.
pub fn simulate_clip_channel(
    clip: &Clip,
    table: &AuTable,
    head: &HeadConfig,
    channel: usize,
    opts: &PlaybackOptions,
) -> ChannelTrace {
    let Some(mut motor) = motor_for_channel(head, channel) else {
        return ChannelTrace::default();
    };
    let (lo, hi) = table.layout().limits(channel);
    let contributions = clip.contributions(table, channel);
    let curve = |t: f32| clip.sample_contributions(&contributions, t).clamp(lo, hi);
    let mut trace = ChannelTrace::default();
    simulate(&mut motor, curve, clip.duration_ms as f32, opts, |t| {
        trace.ticks.push(t);
    });
    trace
}

/// The lag (ms) of `channel`'s motor under these playback options: a smooth
/// raised-cosine bump (0 → 0.25 → 0 in 300 ms, within the velocity limit)
/// is played with `lead_ms = 0` and aligned with [`ChannelTrace::lag_ms`].
/// It includes the stream's time-to-target.
pub fn measure_lag_ms(head: &HeadConfig, channel: usize, opts: &PlaybackOptions) -> f32 {
    let Some(mut motor) = motor_for_channel(head, channel) else {
        return 0.0;
    };
    let (lo, hi) = (
        head.channels[channel].min_norm,
        head.channels[channel].max_norm,
    );
    let amp = 0.25_f32.min(hi).max(lo);
    let (t0, len) = (50.0_f32, 300.0_f32);
    let bump = |t: f32| {
        if t <= t0 || t >= t0 + len {
            0.0
        } else {
            amp * 0.5 * (1.0 - (std::f32::consts::TAU * (t - t0) / len).cos())
        }
    };
    let o = PlaybackOptions {
        lead_ms: 0.0,
        tail_ms: 100.0,
        ..*opts
    };
    let mut trace = ChannelTrace::default();
    simulate(&mut motor, bump, t0 + len, &o, |t| trace.ticks.push(t));
    trace.lag_ms(60.0)
}
