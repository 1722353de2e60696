//! Live Link Face CSV import: ARKit blendshapes → AUs → actuator positions.
//!
//! ## Input
//!
//! The CSV written by Epic's Live Link Face app: a header
//! `Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,…` with the 52
//! ARKit blendshapes ([`LIVELINK_BLENDSHAPES`], Live Link's column names and
//! order) followed by `HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,
//! LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll`
//! ([`LIVELINK_ROTATIONS`]), then one row per frame. Columns are found by
//! name (case-insensitive; `BlendShapeCount` is not needed), so their order
//! does not matter, but all 61 value columns and `Timecode` must be there.
//! The timecode is `HH:MM:SS:FF.mmm` — hours, minutes, seconds, frame number
//! at `fps` (60), and a fractional sub-frame — so a frame's time is
//! `HH·3600 + MM·60 + SS + FF.mmm / fps` seconds. Times are taken relative
//! to the first row and must strictly increase (a jump back of more than
//! 12 h counts as passing midnight). Rotations are in radians by default.
//!
//! ## Retargeting
//!
//! 1. **ARKit → AU** through an editable table (`assets/au/arkit_to_au.ron`,
//!    [`ArkitMapping`]): each blendshape adds `weight × value` to some AUs
//!    (e.g. `mouthSmileLeft → AU12L`, `cheekSquintLeft → AU6L`,
//!    `eyeBlinkLeft → AU45L`, `jawOpen → AU26`); the sums are clamped to
//!    0..=1. Blendshapes the head cannot show (gaze blendshapes, jaw
//!    sideways/forward, cheek puff, tongue) are not in the table.
//! 2. **AU → target pose**: the AU table sums the AUs' channel weights
//!    (unclamped) — the pose the capture asks for.
//! 3. **Bounded least-squares fit** of actuator positions to that pose in AU
//!    space within the travel limits ([`crate::fit::BoundedFit`]: minimise
//!    `‖A x − A p‖²`, `lo ≤ x ≤ hi`, `A` = actuators → AU read-outs; projected
//!    coordinate descent, warm-started from the previous frame).
//! 4. **Gaze and head**: `eyes_yaw` = mean(LeftEyeYaw, RightEyeYaw) /
//!    eye-yaw range (30°), `eyes_pitch` = mean eye pitch / 25°,
//!    `neck_pitch` = HeadPitch / 20° (the ranges the app's parts use), each
//!    times a sign option, clamped to ±1. The signs are a convention to check
//!    against a real capture (`*_sign` options).
//! 5. **Smoothing** (optional, per channel, zero-phase so timing is kept):
//!    a one-pole low-pass run forwards then backwards, or a centred moving
//!    average; both are convex combinations of in-limit values, so the
//!    result stays within the limits.
//! 6. **Time scaling** (`time_scale` = 2 plays twice as slow) and
//!    **decimation**: per channel a greedy pass keeps a key only where the
//!    linear interpolation between kept keys would miss a frame by more than
//!    `tolerance`; channels that never leave neutral by more than the
//!    tolerance get no track. Keys are Linear, at whole milliseconds.

use crate::au::{AuId, AuTable};
use crate::clip::Clip;
use crate::error::FileError;
use crate::fit::{BoundedFit, FitStats};
use crate::timeline::{Key, Track, TrackTarget};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The 52 ARKit blendshapes: Live Link Face's column names, in its order.
pub const LIVELINK_BLENDSHAPES: [&str; 52] = [
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawRight",
    "JawLeft",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthRight",
    "MouthLeft",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
];

/// Head and eye rotations after the blendshapes.
pub const LIVELINK_ROTATIONS: [&str; 9] = [
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
];

/// Values per frame: 52 blendshapes then 9 rotations.
pub const FRAME_VALUES: usize = 61;

const HEAD_PITCH: usize = 53;
const LEFT_EYE_YAW: usize = 55;
const LEFT_EYE_PITCH: usize = 56;
const RIGHT_EYE_YAW: usize = 58;
const RIGHT_EYE_PITCH: usize = 59;

