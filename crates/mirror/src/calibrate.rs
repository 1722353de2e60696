//! Guided calibration of one channel against the connected head (real or virtual).
//!
//! [`Calibrator`] is a state machine on the caller's clock: [`Calibrator::step`] at the
//! command rate with the session's [`HeadView`] returns the messages to send, and
//! [`Calibrator::on_message`] takes the head's replies (needed for the channel's configuration
//! and to verify the restore, unless [`CalibrationOptions::original`] is given). Run it as the
//! session's `Procedure` through a [`SharedCalibrator`]: the session steps it at every command
//! tick, feeds it every reply, streams its `SetTargets` as the desired pose (with the host-side
//! limits) and queues the rest, and the UI reads its progress and result meanwhile.
//!
//! Procedure:
//!
//! 1. read the channel's configuration (`GetChannelInfo`), remember the pose the host was
//!    commanding (every other channel is held there throughout);
//! 2. **lower the current limit** (`ConfigureChannel`, same limits and gains) for safety;
//! 3. move to the start position (middle of the head's limits unless given);
//! 4. **jog slowly up** until the position stops following the command (tracking error above
//!    `stall_error`): that is the upper travel end — a mechanical stop, a stall at the lowered
//!    current, or the head's own limit clamp. The first few hundredths of the jog give the
//!    **direction** (sign of the measured motion for a positive command);
//! 5. back off to the start, **jog down** the same way to the lower end, back off again;
//! 6. **neutral**: the rest position with torque off (`Torque` without this channel's bit,
//!    current limit at 1 mA so that a host re-enabling torque cannot hold it either, the
//!    command following the measured position), once it stands still — or the given neutral;
//! 7. **restore** the original configuration, clear faults the procedure caused, restore the
//!    torque mask, return to the remembered pose, and verify the restore with `GetChannelInfo`.
//!
//! The result is a [`ChannelCalibration`]; a [`Calibration`] (all channels) is saved and
//! loaded as RON, and [`apply`] maps a desired pose through it on the host.

use facetwin_link::{HeadView, LinkState, Procedure};
use facetwin_protocol::{
    ChannelConfig, ErrorCode, Message, MsgType, Targets, status as proto_status,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// One channel's calibration, in the head's normalised command frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCalibration {
    pub name: String,
    /// Travel ends found (lower, upper).
    pub min_norm: f32,
    pub max_norm: f32,
    /// Where the designer's 0 goes.
    pub neutral_norm: f32,
    /// +1: a positive command moves the measured position up; −1: down.
    pub direction: i8,
}

impl ChannelCalibration {
    /// No calibration: the given limits, neutral 0, direction +1.
    pub fn identity(name: impl Into<String>, min_norm: f32, max_norm: f32) -> Self {
        Self {
            name: name.into(),
            min_norm,
            max_norm,
            neutral_norm: 0.0,
            direction: 1,
        }
    }

    /// Maps a desired position (0 = neutral, +1 = full contraction) to a command:
    /// `clamp(neutral + direction · desired, min, max)`; non-finite → neutral. Returns the
    /// command and whether it was clamped.
    pub fn map(&self, desired: f32) -> (f32, bool) {
        if !desired.is_finite() {
            return (self.neutral_norm.clamp(self.min_norm, self.max_norm), false);
        }
        let raw = self.neutral_norm + f32::from(self.direction.signum()) * desired;
        let cmd = raw.clamp(self.min_norm, self.max_norm);
        (cmd, cmd != raw)
    }
}

/// Every channel's calibration, indexed by channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub channels: Vec<ChannelCalibration>,
}

/// Why a calibration file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Ron {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("serializing calibration: {0}")]
    Serialize(String),
}

facetwin_ronfile::impl_from_ron_error!(CalibrationFileError::Ron { path });

impl Calibration {
    /// Uncalibrated defaults for the head in `view`: its limits, neutral, direction +1.
    pub fn from_view(view: &HeadView) -> Self {
        Self {
            channels: view
                .channels
                .iter()
                .map(|m| ChannelCalibration {
                    name: m.name.clone(),
                    min_norm: m.min_norm,
                    max_norm: m.max_norm,
                    neutral_norm: m.neutral_norm,
                    direction: 1,
                })
                .collect(),
        }
    }

