//! # facetwin-mirror — the engineer's mirror (Bevy-free core)
//!
//! Tools for looking at a head through the host link, real or virtual:
//!
//! * [`tap`]: a transport wrapper that decodes every frame the host sends and receives
//!   (`HostCore` does not publish them), time-stamped on the session clock;
//! * [`record`]: a crash-safe MCAP session [`Recorder`] (1-second segments, each a complete
//!   MCAP file written to `*.tmp` and atomically renamed) and its reader [`Recording`];
//!   Foxglove opens every segment as is;
//! * [`replay`]: time-ordered playback, scrubbing (`telemetry_at`, interpolated
//!   `positions_at`), 1× or faster [`Playback`], and [`Replay::simulate`]: the recorded
//!   commands played on a fresh simulated head, divergence per channel;
//! * [`shadow`]: [`Shadow`] mode — a simulated head fed the same commands as the real one,
//!   per-motor position / current comparison with alarms (torn tendon, jam, slip);
//! * [`calibrate`]: a guided per-channel [`Calibrator`] (travel ends, direction, neutral),
//!   [`Calibration`] files in RON and the host-side mapping [`apply`].
//!
//! Everything is clock-agnostic: every call takes the session time, so the same code runs in
//! lockstep virtual time (tests, CI) and on a real link.

pub mod calibrate;
mod json;
pub mod record;
pub mod replay;
pub mod shadow;
pub mod tap;

pub use calibrate::{
    Calibration, CalibrationError, CalibrationFileError, CalibrationOptions, Calibrator,
    ChannelCalibration, SharedCalibrator, apply,
};
pub use record::{
    ReadError, Record, RecordError, RecordKind, Recorder, RecorderOptions, RecorderStats, Recording,
};
pub use replay::{Playback, Replay, ReplayPlayer, SimulationReport};
pub use shadow::{
    AlarmKind, AlarmState, ChannelCompare, ChannelDivergence, Shadow, ShadowConfig, ShadowEvent,
};
pub use tap::{Direction, Tap, TapTransport, TappedFrame};