/// The built-in mapping, `assets/au/arkit_to_au.ron`.
pub const DEFAULT_ARKIT_MAPPING_RON: &str = include_str!("../../../assets/au/arkit_to_au.ron");

/// Index (0..61) of a value column by name, case-insensitive.
pub fn frame_index(column: &str) -> Option<usize> {
    LIVELINK_BLENDSHAPES
        .iter()
        .chain(LIVELINK_ROTATIONS.iter())
        .position(|c| c.eq_ignore_ascii_case(column))
}

/// Errors importing a capture. Every variant names the file; row errors
/// name the line (1 = the header) and the column.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: empty file")]
    Empty { path: String },
    #[error("{path}: no frames after the header")]
    NoFrames { path: String },
    #[error("{path}:{line}: missing column \"{column}\"")]
    MissingColumn {
        path: String,
        line: u64,
        column: String,
    },
    #[error("{path}:{line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:{line}: column \"{column}\": bad number \"{value}\"")]
    BadNumber {
        path: String,
        line: u64,
        column: String,
        value: String,
    },
    #[error(
        "{path}:{line}: column \"Timecode\": bad timecode \"{value}\" (expected HH:MM:SS:FF.mmm)"
    )]
    BadTimecode {
        path: String,
        line: u64,
        value: String,
    },
    #[error("{path}:{line}: column \"Timecode\": {current} does not come after {previous}")]
    NonMonotonic {
        path: String,
        line: u64,
        previous: String,
        current: String,
    },
    #[error(transparent)]
    Mapping(#[from] FileError),
}

/// A parsed capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Frame times, ms from the first frame.
    pub times_ms: Vec<f64>,
    /// Per frame: 52 blendshapes then 9 rotations ([`frame_index`]).
    pub frames: Vec<[f32; FRAME_VALUES]>,
}

/// Parses a timecode `HH:MM:SS:FF[.fff]` into seconds.
pub fn parse_timecode(s: &str, fps: f32) -> Option<f64> {
    let mut parts = s.trim().split(':');
    let hh: u32 = parts.next()?.parse().ok()?;
    let mm: u32 = parts.next()?.parse().ok()?;
    let ss: u32 = parts.next()?.parse().ok()?;
    let ff_text = parts.next()?;
    if parts.next().is_some() || mm >= 60 || ss >= 60 || fps.is_nan() || fps <= 0.0 {
        return None;
    }
    let ff: f64 = ff_text.parse().ok()?;
    if !ff.is_finite() || ff < 0.0 || ff >= f64::from(fps).ceil() + 1.0 {
        return None;
    }
    Some(f64::from(hh) * 3600.0 + f64::from(mm) * 60.0 + f64::from(ss) + ff / f64::from(fps))
}

/// Formats frame `frame` after `start_s` seconds as `HH:MM:SS:FF.000`.
pub fn format_timecode(start_s: u32, frame: u32, fps: u32) -> String {
    let fps = fps.max(1);
    let secs = start_s + frame / fps;
    let ff = frame % fps;
    format!(
        "{:02}:{:02}:{:02}:{:02}.000",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ff
    )
}