    /// Sets channel `index`, growing the list with placeholder entries if needed.
    pub fn set(&mut self, index: usize, cal: ChannelCalibration) {
        while self.channels.len() <= index {
            let i = self.channels.len();
            self.channels
                .push(ChannelCalibration::identity(format!("ch{i}"), -1.0, 1.0));
        }
        self.channels[index] = cal;
    }

    /// Index and calibration of the channel called `name`.
    pub fn find(&self, name: &str) -> Option<(usize, &ChannelCalibration)> {
        self.channels
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    pub fn validate(&self, origin: &str) -> Result<(), CalibrationFileError> {
        for (i, c) in self.channels.iter().enumerate() {
            let bad = |message: String| CalibrationFileError::Invalid {
                path: origin.into(),
                message: format!("channel {i} ({}): {message}", c.name),
            };
            if !(c.min_norm.is_finite() && c.max_norm.is_finite() && c.neutral_norm.is_finite()) {
                return Err(bad("non-finite value".into()));
            }
            if c.min_norm >= c.max_norm || c.min_norm < -1.0 || c.max_norm > 1.0 {
                return Err(bad(format!(
                    "limits {}..{} must satisfy -1 <= min < max <= 1",
                    c.min_norm, c.max_norm
                )));
            }
            if !(c.min_norm..=c.max_norm).contains(&c.neutral_norm) {
                return Err(bad(format!(
                    "neutral {} outside its limits",
                    c.neutral_norm
                )));
            }
            if c.direction != 1 && c.direction != -1 {
                return Err(bad(format!("direction {} must be 1 or -1", c.direction)));
            }
        }
        Ok(())
    }

    pub fn to_ron_string(&self) -> Result<String, CalibrationFileError> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new())
            .map_err(|e| CalibrationFileError::Serialize(e.to_string()))
    }

    /// Parses and validates; `origin` names the source in errors (`file:line:column`).
    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self, CalibrationFileError> {
        let cal: Self = facetwin_ronfile::from_str(text, origin)?;
        cal.validate(origin)?;
        Ok(cal)
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CalibrationFileError> {
        let path = path.as_ref();
        let io = |source| CalibrationFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let text = self.to_ron_string()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text.as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self, CalibrationFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CalibrationFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_ron_str(&text, &path.display().to_string())
    }
}

/// Host-side mapping of a desired pose through a calibration (see [`ChannelCalibration::map`]),
/// in place; channels without a calibration entry are left as they are. Returns how many
/// channels were clamped to their calibrated limits.
pub fn apply(calibration: &Calibration, pose: &mut [f32]) -> usize {
    let mut clamped = 0;
    for (p, c) in pose.iter_mut().zip(&calibration.channels) {
        let (cmd, was_clamped) = c.map(*p);
        *p = cmd;
        clamped += usize::from(was_clamped);
    }
    clamped
}

/// The calibration as the link's host-side pose map: every pose the session sends (sliders,
/// expressions, timeline playback) goes through [`apply`] on the session thread.
impl facetwin_link::PoseMap for Calibration {
    fn map(&self, pose: &mut [f32]) {
        apply(self, pose);
    }
}

/// A [`Calibrator`] shared between the session thread, which runs it as a [`Procedure`] on its
/// command clock (so the search runs at the same speed whatever the render frame rate), and
/// the UI, which reads its status and result.
#[derive(Debug, Clone)]
pub struct SharedCalibrator(Arc<Mutex<Calibrator>>);

impl SharedCalibrator {
    pub fn new(calibrator: Calibrator) -> Self {
        Self(Arc::new(Mutex::new(calibrator)))
    }

    pub fn lock(&self) -> MutexGuard<'_, Calibrator> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The procedure to hand to the session ([`facetwin_link::HostLink::run_procedure`]).
    pub fn procedure(&self) -> Box<dyn Procedure> {
        Box::new(self.clone())
    }
}

