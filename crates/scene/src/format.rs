//! The scene file format (RON): set-up, timed steps, expectations. See `docs/SCENES.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named set of motor positions: channel name → normalised travel.
pub type Pose = BTreeMap<String, f32>;

/// One scene file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Shown in reports; the file stem when absent.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Which head the scene drives.
    #[serde(default)]
    pub head: HeadSetup,
    /// Command stream rate, Hz; 1000 / rate must be a whole number of milliseconds.
    #[serde(default = "default_command_rate")]
    pub command_rate_hz: u32,
    /// Telemetry rate asked of the head, Hz.
    #[serde(default = "default_telemetry_rate")]
    pub telemetry_hz: u16,
    /// Watchdog timeout asked of the head, ms.
    #[serde(default = "default_watchdog")]
    pub watchdog_ms: u16,
    /// Seed of the simulated head (motor noise).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time after the host is connected and streaming, s.
    pub duration_s: f64,
    /// Named poses, for `Play` and `SetPose`.
    #[serde(default)]
    pub poses: BTreeMap<String, Pose>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

fn default_command_rate() -> u32 {
    100
}
fn default_telemetry_rate() -> u16 {
    200
}
fn default_watchdog() -> u16 {
    200
}
fn default_seed() -> u64 {
    1
}

/// The head a scene drives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum HeadSetup {
    /// The built-in default head, simulated in-process in lockstep virtual time.
    #[default]
    Default,
    /// A real head (or `facetwin head --pty`) on a serial port, in real time.
    Serial {
        path: String,
        #[serde(default = "default_baud")]
        baud: u32,
    },
}

fn default_baud() -> u32 {
    1_000_000
}

/// One timed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Scene time, s. Absent: right after the previous step (plus any `Wait`).
    #[serde(default)]
    pub at: Option<f64>,
    #[serde(rename = "do")]
    pub action: Action,
}

/// Faults the simulated head can inject (the protocol's `FaultKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    Jam,
    TornTendon,
    EncoderGlitch,
    Overheat,
    PowerLoss,
}

impl From<FaultKind> for facetwin_protocol::FaultKind {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::Jam => Self::Jam,
            FaultKind::TornTendon => Self::TornTendon,
            FaultKind::EncoderGlitch => Self::EncoderGlitch,
            FaultKind::Overheat => Self::Overheat,
            FaultKind::PowerLoss => Self::PowerLoss,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Sets the named channels' desired positions (the others keep theirs).
    SetMotors(Pose),
    /// Sets the channels of a named pose at once.
    SetPose(String),
    /// Plays a named pose: ramps to it over `onset_ms`, holds, ramps back over `offset_ms`,
    /// streaming interpolated targets at the command rate. Apex = start + `onset_ms`.
    Play {
        pose: String,
        onset_ms: u32,
        #[serde(default)]
        hold_ms: u32,
        offset_ms: u32,
    },
    /// Moves the cursor for the next step without an `at`.
    Wait {
        ms: u32,
    },
    /// Starts (`active: true`) or stops a fault on a channel of the head.
    InjectFault {
        channel: String,
        kind: FaultKind,
        #[serde(default = "yes")]
        active: bool,
    },
    /// Corrupts this fraction of bytes both ways (0.0 stops); in-process head only.
    CorruptLink {
        fraction: f64,
    },
    /// The host sends nothing for `ms` (the head's watchdog should trip).
    Silence {
        ms: u32,
    },
    /// Pulls the cable (in-process head only).
    Unplug,
    /// Puts it back.
    Replug,
    EmergencyStop,
    /// Clears every channel's latched faults and releases the emergency stop.
    ClearFaults,
    /// Torque on or off for every channel.
    Torque(bool),
}

fn yes() -> bool {
    true
}