/// Parses a Live Link Face CSV; `origin` names the file in errors.
pub fn parse_livelink_csv(text: &str, origin: &str, fps: f32) -> Result<Capture, ImportError> {
    if text.trim().is_empty() {
        return Err(ImportError::Empty {
            path: origin.into(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| ImportError::Csv {
        path: origin.into(),
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    };
    let headers = reader.headers().map_err(csv_err)?.clone();
    let find = |name: &str| -> Result<usize, ImportError> {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| ImportError::MissingColumn {
                path: origin.into(),
                line: 1,
                column: name.into(),
            })
    };
    let tc_col = find("Timecode")?;
    let mut cols = [0usize; FRAME_VALUES];
    for (i, name) in LIVELINK_BLENDSHAPES
        .iter()
        .chain(LIVELINK_ROTATIONS.iter())
        .enumerate()
    {
        cols[i] = find(name)?;
    }
    let column_name = |i: usize| -> String {
        LIVELINK_BLENDSHAPES
            .iter()
            .chain(LIVELINK_ROTATIONS.iter())
            .nth(i)
            .map_or_else(String::new, |s| (*s).to_owned())
    };
    let mut capture = Capture {
        times_ms: Vec::new(),
        frames: Vec::new(),
    };
    let mut t0 = None;
    let mut prev: Option<(f64, String)> = None;
    let mut day_offset = 0.0;
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            return Err(ImportError::Csv {
                path: origin.into(),
                line,
                message: format!("{} fields, the header has {}", record.len(), headers.len()),
            });
        }
        let tc = record.get(tc_col).unwrap_or("");
        let mut t = parse_timecode(tc, fps).ok_or_else(|| ImportError::BadTimecode {
            path: origin.into(),
            line,
            value: tc.into(),
        })? + day_offset;
        if let Some((p, ptc)) = &prev {
            if t < p - 43_200.0 {
                day_offset += 86_400.0;
                t += 86_400.0;
            }
            if t <= *p {
                return Err(ImportError::NonMonotonic {
                    path: origin.into(),
                    line,
                    previous: ptc.clone(),
                    current: tc.into(),
                });
            }
        }
        let mut frame = [0.0f32; FRAME_VALUES];
        for (i, &c) in cols.iter().enumerate() {
            let raw = record.get(c).unwrap_or("");
            frame[i] = raw
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ImportError::BadNumber {
                    path: origin.into(),
                    line,
                    column: column_name(i),
                    value: raw.into(),
                })?;
        }
        let start = *t0.get_or_insert(t);
        capture.times_ms.push((t - start) * 1000.0);
        capture.frames.push(frame);
        prev = Some((t, tc.to_owned()));
    }
    if capture.frames.is_empty() {
        return Err(ImportError::NoFrames {
            path: origin.into(),
        });
    }
    Ok(capture)
}

/// One blendshape's contribution to AUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArkitRule {
    /// ARKit name (`mouthSmileLeft`; matched case-insensitively).
    pub shape: String,
    /// (AU name, weight): AU intensity += weight × blendshape value.
    pub aus: Vec<(String, f32)>,
}

/// The ARKit → AU table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArkitMapping {
    pub rules: Vec<ArkitRule>,
}

impl ArkitMapping {
    /// Parses a mapping and checks shape and AU names against `table`.
    pub fn from_ron_str(text: &str, origin: &str, table: &AuTable) -> Result<Self, FileError> {
        let m: Self = facetwin_ronfile::from_str(text, origin)?;
        for rule in &m.rules {
            if frame_index(&rule.shape).is_none_or(|i| i >= LIVELINK_BLENDSHAPES.len()) {
                return Err(FileError::invalid(
                    origin,
                    text,
                    &rule.shape,
                    format!("unknown ARKit blendshape \"{}\"", rule.shape),
                ));
            }
            for (au, w) in &rule.aus {
                if table.index(au).is_none() {
                    return Err(FileError::unknown_au(origin, text, au));
                }
                if !w.is_finite() {
                    return Err(FileError::invalid(
                        origin,
                        text,
                        &rule.shape,
                        format!("{}: weight of {au} is not finite", rule.shape),
                    ));
                }
            }
        }
        Ok(m)
    }

    /// Loads a mapping file.
    pub fn load(path: &Path, table: &AuTable) -> Result<Self, FileError> {
        let text = crate::error::read_text(path)?;
        Self::from_ron_str(&text, &path.display().to_string(), table)
    }
}

/// How rotations are given in the CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RotationUnit {
    #[default]
    Radians,
    Degrees,
}

/// Optional zero-phase smoothing of the fitted channel curves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Smoothing {
    #[default]
    None,
    /// One-pole low-pass with this time constant, run forwards and backwards.
    OnePole { tau_ms: f32 },
    /// Centred moving average over this window.
    MovingAverage { window_ms: f32 },
}