impl Procedure for SharedCalibrator {
    fn on_message(&mut self, msg: &Message) {
        self.lock().on_message(msg);
    }

    fn step(&mut self, now: Duration, view: &HeadView) -> Vec<Message> {
        self.lock().step(now, view)
    }

    fn is_done(&self) -> bool {
        self.lock().is_done()
    }
}

/// Calibration settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationOptions {
    /// Current limit during the search, mA (capped at the channel's own).
    pub current_limit_ma: u16,
    /// Jog speed, normalised travel per second.
    pub jog_speed: f32,
    /// Tracking error that marks a travel end.
    pub stall_error: f32,
    /// Most the command travels in one direction before giving up.
    pub max_search: f32,
    /// Start / back-off position; `None`: the middle of the head's limits.
    pub start: Option<f32>,
    /// The neutral to record; `None`: find the rest position with torque off.
    pub neutral: Option<f32>,
    /// Rest search: at least this long, at most `relax_max`, still below `rest_velocity`
    /// (travel/s) for `rest_still`.
    pub relax_min: Duration,
    pub relax_max: Duration,
    pub rest_velocity: f32,
    pub rest_still: Duration,
    /// How long to wait for a reply before asking again.
    pub reply_timeout: Duration,
    /// The channel's configuration, when known (then no `GetChannelInfo` is needed).
    pub original: Option<ChannelConfig>,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self {
            current_limit_ma: 200,
            jog_speed: 0.25,
            stall_error: 0.05,
            max_search: 2.5,
            start: None,
            neutral: None,
            relax_min: Duration::from_millis(400),
            relax_max: Duration::from_secs(3),
            rest_velocity: 0.02,
            rest_still: Duration::from_millis(200),
            reply_timeout: Duration::from_millis(300),
            original: None,
        }
    }
}

/// Why a calibration failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error("the head is not connected")]
    NotConnected,
    #[error("the link was lost during calibration")]
    LinkLost,
    #[error("the head's emergency stop is latched")]
    EStop,
    #[error("channel {0} does not exist on this head")]
    BadChannel(usize),
    #[error("no ChannelInfo reply for the channel")]
    NoChannelInfo,
    #[error("the head refused the configuration: {0:?}")]
    Rejected(ErrorCode),
    #[error("the channel does not move when commanded")]
    NotMoving,
    #[error("no {} travel end within the search range", if *.upper { "upper" } else { "lower" })]
    NoEnd { upper: bool },
    #[error("the original configuration could not be restored")]
    RestoreFailed,
    #[error("aborted")]
    Aborted,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Start {
        since: Option<Duration>,
    },
    WaitInfo {
        sent: Duration,
        tries: u8,
    },
    /// Ramp the command to `target`.
    Approach {
        target: f32,
        reached: Option<Duration>,
    },
    Jog {
        sign: f32,
        cmd0: f32,
        meas0: f32,
    },
    Relax {
        since: Duration,
        still_since: Option<Duration>,
        cmd_ref: f32,
        meas_ref: f32,
    },
    Restore {
        reached: Option<Duration>,
        since: Duration,
    },
    Verify {
        sent: Duration,
        tries: u8,
    },
    Done,
}

/// The calibration state machine for one channel; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Calibrator {
    channel: usize,
    opts: CalibrationOptions,
    phase: Phase,
    plan: Vec<Phase>,
    last_step: Option<Duration>,
    hold: Vec<f32>,
    cmd: f32,
    original: Option<ChannelConfig>,
    info: Option<ChannelConfig>,
    heard_replies: bool,
    rejected: Option<ErrorCode>,
    initial_mask: u32,
    initial_faults: u8,
    faults_now: u8,
    name: String,
    direction: i8,
    min_end: Option<f32>,
    max_end: Option<f32>,
    neutral: Option<f32>,
    start_pos: f32,
    failure: Option<CalibrationError>,
    abort_requested: bool,
    result: Option<Result<ChannelCalibration, CalibrationError>>,
}