/// What must hold. Times are scene times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expectation {
    /// |measured − commanded target| ≤ `max_norm` on every telemetry sample in the window. The
    /// commanded target at `t` is the last target sent at or before `t − 1/command_rate` (the
    /// head reaches a streamed target one command period after it was sent).
    MaxTrackingError {
        channel: String,
        from_s: f64,
        to_s: f64,
        max_norm: f32,
    },
    /// The channel's measured peak lies within ±`tolerance_ms` of the authored apex: the apex of
    /// the first `Play` of `pose`, or `at_s`. The peak must reach `min_value` (a negative
    /// `min_value` looks for a minimum, e.g. an eyelid closing to −1).
    ApexWithin {
        channel: String,
        #[serde(default)]
        pose: Option<String>,
        #[serde(default)]
        at_s: Option<f64>,
        tolerance_ms: f64,
        min_value: f32,
    },
    /// The fault (`stall`, `overheat`, `encoder`, `no-load`, `power`, `following`,
    /// `watchdog`, `estop`) is reported on the channel at or before `by_s`.
    FaultRaised {
        channel: String,
        fault: String,
        by_s: f64,
    },
    /// No fault bit (or none of `faults`) on the channel (`"all"` or absent: every channel)
    /// in the window.
    NoFault {
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        faults: Option<Vec<String>>,
        from_s: f64,
        to_s: f64,
    },
    /// After the first `Silence` step (or the first at or after `silence_at_s`): every channel
    /// torque off with the WATCHDOG bit within `within_ms`, then every channel within
    /// `tolerance` (default 0.05) of neutral at some sample by `neutral_by_s`.
    SafeStateAfterSilence {
        within_ms: f64,
        neutral_by_s: f64,
        #[serde(default)]
        silence_at_s: Option<f64>,
        #[serde(default)]
        tolerance: Option<f32>,
    },
    /// The measured position at `at_s` (nearest telemetry sample) is in `min..=max`.
    Position {
        channel: String,
        at_s: f64,
        min: f32,
        max: f32,
    },
    /// The host noticed the link down at or before `by_s`.
    Disconnected { by_s: f64 },
    /// After a disconnect, the host was connected again at or before `by_s`.
    Reconnected { by_s: f64 },
    /// The host stayed connected throughout the window.
    StaysConnected { from_s: f64, to_s: f64 },
    /// The default face deformed by the measured positions at `at_s` and by `pose` differ by at
    /// most `max_mm` at any vertex.
    MeshNear { at_s: f64, pose: Pose, max_mm: f32 },
    /// The twin notices a deviation the head does not report: the mean |measured current| over
    /// the window, divided by that of a healthy simulated channel fed the same commands, is
    /// below `min_ratio`.
    CurrentDeviation {
        channel: String,
        from_s: f64,
        to_s: f64,
        min_ratio: f32,
    },
    /// A rendered frame at `at_s` matches a reference PNG (needs `--render`; skipped for now).
    Image {
        at_s: f64,
        reference: String,
        #[serde(default)]
        tolerance: Option<f32>,
    },
}

impl Expectation {
    /// The variant's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MaxTrackingError { .. } => "MaxTrackingError",
            Self::ApexWithin { .. } => "ApexWithin",
            Self::FaultRaised { .. } => "FaultRaised",
            Self::NoFault { .. } => "NoFault",
            Self::SafeStateAfterSilence { .. } => "SafeStateAfterSilence",
            Self::Position { .. } => "Position",
            Self::Disconnected { .. } => "Disconnected",
            Self::Reconnected { .. } => "Reconnected",
            Self::StaysConnected { .. } => "StaysConnected",
            Self::MeshNear { .. } => "MeshNear",
            Self::CurrentDeviation { .. } => "CurrentDeviation",
            Self::Image { .. } => "Image",
        }
    }

    /// A one-line label: the variant and its key arguments.
    pub fn label(&self) -> String {
        match self {
            Self::MaxTrackingError {
                channel,
                from_s,
                to_s,
                max_norm,
            } => format!("MaxTrackingError({channel}, {from_s}..{to_s} s, <= {max_norm})"),
            Self::ApexWithin {
                channel,
                pose,
                at_s,
                tolerance_ms,
                min_value,
            } => {
                let apex = match (pose, at_s) {
                    (Some(p), _) => format!("pose {p}"),
                    (None, Some(t)) => format!("{t} s"),
                    (None, None) => "?".into(),
                };
                format!("ApexWithin({channel}, {apex} +-{tolerance_ms} ms, min {min_value})")
            }
            Self::FaultRaised {
                channel,
                fault,
                by_s,
            } => format!("FaultRaised({channel}, {fault}, by {by_s} s)"),
            Self::NoFault {
                channel,
                faults,
                from_s,
                to_s,
            } => {
                let which = faults
                    .as_ref()
                    .map_or_else(String::new, |f| format!(" [{}]", f.join(", ")));
                format!(
                    "NoFault({}{which}, {from_s}..{to_s} s)",
                    channel.as_deref().unwrap_or("all")
                )
            }
            Self::SafeStateAfterSilence {
                within_ms,
                neutral_by_s,
                ..
            } => {
                format!("SafeStateAfterSilence(within {within_ms} ms, neutral by {neutral_by_s} s)")
            }
            Self::Position {
                channel,
                at_s,
                min,
                max,
            } => format!("Position({channel} at {at_s} s in {min}..{max})"),
            Self::Disconnected { by_s } => format!("Disconnected(by {by_s} s)"),
            Self::Reconnected { by_s } => format!("Reconnected(by {by_s} s)"),
            Self::StaysConnected { from_s, to_s } => {
                format!("StaysConnected({from_s}..{to_s} s)")
            }
            Self::MeshNear { at_s, max_mm, .. } => {
                format!("MeshNear(at {at_s} s, <= {max_mm} mm)")
            }
            Self::CurrentDeviation {
                channel,
                from_s,
                to_s,
                min_ratio,
            } => format!("CurrentDeviation({channel}, {from_s}..{to_s} s, ratio < {min_ratio})"),
            Self::Image {
                at_s, reference, ..
            } => format!("Image(at {at_s} s vs {reference})"),
        }
    }
}