/// Import options.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Clip name (default: the file stem).
    pub name: Option<String>,
    /// Frame rate of the timecode's FF field.
    pub fps: f32,
    /// Output time = capture time × time_scale.
    pub time_scale: f32,
    pub smoothing: Smoothing,
    /// Decimation tolerance, normalised travel.
    pub tolerance: f32,
    pub rotation_unit: RotationUnit,
    /// Eye yaw (deg) that maps to eyes_yaw = ±1.
    pub eye_yaw_range_deg: f32,
    /// Eye pitch (deg) that maps to eyes_pitch = ±1.
    pub eye_pitch_range_deg: f32,
    /// Head pitch (deg) that maps to neck_pitch = ±1.
    pub neck_pitch_range_deg: f32,
    /// Sign conventions (+1 or −1).
    pub eye_yaw_sign: f32,
    pub eye_pitch_sign: f32,
    pub neck_pitch_sign: f32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            name: None,
            fps: 60.0,
            time_scale: 1.0,
            smoothing: Smoothing::None,
            tolerance: 0.005,
            rotation_unit: RotationUnit::Radians,
            eye_yaw_range_deg: 30.0,
            eye_pitch_range_deg: 25.0,
            neck_pitch_range_deg: 20.0,
            eye_yaw_sign: 1.0,
            eye_pitch_sign: 1.0,
            neck_pitch_sign: 1.0,
        }
    }
}

/// ARKit frames → actuator positions.
#[derive(Debug, Clone)]
pub struct Retargeter {
    table: AuTable,
    /// (blendshape index, AU, weight).
    rules: Vec<(usize, AuId, f32)>,
    fit: BoundedFit,
    eyes_yaw: Option<usize>,
    eyes_pitch: Option<usize>,
    neck_pitch: Option<usize>,
}

impl Retargeter {
    /// A retargeter for a table and a mapping (names must resolve; an
    /// unknown name is reported as [`FileError::UnknownAu`] / `Invalid`
    /// at `<mapping>:0:0`).
    pub fn new(table: AuTable, mapping: &ArkitMapping) -> Result<Self, FileError> {
        let mut rules = Vec::new();
        for rule in &mapping.rules {
            let shape = frame_index(&rule.shape)
                .filter(|&i| i < LIVELINK_BLENDSHAPES.len())
                .ok_or_else(|| FileError::Invalid {
                    path: "<mapping>".into(),
                    line: 0,
                    column: 0,
                    message: format!("unknown ARKit blendshape \"{}\"", rule.shape),
                })?;
            for (au, w) in &rule.aus {
                let id = table.index(au).ok_or_else(|| FileError::UnknownAu {
                    path: "<mapping>".into(),
                    line: 0,
                    column: 0,
                    name: au.clone(),
                })?;
                rules.push((shape, id, *w));
            }
        }
        let layout = table.layout();
        Ok(Self {
            eyes_yaw: layout.index("eyes_yaw"),
            eyes_pitch: layout.index("eyes_pitch"),
            neck_pitch: layout.index("neck_pitch"),
            fit: BoundedFit::new(&table),
            rules,
            table,
        })
    }

    /// The built-in AU table and ARKit mapping.
    pub fn builtin() -> Self {
        let table = AuTable::builtin();
        let mapping = ArkitMapping::from_ron_str(
            DEFAULT_ARKIT_MAPPING_RON,
            "assets/au/arkit_to_au.ron",
            &table,
        )
        .expect("the built-in ARKit mapping parses (tested)");
        Self::new(table, &mapping).expect("the built-in ARKit mapping resolves (tested)")
    }

    pub fn table(&self) -> &AuTable {
        &self.table
    }

    pub fn fit(&self) -> &BoundedFit {
        &self.fit
    }

    /// AU intensities (indexed by [`AuId`], clamped to 0..=1) of a frame.
    pub fn au_intensities(&self, frame: &[f32; FRAME_VALUES]) -> Vec<f32> {
        let mut aus = vec![0.0f32; self.table.units().len()];
        for &(shape, id, w) in &self.rules {
            aus[id] += w * frame[shape];
        }
        for a in &mut aus {
            *a = a.clamp(0.0, 1.0);
        }
        aus
    }