fn mask_all(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

impl Calibrator {
    pub fn new(channel: usize, opts: CalibrationOptions) -> Self {
        Self {
            channel,
            original: opts.original,
            opts,
            phase: Phase::Start { since: None },
            plan: Vec::new(),
            last_step: None,
            hold: Vec::new(),
            cmd: 0.0,
            info: None,
            heard_replies: false,
            rejected: None,
            initial_mask: 0,
            initial_faults: 0,
            faults_now: 0,
            name: String::new(),
            direction: 0,
            min_end: None,
            max_end: None,
            neutral: None,
            start_pos: 0.0,
            failure: None,
            abort_requested: false,
            result: None,
        }
    }

    pub fn channel(&self) -> usize {
        self.channel
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The outcome once done.
    pub fn result(&self) -> Option<Result<ChannelCalibration, CalibrationError>> {
        self.result.clone()
    }

    /// A short description of what the calibrator is doing (for a progress label).
    pub fn status(&self) -> &'static str {
        match &self.phase {
            Phase::Start { .. } => "starting",
            Phase::WaitInfo { .. } => "reading the channel's configuration",
            Phase::Approach { .. } => "moving to the start position",
            Phase::Jog { sign, .. } if *sign > 0.0 => "searching the upper travel end",
            Phase::Jog { .. } => "searching the lower travel end",
            Phase::Relax { .. } => "finding the rest position (torque off)",
            Phase::Restore { .. } => "restoring the configuration and pose",
            Phase::Verify { .. } => "verifying the restored configuration",
            Phase::Done => "done",
        }
    }

    /// The commanded position of the calibrated channel now.
    pub fn commanded(&self) -> f32 {
        self.cmd
    }

    /// Stops the search: the configuration and pose are restored, then the calibrator
    /// finishes with [`CalibrationError::Aborted`].
    pub fn abort(&mut self) {
        self.abort_requested = true;
    }

    /// A message from the head (from a tap): `ChannelInfo` and `Ack`s are used.
    pub fn on_message(&mut self, msg: &Message) {
        match msg {
            Message::ChannelInfo(info) if usize::from(info.config.channel) == self.channel => {
                self.heard_replies = true;
                self.info = Some(info.config);
                if self.name.is_empty() {
                    self.name = info.name_str().to_owned();
                }
            }
            Message::Ack {
                msg_type,
                code,
                detail,
                ..
            } if *msg_type == MsgType::ConfigureChannel as u8
                && usize::from(*detail) == self.channel =>
            {
                self.heard_replies = true;
                if !matches!(code, ErrorCode::Ok | ErrorCode::Clamped) {
                    self.rejected = Some(*code);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, result: Result<ChannelCalibration, CalibrationError>) {
        self.phase = Phase::Done;
        self.plan.clear();
        self.result = Some(result);
    }

    /// Records the failure and goes to the restore phase (when there is anything to restore).
    fn fail(&mut self, err: CalibrationError, now: Duration, out: &mut Vec<Message>, meas: f32) {
        self.failure = Some(err.clone());
        self.plan.clear();
        if self.original.is_some() && !self.hold.is_empty() {
            self.phase = Phase::Restore {
                reached: None,
                since: now,
            };
            self.plan.push(Phase::Done);
            self.enter(now, out, meas);
        } else {
            self.finish(Err(err));
        }
    }

    fn next_phase(&mut self, now: Duration, out: &mut Vec<Message>, meas: f32) {
        let next = if self.plan.is_empty() {
            Phase::Done
        } else {
            self.plan.remove(0)
        };
        self.phase = next;
        self.enter(now, out, meas);
    }

    /// Actions on entering the current phase.
    fn enter(&mut self, now: Duration, out: &mut Vec<Message>, meas: f32) {
        match &mut self.phase {
            Phase::Jog { cmd0, meas0, .. } => {
                *cmd0 = self.cmd;
                *meas0 = meas;
            }
            Phase::Relax {
                since,
                cmd_ref,
                meas_ref,
                ..
            } => {
                *since = now;
                *cmd_ref = self.cmd;
                *meas_ref = meas;
                if let Some(orig) = self.original {
                    out.push(Message::ConfigureChannel(ChannelConfig {
                        current_limit_ma: 1,
                        ..orig
                    }));
                }
                let bit = 1u32.checked_shl(self.channel as u32).unwrap_or(0);
                out.push(Message::Torque {
                    enable_mask: self.initial_mask & !bit,
                });
            }
            Phase::Restore { since, .. } => {
                *since = now;
                self.restore_messages(out);
                self.cmd = meas;
            }
            Phase::Verify { sent, .. } => {
                *sent = now;
                out.push(Message::GetChannelInfo {
                    channel: self.channel as u8,
                });
                self.info = None;
            }
            Phase::Done => {
                let result = match self.failure.take() {
                    Some(e) => Err(e),
                    None => self.calibration(),
                };
                self.result = Some(result);
            }
            _ => {}
        }
    }

    fn restore_messages(&mut self, out: &mut Vec<Message>) {
        if let Some(orig) = self.original {
            out.push(Message::ConfigureChannel(orig));
        }
        let bit = 1u32.checked_shl(self.channel as u32).unwrap_or(0);
        // Faults the procedure caused (a stall at the lowered current, one while relaxing).
        if self.faults_now & !self.initial_faults != 0 {
            out.push(Message::ClearFaults { mask: bit });
        }
        out.push(Message::Torque {
            enable_mask: self.initial_mask,
        });
    }

    fn calibration(&self) -> Result<ChannelCalibration, CalibrationError> {
        let max_norm = self
            .max_end
            .ok_or(CalibrationError::NoEnd { upper: true })?;
        let min_norm = self
            .min_end
            .ok_or(CalibrationError::NoEnd { upper: false })?;
        let neutral = self
            .opts
            .neutral
            .or(self.neutral)
            .unwrap_or(0.0)
            .clamp(min_norm, max_norm);
        Ok(ChannelCalibration {
            name: if self.name.is_empty() {
                format!("ch{}", self.channel)
            } else {
                self.name.clone()
            },
            min_norm,
            max_norm,
            neutral_norm: neutral,
            direction: if self.direction < 0 { -1 } else { 1 },
        })
    }

    /// One step at session time `now`: returns the messages to send (a `SetTargets` holding
    /// every other channel at its pose, plus configuration commands when due).
    pub fn step(&mut self, now: Duration, view: &HeadView) -> Vec<Message> {
        let mut out = Vec::new();
        if self.phase == Phase::Done {
            return out;
        }
        let dt = self
            .last_step
            .map_or(0.01, |l| now.saturating_sub(l).as_secs_f32())
            .min(0.05);
        self.last_step = Some(now);

        let connected = view.state == LinkState::Connected;
        let Some(tel) = view.telemetry.filter(|_| connected) else {
            if let Phase::Start { since } = &mut self.phase {
                let since = *since.get_or_insert(now);
                if now.saturating_sub(since) > Duration::from_secs(2) {
                    self.finish(Err(CalibrationError::NotConnected));
                }
            } else {
                self.finish(Err(CalibrationError::LinkLost));
            }
            return out;
        };
        let n = tel.channels().len();
        let Some(ct) = tel.channels().get(self.channel).copied() else {
            self.finish(Err(CalibrationError::BadChannel(self.channel)));
            return out;
        };
        let meas = ct.position_norm();
        self.faults_now = ct.faults;
        let started = !matches!(self.phase, Phase::Start { .. });
        if started && self.failure.is_none() {
            let problem = if tel.status & proto_status::ESTOP != 0 {
                Some(CalibrationError::EStop)
            } else if let Some(code) = self.rejected.take() {
                Some(CalibrationError::Rejected(code))
            } else if self.abort_requested {
                Some(CalibrationError::Aborted)
            } else {
                None
            };
            if let Some(err) = problem {
                self.fail(err, now, &mut out, meas);
                return self.with_targets(out, n);
            }
        }

        match self.phase.clone() {
            Phase::Start { .. } => {
                self.hold = if view.sent_norm.len() == n {
                    view.sent_norm.clone()
                } else {
                    tel.channels().iter().map(|c| c.position_norm()).collect()
                };
                self.cmd = self.hold[self.channel];
                self.initial_mask = tel.torque_mask & mask_all(n);
                self.initial_faults = ct.faults;
                let meta = view.channels.get(self.channel);
                if let Some(m) = meta {
                    self.name = m.name.clone();
                }
                let (lo, hi) = meta.map_or((-1.0, 1.0), |m| (m.min_norm, m.max_norm));
                self.start_pos = self.opts.start.unwrap_or((lo + hi) / 2.0);
                self.plan = vec![
                    Phase::Approach {
                        target: self.start_pos,
                        reached: None,
                    },
                    Phase::Jog {
                        sign: 1.0,
                        cmd0: 0.0,
                        meas0: 0.0,
                    },
                    Phase::Approach {
                        target: self.start_pos,
                        reached: None,
                    },
                    Phase::Jog {
                        sign: -1.0,
                        cmd0: 0.0,
                        meas0: 0.0,
                    },
                    Phase::Approach {
                        target: self.start_pos,
                        reached: None,
                    },
                ];
                if self.opts.neutral.is_none() {
                    self.plan.push(Phase::Relax {
                        since: now,
                        still_since: None,
                        cmd_ref: 0.0,
                        meas_ref: 0.0,
                    });
                }
                self.plan.push(Phase::Restore {
                    reached: None,
                    since: now,
                });
                if self.original.is_none() {
                    self.phase = Phase::WaitInfo {
                        sent: now,
                        tries: 1,
                    };
                    out.push(Message::GetChannelInfo {
                        channel: self.channel as u8,
                    });
                } else {
                    self.lower(&mut out);
                    self.next_phase(now, &mut out, meas);
                }
            }
            Phase::WaitInfo { sent, tries } => {
                if let Some(info) = self.info {
                    self.original = Some(info);
                    self.lower(&mut out);
                    self.next_phase(now, &mut out, meas);
                } else if now.saturating_sub(sent) > self.opts.reply_timeout {
                    if tries >= 3 {
                        self.finish(Err(CalibrationError::NoChannelInfo));
                        return out;
                    }
                    self.phase = Phase::WaitInfo {
                        sent: now,
                        tries: tries + 1,
                    };
                    out.push(Message::GetChannelInfo {
                        channel: self.channel as u8,
                    });
                }
            }
            Phase::Approach { target, reached } => {
                let step = self.opts.jog_speed * dt;
                self.cmd += (target - self.cmd).clamp(-step, step);
                if (self.cmd - target).abs() < 1e-6 {
                    let since = reached.unwrap_or(now);
                    self.phase = Phase::Approach {
                        target,
                        reached: Some(since),
                    };
                    let there = (meas - target).abs() < self.opts.stall_error;
                    if there || now.saturating_sub(since) > Duration::from_secs(1) {
                        self.next_phase(now, &mut out, meas);
                    }
                }
            }
            Phase::Jog { sign, cmd0, meas0 } => {
                self.cmd += sign * self.opts.jog_speed * dt;
                let moved = sign * (self.cmd - cmd0);
                let progress = meas - meas0;
                if self.direction == 0 {
                    if moved >= 0.03 && progress.abs() > 0.01 {
                        self.direction = if progress * sign > 0.0 { 1 } else { -1 };
                    } else if moved >= self.opts.stall_error {
                        self.fail(CalibrationError::NotMoving, now, &mut out, meas);
                        return self.with_targets(out, n);
                    }
                }
                if self.direction != 0 {
                    let dir = f32::from(self.direction);
                    let err = dir * (self.cmd - cmd0) - progress;
                    if err.abs() > self.opts.stall_error {
                        // The position stopped following: it stands at the travel end now
                        // (in the command frame; the wire cannot go beyond ±1).
                        let here = (cmd0 + dir * progress).clamp(-1.0, 1.0);
                        if sign > 0.0 {
                            self.max_end = Some(here);
                        } else {
                            self.min_end = Some(here);
                        }
                        // Continue from where the channel really is.
                        self.cmd = here;
                        self.next_phase(now, &mut out, meas);
                        return self.with_targets(out, n);
                    }
                }
                if moved > self.opts.max_search {
                    self.fail(
                        CalibrationError::NoEnd { upper: sign > 0.0 },
                        now,
                        &mut out,
                        meas,
                    );
                }
            }
            Phase::Relax {
                since,
                still_since,
                cmd_ref,
                meas_ref,
            } => {
                let dir = if self.direction < 0 { -1.0 } else { 1.0 };
                self.cmd = cmd_ref + dir * (meas - meas_ref);
                let still = ct.velocity_norm_s().abs() < self.opts.rest_velocity;
                let still_since = if still {
                    still_since.or(Some(now))
                } else {
                    None
                };
                self.phase = Phase::Relax {
                    since,
                    still_since,
                    cmd_ref,
                    meas_ref,
                };
                let elapsed = now.saturating_sub(since);
                let settled = still_since
                    .is_some_and(|s| now.saturating_sub(s) >= self.opts.rest_still)
                    && elapsed >= self.opts.relax_min;
                if settled || elapsed >= self.opts.relax_max {
                    self.neutral = Some(self.cmd);
                    self.next_phase(now, &mut out, meas);
                }
            }
            Phase::Restore { reached, since } => {
                let target = self.hold[self.channel];
                let step = self.opts.jog_speed * dt;
                self.cmd += (target - self.cmd).clamp(-step, step);
                if (self.cmd - target).abs() < 1e-6 {
                    let r = reached.unwrap_or(now);
                    self.phase = Phase::Restore {
                        reached: Some(r),
                        since,
                    };
                    let there = (meas - target).abs() < 2.0 * self.opts.stall_error;
                    if there || now.saturating_sub(r) > Duration::from_secs(1) {
                        if self.heard_replies {
                            self.phase = Phase::Verify {
                                sent: now,
                                tries: 1,
                            };
                            self.enter(now, &mut out, meas);
                        } else {
                            self.next_phase(now, &mut out, meas);
                        }
                    }
                }
            }
            Phase::Verify { sent, tries } => {
                let restored = match (self.info, self.original) {
                    (Some(now_cfg), Some(orig)) => Some(now_cfg == orig),
                    _ => None,
                };
                if restored == Some(true) {
                    self.next_phase(now, &mut out, meas);
                } else if restored == Some(false)
                    || now.saturating_sub(sent) > self.opts.reply_timeout
                {
                    if tries >= 3 {
                        if self.failure.is_none() {
                            self.failure = Some(CalibrationError::RestoreFailed);
                        }
                        self.plan.clear();
                        self.next_phase(now, &mut out, meas);
                    } else {
                        if restored == Some(false)
                            && let Some(orig) = self.original
                        {
                            out.push(Message::ConfigureChannel(orig));
                        }
                        self.phase = Phase::Verify {
                            sent: now,
                            tries: tries + 1,
                        };
                        self.enter(now, &mut out, meas);
                    }
                }
            }
            Phase::Done => {}
        }
        self.with_targets(out, n)
    }

    /// Sends the lowered current limit.
    fn lower(&self, out: &mut Vec<Message>) {
        if let Some(orig) = self.original {
            out.push(Message::ConfigureChannel(ChannelConfig {
                current_limit_ma: self
                    .opts
                    .current_limit_ma
                    .clamp(1, orig.current_limit_ma.max(1)),
                ..orig
            }));
        }
    }

    /// Puts the pose (others held, this channel at the command) in front of `out`.
    fn with_targets(&self, out: Vec<Message>, n: usize) -> Vec<Message> {
        if self.hold.len() != n {
            return out;
        }
        let mut pose = self.hold.clone();
        if let Some(p) = pose.get_mut(self.channel) {
            *p = self.cmd;
        }
        let mut all = Vec::with_capacity(out.len() + 1);
        all.push(Message::SetTargets(Targets::from_norm(&pose, 10)));
        all.extend(out);
        all
    }
}
