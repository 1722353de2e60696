//! Replay of a recording: time-ordered records, scrubbing, playback at 1× or faster, and
//! "what would the model have done": the recorded commands played on a fresh simulated head
//! and compared with the recorded telemetry.

use crate::record::{ReadError, Record, RecordKind, Recording};
use crate::shadow::{ChannelDivergence, Shadow, ShadowConfig, ShadowEvent};
use facetwin_head::HeadConfig;
use facetwin_link::Player;
use facetwin_protocol::{Message, Telemetry, q15_to_norm};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

/// A recording ready for playback; times are relative to its first record.
#[derive(Debug, Clone)]
pub struct Replay {
    recording: Recording,
    start_ns: u64,
    end_ns: u64,
    /// Indices of telemetry records in `recording.records`, with relative times.
    telemetry: Vec<(u64, usize)>,
    /// Commanded poses (`SetTargets`), relative times.
    targets: Vec<(u64, Vec<f32>)>,
}

/// What the simulation says about a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationReport {
    /// Per channel: recorded (measured) vs simulated.
    pub channels: Vec<ChannelDivergence>,
    /// Alarms the shadow comparison raised and cleared along the way.
    pub events: Vec<ShadowEvent>,
    /// Channels still in alarm at the end.
    pub alarmed: Vec<usize>,
    pub commands_played: u64,
    pub telemetry_compared: u64,
}

impl Replay {
    pub fn new(recording: Recording) -> Self {
        let (start_ns, end_ns) = recording.time_range_ns().unwrap_or((0, 0));
        let mut telemetry = Vec::new();
        let mut targets = Vec::new();
        for (i, r) in recording.records.iter().enumerate() {
            let rel = r.t_ns - start_ns;
            match &r.kind {
                RecordKind::Telemetry { .. } => telemetry.push((rel, i)),
                RecordKind::Command {
                    message: Message::SetTargets(t),
                    ..
                } => targets.push((rel, t.positions().iter().map(|&q| q15_to_norm(q)).collect())),
                _ => {}
            }
        }
        Self {
            recording,
            start_ns,
            end_ns,
            telemetry,
            targets,
        }
    }