    /// The unclamped target pose of a frame: AU contributions plus gaze and
    /// head pitch.
    pub fn target_pose(&self, frame: &[f32; FRAME_VALUES], opts: &ImportOptions) -> Vec<f32> {
        let mut pose = vec![0.0; self.table.layout().len()];
        for (id, s) in self.au_intensities(frame).into_iter().enumerate() {
            self.table.accumulate(id, s, &mut pose);
        }
        let to_deg = match opts.rotation_unit {
            RotationUnit::Radians => 180.0 / std::f32::consts::PI,
            RotationUnit::Degrees => 1.0,
        };
        let mut set = |ch: Option<usize>, deg: f32, range: f32, sign: f32| {
            if let Some(i) = ch {
                pose[i] = (sign * deg / range.max(1e-3)).clamp(-1.0, 1.0);
            }
        };
        let eye_yaw = 0.5 * (frame[LEFT_EYE_YAW] + frame[RIGHT_EYE_YAW]) * to_deg;
        let eye_pitch = 0.5 * (frame[LEFT_EYE_PITCH] + frame[RIGHT_EYE_PITCH]) * to_deg;
        set(
            self.eyes_yaw,
            eye_yaw,
            opts.eye_yaw_range_deg,
            opts.eye_yaw_sign,
        );
        set(
            self.eyes_pitch,
            eye_pitch,
            opts.eye_pitch_range_deg,
            opts.eye_pitch_sign,
        );
        set(
            self.neck_pitch,
            frame[HEAD_PITCH] * to_deg,
            opts.neck_pitch_range_deg,
            opts.neck_pitch_sign,
        );
        pose
    }

    /// Actuator positions for one frame; `x` is the warm start (the previous
    /// frame's result) and receives the fit.
    pub fn retarget_frame(
        &self,
        frame: &[f32; FRAME_VALUES],
        opts: &ImportOptions,
        x: &mut [f32],
    ) -> FitStats {
        let target = self.target_pose(frame, opts);
        self.fit.fit(&target, x)
    }

    /// Per frame actuator positions of a whole capture (before smoothing).
    pub fn retarget(&self, capture: &Capture, opts: &ImportOptions) -> Vec<Vec<f32>> {
        let n = self.table.layout().len();
        let mut x = vec![0.0; n];
        capture
            .frames
            .iter()
            .map(|f| {
                self.retarget_frame(f, opts, &mut x);
                x.clone()
            })
            .collect()
    }

    /// Capture → clip (smoothing, time scaling, decimation; see the module
    /// documentation).
    pub fn to_clip(&self, capture: &Capture, name: &str, opts: &ImportOptions) -> Clip {
        let layout = self.table.layout();
        let positions = self.retarget(capture, opts);
        let scale = f64::from(if opts.time_scale > 0.0 {
            opts.time_scale
        } else {
            1.0
        });
        let times: Vec<f64> = capture.times_ms.iter().map(|t| t * scale).collect();
        let end = times.last().copied().unwrap_or(0.0);
        let mut clip = Clip::new(name, end.ceil() as u32);
        for ch in 0..layout.len() {
            let mut values: Vec<f32> = positions.iter().map(|p| p[ch]).collect();
            smooth(&times, &mut values, opts.smoothing, scale);
            if values.iter().all(|v| v.abs() <= opts.tolerance) {
                continue;
            }
            let mut keys: Vec<Key> = Vec::new();
            for i in decimate(&times, &values, opts.tolerance) {
                let t = times[i].round() as u32;
                if keys.last().is_some_and(|k| k.time_ms >= t) {
                    continue;
                }
                keys.push(Key::new(t, values[i]));
            }
            clip.tracks.push(Track {
                target: TrackTarget::Channel(layout.name(ch).to_owned()),
                keys,
            });
        }
        clip
    }
}

/// Zero-phase smoothing in place (`times` in output ms; the filter
/// constants are given in capture ms and scaled with `time_scale`).
fn smooth(times: &[f64], values: &mut [f32], smoothing: Smoothing, time_scale: f64) {
    let n = values.len();
    if n < 2 {
        return;
    }
    match smoothing {
        Smoothing::None => {}
        Smoothing::OnePole { tau_ms } => {
            let tau = f64::from(tau_ms) * time_scale;
            if tau.is_nan() || tau <= 0.0 {
                return;
            }
            let mut y: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            for i in 1..n {
                let a = 1.0 - (-(times[i] - times[i - 1]) / tau).exp();
                y[i] = y[i - 1] + a * (y[i] - y[i - 1]);
            }
            for i in (0..n - 1).rev() {
                let a = 1.0 - (-(times[i + 1] - times[i]) / tau).exp();
                y[i] = y[i + 1] + a * (y[i] - y[i + 1]);
            }
            for (v, y) in values.iter_mut().zip(y) {
                *v = y as f32;
            }
        }
        Smoothing::MovingAverage { window_ms } => {
            let half = 0.5 * f64::from(window_ms) * time_scale;
            if half.is_nan() || half <= 0.0 {
                return;
            }
            let src: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            let (mut lo, mut hi, mut sum) = (0usize, 0usize, 0.0f64);
            for i in 0..n {
                // (1 µs slack so uniformly sampled windows stay symmetric.)
                while hi < n && times[hi] <= times[i] + half + 1e-3 {
                    sum += src[hi];
                    hi += 1;
                }
                while times[lo] < times[i] - half - 1e-3 {
                    sum -= src[lo];
                    lo += 1;
                }
                values[i] = (sum / (hi - lo) as f64) as f32;
            }
        }
    }
}

/// Indices of the samples to keep so that linear interpolation between kept
/// samples is within `tolerance` of every sample (greedy; always keeps the
/// first and last).
pub fn decimate(times: &[f64], values: &[f32], tolerance: f32) -> Vec<usize> {
    let n = times.len().min(values.len());
    if n <= 2 {
        return (0..n).collect();
    }
    let tol = f64::from(tolerance.max(0.0));
    let mut keep = vec![0];
    let mut anchor = 0;
    let fits = |a: usize, e: usize| -> bool {
        let (ta, va) = (times[a], f64::from(values[a]));
        let (te, ve) = (times[e], f64::from(values[e]));
        (a + 1..e).all(|i| {
            let u = (times[i] - ta) / (te - ta);
            (va + (ve - va) * u - f64::from(values[i])).abs() <= tol
        })
    };
    let mut e = 2;
    while e < n {
        if !fits(anchor, e) {
            anchor = e - 1;
            keep.push(anchor);
        }
        e += 1;
    }
    keep.push(n - 1);
    keep
}

/// Imports a Live Link Face CSV with the built-in tables.
pub fn import_livelink(path: &Path, options: &ImportOptions) -> Result<Clip, ImportError> {
    import_livelink_with(path, options, &Retargeter::builtin())
}

/// Imports a Live Link Face CSV with a given retargeter.
pub fn import_livelink_with(
    path: &Path,
    options: &ImportOptions,
    retargeter: &Retargeter,
) -> Result<Clip, ImportError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: origin.clone(),
        source,
    })?;
    let name = options.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("capture")
            .to_owned()
    });
    import_livelink_str(&text, &origin, &name, options, retargeter)
}

/// Imports CSV text; `origin` names it in errors.
pub fn import_livelink_str(
    text: &str,
    origin: &str,
    name: &str,
    options: &ImportOptions,
    retargeter: &Retargeter,
) -> Result<Clip, ImportError> {
    let capture = parse_livelink_csv(text, origin, options.fps)?;
    Ok(retargeter.to_clip(&capture, name, options))
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let u = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    u * u * (3.0 - 2.0 * u)
}

/// 1 between `on1` and `off0`, smooth ramps `on0..on1` and `off0..off1`.
fn pulse(t: f32, on0: f32, on1: f32, off0: f32, off1: f32) -> f32 {
    smoothstep(on0, on1, t) * (1.0 - smoothstep(off0, off1, t))
}