    /// [`Recording::open`] then [`Replay::new`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        Recording::open(path).map(Self::new)
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// Absolute log time of the first record, ns.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// From the first record to the last.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_ns - self.start_ns)
    }

    /// Every record, in time order.
    pub fn records(&self) -> &[Record] {
        &self.recording.records
    }

    /// Time of a record relative to the start.
    pub fn relative(&self, record: &Record) -> Duration {
        Duration::from_nanos(record.t_ns.saturating_sub(self.start_ns))
    }

    fn index_at(&self, t: Duration) -> usize {
        let abs = self.start_ns.saturating_add(crate::tap::duration_ns(t));
        self.recording.records.partition_point(|r| r.t_ns < abs)
    }

    /// Indices of the records with `from <= t < to` (relative times).
    pub fn range_between(&self, from: Duration, to: Duration) -> Range<usize> {
        let a = self.index_at(from);
        let b = self.index_at(to).max(a);
        a..b
    }

    /// The records with `from <= t < to` (relative times).
    pub fn records_between(&self, from: Duration, to: Duration) -> &[Record] {
        &self.recording.records[self.range_between(from, to)]
    }

    /// The last telemetry frame at or before `t` (relative); the first one before it starts.
    pub fn telemetry_at(&self, t: Duration) -> Option<&Telemetry> {
        let rel = crate::tap::duration_ns(t);
        let k = self.telemetry.partition_point(|(tt, _)| *tt <= rel);
        let (_, i) = self.telemetry.get(k.saturating_sub(1))?;
        match &self.recording.records.get(*i)?.kind {
            RecordKind::Telemetry { telemetry, .. } => Some(telemetry),
            _ => None,
        }
    }

    /// Measured positions at `t`, linearly interpolated between the telemetry frames around
    /// it (for smooth scrubbing).
    pub fn positions_at(&self, t: Duration) -> Option<Vec<f32>> {
        let rel = crate::tap::duration_ns(t);
        let k = self.telemetry.partition_point(|(tt, _)| *tt <= rel);
        let frame = |j: usize| -> Option<(u64, Vec<f32>)> {
            let (tt, i) = *self.telemetry.get(j)?;
            match &self.recording.records.get(i)?.kind {
                RecordKind::Telemetry { telemetry, .. } => Some((
                    tt,
                    telemetry
                        .channels()
                        .iter()
                        .map(|c| c.position_norm())
                        .collect(),
                )),
                _ => None,
            }
        };
        if k == 0 {
            return frame(0).map(|f| f.1);
        }
        let (t0, p0) = frame(k - 1)?;
        let Some((t1, p1)) = frame(k) else {
            return Some(p0);
        };
        if t1 <= t0 || p0.len() != p1.len() {
            return Some(p0);
        }
        let a = ((rel - t0) as f64 / (t1 - t0) as f64) as f32;
        Some(p0.iter().zip(&p1).map(|(x, y)| x + a * (y - x)).collect())
    }

    /// The last commanded pose (`SetTargets`) at or before `t`.
    pub fn commanded_at(&self, t: Duration) -> Option<&[f32]> {
        let rel = crate::tap::duration_ns(t);
        let k = self.targets.partition_point(|(tt, _)| *tt <= rel);
        self.targets
            .get(k.checked_sub(1)?)
            .map(|(_, p)| p.as_slice())
    }

    /// A playback cursor at `speed` × real time (1.0 = as recorded).
    pub fn playback(&self, speed: f64) -> Playback {
        Playback {
            speed: sanitize_speed(speed),
            position: Duration::ZERO,
            cursor: 0,
            duration: self.duration(),
            paused: false,
        }
    }

    /// A [`Player`] that sends the recorded command poses again (e.g. to a head through
    /// `HostLink::play`), at `speed` × the recorded pace.
    pub fn command_player(&self, speed: f64) -> ReplayPlayer {
        ReplayPlayer {
            poses: self.targets.clone(),
            speed: sanitize_speed(speed),
        }
    }

    /// Plays the recorded commands on a fresh simulated head in virtual time and compares its
    /// telemetry with the recorded (measured) one, frame by frame. The simulation starts from
    /// the first recorded telemetry frame's pose (see [`Shadow`]).
    pub fn simulate(&self, head: HeadConfig, config: ShadowConfig) -> SimulationReport {
        let mut shadow = Shadow::new(head, config);
        let mut events = Vec::new();
        let (mut commands_played, mut telemetry_compared) = (0, 0);
        for r in &self.recording.records {
            let t = self.relative(r);
            match &r.kind {
                RecordKind::Command { message, .. } => {
                    shadow.on_command(t, message);
                    commands_played += 1;
                }
                RecordKind::Telemetry { telemetry, .. } => {
                    shadow.on_telemetry(t, telemetry);
                    telemetry_compared += 1;
                    events.extend(shadow.take_events());
                }
                _ => {}
            }
        }
        SimulationReport {
            channels: shadow.divergence(),
            events,
            alarmed: shadow.alarmed(),
            commands_played,
            telemetry_compared,
        }
    }
}

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    }
}

/// A playback cursor over a [`Replay`]: advance it by wall time, get the records now due.
#[derive(Debug, Clone)]
pub struct Playback {
    speed: f64,
    position: Duration,
    cursor: usize,
    duration: Duration,
    paused: bool,
}

impl Playback {
    /// Moves the playhead by `wall_dt` × speed and returns the indices (into
    /// [`Replay::records`]) of the records passed, including those exactly at the new
    /// playhead.
    pub fn advance(&mut self, replay: &Replay, wall_dt: Duration) -> Range<usize> {
        if !self.paused {
            self.position = (self.position + wall_dt.mul_f64(self.speed)).min(self.duration);
        }
        let end = replay.index_at(self.position + Duration::from_nanos(1));
        let start = self.cursor.min(end);
        self.cursor = end;
        start..end
    }

    /// Jumps to `t` (relative); the next `advance` reports records from there.
    pub fn seek(&mut self, replay: &Replay, t: Duration) {
        self.position = t.min(self.duration);
        self.cursor = replay.index_at(self.position);
    }

    pub fn position(&self) -> Duration {
        self.position
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn set_speed(&mut self, speed: f64) {
        self.speed = sanitize_speed(speed);
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn is_finished(&self) -> bool {
        self.position >= self.duration
    }
}

/// Recorded command poses as a [`Player`] for a host session.
#[derive(Debug, Clone)]
pub struct ReplayPlayer {
    poses: Vec<(u64, Vec<f32>)>,
    speed: f64,
}

impl Player for ReplayPlayer {
    fn sample(&mut self, t: Duration, out: &mut Vec<f32>) -> bool {
        let rel = crate::tap::duration_ns(t.mul_f64(self.speed));
        let k = self.poses.partition_point(|(tt, _)| *tt <= rel);
        if let Some((_, pose)) = self.poses.get(k.saturating_sub(1)) {
            out.clear();
            out.extend_from_slice(pose);
        }
        k < self.poses.len()
    }
}