/// The synthetic take shipped as `assets/captures/synthetic_take.csv`: 2 s at
/// 60 fps in Live Link Face's format — neutral, a smile (mouthSmile 0.85,
/// cheekSquint 0.5, held 0.55–0.90 s), a blink (eyeBlink 1.0 at
/// 1.06–1.14 s), the jaw opening (jawOpen 0.7 at 1.45–1.65 s), neutral;
/// with a small glance (eye yaw 0.1 rad) during the smile and a slight nod.
pub fn synthetic_take_csv() -> String {
    let mut out = String::from("Timecode,BlendShapeCount");
    for c in LIVELINK_BLENDSHAPES.iter().chain(LIVELINK_ROTATIONS.iter()) {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    let fps = 60;
    for f in 0..=120u32 {
        let t = f as f32 / fps as f32;
        let mut v = [0.0f32; FRAME_VALUES];
        let mut set = |name: &str, x: f32| {
            if let Some(i) = frame_index(name) {
                v[i] = x;
            }
        };
        let smile = pulse(t, 0.25, 0.55, 0.90, 1.20);
        let blink = pulse(t, 1.00, 1.06, 1.14, 1.22);
        let jaw = pulse(t, 1.30, 1.45, 1.65, 1.85);
        let glance = pulse(t, 0.30, 0.40, 0.80, 0.90);
        for side in ["Left", "Right"] {
            set(&format!("MouthSmile{side}"), 0.85 * smile);
            set(&format!("CheekSquint{side}"), 0.5 * smile);
            set(&format!("EyeBlink{side}"), blink);
            set(&format!("MouthLowerDown{side}"), 0.15 * jaw);
            set(&format!("{side}EyeYaw"), 0.1 * glance);
        }
        set("JawOpen", 0.7 * jaw);
        set("HeadPitch", 0.03 * (std::f32::consts::PI * t).sin());
        out.push_str(&format_timecode(10 * 3600, f, fps));
        out.push_str(",61");
        for x in v {
            out.push_str(&format!(",{x:.4}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timecodes() {
        assert_eq!(parse_timecode("00:00:01:30.000", 60.0), Some(1.5));
        let t = parse_timecode("10:01:02:03.500", 60.0).unwrap();
        assert!((t - (36_062.0 + 3.5 / 60.0)).abs() < 1e-9);
        assert_eq!(parse_timecode("00:00:01:30", 60.0), Some(1.5));
        for bad in [
            "",
            "1:2:3",
            "00:61:00:00.0",
            "00:00:00:xx",
            "a:b:c:d",
            "00:00:00:00:00",
        ] {
            assert_eq!(parse_timecode(bad, 60.0), None, "{bad}");
        }
        assert_eq!(format_timecode(36_000, 61, 60), "10:00:01:01.000");
    }

    #[test]
    fn decimation_keeps_error_within_tolerance() {
        let times: Vec<f64> = (0..200).map(|i| f64::from(i) * 16.6667).collect();
        let values: Vec<f32> = times.iter().map(|t| (t / 300.0).sin() as f32).collect();
        let keep = decimate(&times, &values, 0.01);
        assert!(keep.len() < 60, "{}", keep.len());
        assert_eq!(keep[0], 0);
        assert_eq!(*keep.last().unwrap(), 199);
        for w in keep.windows(2) {
            let (a, b) = (w[0], w[1]);
            for i in a..=b {
                let u = (times[i] - times[a]) / (times[b] - times[a]);
                let lin = f64::from(values[a]) + (f64::from(values[b]) - f64::from(values[a])) * u;
                assert!((lin - f64::from(values[i])).abs() <= 0.01 + 1e-9);
            }
        }
    }

    #[test]
    fn smoothing_is_zero_phase_and_bounded() {
        let times: Vec<f64> = (0..121).map(|i| f64::from(i) * 1000.0 / 60.0).collect();
        let bump: Vec<f32> = times
            .iter()
            .map(|&t| pulse(t as f32 / 1000.0, 0.7, 1.0, 1.0, 1.3))
            .collect();
        for s in [
            Smoothing::OnePole { tau_ms: 30.0 },
            Smoothing::MovingAverage { window_ms: 100.0 },
        ] {
            let mut v = bump.clone();
            smooth(&times, &mut v, s, 1.0);
            let apex = v
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(apex, 60, "{s:?} kept the apex at 1.0 s");
            assert!(v[60] < 1.0 && v[60] > 0.5);
            assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
}
