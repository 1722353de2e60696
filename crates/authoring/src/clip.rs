//! Clips: named sets of tracks with a duration, sampled into poses.
//!
//! A clip's pose at time `t` is `clamp(Σ AU tracks through the AU table +
//! Σ channel tracks)`, per channel, clamped to the travel limits. Tracks
//! without keys contribute nothing. Files are `*.clip.ron`:
//!
//! ```ron
//! (
//!     name: "micro_smile",
//!     duration_ms: 200,
//!     tracks: [
//!         (
//!             target: Au("AU12"),
//!             keys: [
//!                 (time_ms: 0, value: 0.0, interp: Bezier, in_handle: (dt_ms: 0.0, dvalue: 0.0), out_handle: (dt_ms: 20.0, dvalue: 0.0)),
//!                 (time_ms: 60, value: 0.4, interp: Bezier, in_handle: (dt_ms: -20.0, dvalue: 0.0), out_handle: (dt_ms: 30.0, dvalue: 0.0)),
//!             ],
//!         ),
//!     ],
//! )
//! ```
//!
//! `interp` defaults to `Linear` and the handles to zero when left out.

use crate::au::{AuId, AuTable};
use crate::error::{FileError, read_text, to_ron, write_text};
use crate::expression::Expression;
use crate::layout::ChannelLayout;
use crate::timeline::{Handle, Interpolation, Key, Track, TrackTarget};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name suffix of clip files.
pub const CLIP_SUFFIX: &str = ".clip.ron";

/// An animation clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub name: String,
    pub duration_ms: u32,
    #[serde(default)]
    pub tracks: Vec<Track>,
}

/// How one track feeds one channel: `value·weight` (channel tracks,
/// `weight = 1`) or `clamp(value, 0, 1)·weight` (AU tracks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    pub track: usize,
    pub weight: f32,
    pub au: bool,
}

impl Clip {
    /// An empty clip.
    pub fn new(name: &str, duration_ms: u32) -> Self {
        Self {
            name: name.into(),
            duration_ms,
            tracks: Vec::new(),
        }
    }

    /// The pose at `t_ms` (one position per channel of the table's head,
    /// clamped to the travel limits).
    pub fn sample(&self, table: &AuTable, t_ms: f32) -> Vec<f32> {
        let mut pose = vec![0.0; table.layout().len()];
        self.sample_into(table, t_ms, &mut pose);
        pose
    }

    /// [`Clip::sample`] into a buffer (no allocation).
    pub fn sample_into(&self, table: &AuTable, t_ms: f32, pose: &mut [f32]) {
        self.sample_unclamped_into(table, t_ms, pose);
        table.layout().clamp(pose);
    }

    /// The summed contributions before clamping to the travel limits (AU
    /// intensities are still clamped to 0..=1).
    pub fn sample_unclamped_into(&self, table: &AuTable, t_ms: f32, pose: &mut [f32]) {
        pose.fill(0.0);
        let layout = table.layout();
        for track in &self.tracks {
            let Some(v) = track.evaluate(t_ms) else {
                continue;
            };
            match &track.target {
                TrackTarget::Channel(name) => {
                    if let Some(p) = layout.index(name).and_then(|i| pose.get_mut(i)) {
                        *p += v;
                    }
                }
                TrackTarget::Au(name) => {
                    if let Some(id) = table.index(name) {
                        table.accumulate(id, v, pose);
                    }
                }
            }
        }
    }

    /// The tracks that move `channel`, with their weights.
    pub fn contributions(&self, table: &AuTable, channel: usize) -> Vec<Contribution> {
        let layout = table.layout();
        self.tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.keys.is_empty())
            .filter_map(|(track, t)| match &t.target {
                TrackTarget::Channel(n) => {
                    (layout.index(n) == Some(channel)).then_some(Contribution {
                        track,
                        weight: 1.0,
                        au: false,
                    })
                }
                TrackTarget::Au(n) => {
                    let unit = table.index(n).and_then(|id: AuId| table.unit(id))?;
                    let w: f32 = unit
                        .weights
                        .iter()
                        .filter(|(i, _)| *i == channel)
                        .map(|(_, w)| w)
                        .sum();
                    (w != 0.0).then_some(Contribution {
                        track,
                        weight: w,
                        au: true,
                    })
                }
            })
            .collect()
    }

    /// One channel's unclamped value at `t_ms` from precomputed contributions.
    pub fn sample_contributions(&self, contributions: &[Contribution], t_ms: f32) -> f32 {
        contributions
            .iter()
            .map(|c| {
                let v = self.tracks[c.track].evaluate(t_ms).unwrap_or(0.0);
                let v = if c.au {
                    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
                } else {
                    v
                };
                v * c.weight
            })
            .sum()
    }

    /// Index of the track driving `target`.
    pub fn track_index(&self, target: &TrackTarget) -> Option<usize> {
        self.tracks.iter().position(|t| &t.target == target)
    }

    /// Time of the last key of any track.
    pub fn last_key_ms(&self) -> u32 {
        self.tracks.iter().map(Track::end_ms).max().unwrap_or(0)
    }

    /// A micro-expression template on channel tracks: from neutral to `pose`
    /// over `onset_ms`, held for `apex_ms`, back to neutral over `offset_ms`
    /// (eased Bezier keys with handles a third of each segment long). Only
    /// channels away from neutral get a track. Typical totals: 40–500 ms.
    pub fn micro_expression(
        name: &str,
        pose: &[f32],
        onset_ms: u32,
        apex_ms: u32,
        offset_ms: u32,
    ) -> Self {
        let layout = ChannelLayout::default_head();
        let targets = layout
            .names()
            .iter()
            .zip(pose)
            .filter(|(_, v)| v.abs() > 1e-6)
            .map(|(n, v)| (TrackTarget::Channel(n.clone()), *v));
        Self::envelope(name, targets, onset_ms, apex_ms, offset_ms)
    }

    /// A micro-expression template from an expression, kept editable in AU
    /// space: one AU track per AU and one channel track per direct channel
    /// value, all following the same onset / apex / offset envelope.
    pub fn micro_expression_from(
        name: &str,
        expression: &Expression,
        onset_ms: u32,
        apex_ms: u32,
        offset_ms: u32,
    ) -> Self {
        let targets = expression
            .aus
            .iter()
            .map(|(n, s)| (TrackTarget::Au(n.clone()), *s))
            .chain(
                expression
                    .channels
                    .iter()
                    .map(|(n, v)| (TrackTarget::Channel(n.clone()), *v)),
            )
            .filter(|(_, v)| v.abs() > 1e-6);
        Self::envelope(name, targets, onset_ms, apex_ms, offset_ms)
    }

    fn envelope(
        name: &str,
        targets: impl Iterator<Item = (TrackTarget, f32)>,
        onset_ms: u32,
        apex_ms: u32,
        offset_ms: u32,
    ) -> Self {
        let t1 = onset_ms;
        let t2 = onset_ms.saturating_add(apex_ms);
        let t3 = t2.saturating_add(offset_ms);
        let third = |ms: u32| ms as f32 / 3.0;
        let mut clip = Self::new(name, t3);
        for (target, v) in targets {
            let mut keys = vec![Key::bezier(
                0,
                0.0,
                Handle::default(),
                Handle::new(third(onset_ms), 0.0),
            )];
            let apex_out = if apex_ms > 0 { apex_ms } else { offset_ms };
            if t1 > 0 {
                keys.push(Key::bezier(
                    t1,
                    v,
                    Handle::new(-third(onset_ms), 0.0),
                    Handle::new(third(apex_out), 0.0),
                ));
            } else {
                keys[0].value = v;
                keys[0].out_handle = Handle::new(third(apex_out), 0.0);
            }
            if apex_ms > 0 {
                keys.push(Key::bezier(
                    t2,
                    v,
                    Handle::new(-third(apex_ms), 0.0),
                    Handle::new(third(offset_ms), 0.0),
                ));
            }
            if offset_ms > 0 {
                keys.push(Key::bezier(
                    t3,
                    0.0,
                    Handle::new(-third(offset_ms), 0.0),
                    Handle::default(),
                ));
            }
            clip.tracks.push(Track { target, keys });
        }
        clip
    }

    /// Checks the clip's structure: channel names exist on the default head,
    /// values and handles are finite, key times strictly increase per track.
    /// (AU names need a table: [`Clip::check_aus`].)
    pub fn validate(&self) -> Result<(), String> {
        let layout = ChannelLayout::default_head();
        for (i, t) in self.tracks.iter().enumerate() {
            if let TrackTarget::Channel(n) = &t.target
                && layout.index(n).is_none()
            {
                return Err(format!("track {i}: unknown channel \"{n}\""));
            }
            for (k, key) in t.keys.iter().enumerate() {
                let finite = key.value.is_finite()
                    && key.in_handle.dt_ms.is_finite()
                    && key.in_handle.dvalue.is_finite()
                    && key.out_handle.dt_ms.is_finite()
                    && key.out_handle.dvalue.is_finite();
                if !finite {
                    return Err(format!(
                        "track {i} ({}), key {k} at {} ms: value or handle is not finite",
                        t.target.name(),
                        key.time_ms
                    ));
                }
                if k > 0 && t.keys[k - 1].time_ms >= key.time_ms {
                    return Err(format!(
                        "track {i} ({}), key {k}: time {} ms does not come after {} ms",
                        t.target.name(),
                        key.time_ms,
                        t.keys[k - 1].time_ms
                    ));
                }
            }
        }
        Ok(())
    }

    /// The first AU track name that the table does not know.
    pub fn check_aus(&self, table: &AuTable) -> Result<(), String> {
        for t in &self.tracks {
            if let TrackTarget::Au(n) = &t.target
                && table.index(n).is_none()
            {
                return Err(n.clone());
            }
        }
        Ok(())
    }

    /// Parses a clip; `origin` names the file in errors.
    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self, FileError> {
        let clip: Self = facetwin_ronfile::from_str(text, origin)?;
        let layout = ChannelLayout::default_head();
        for t in &clip.tracks {
            if let TrackTarget::Channel(n) = &t.target
                && layout.index(n).is_none()
            {
                return Err(FileError::unknown_channel(origin, text, n));
            }
        }
        clip.validate().map_err(|message| {
            // Point at the track's target name.
            let token = clip
                .tracks
                .iter()
                .map(|t| t.target.name())
                .find(|n| message.contains(&format!("({n})")))
                .unwrap_or("");
            FileError::invalid(origin, text, token, message)
        })?;
        Ok(clip)
    }

    /// Checks AU names against a table too.
    pub fn from_ron_str_checked(
        text: &str,
        origin: &str,
        table: &AuTable,
    ) -> Result<Self, FileError> {
        let clip = Self::from_ron_str(text, origin)?;
        clip.check_aus(table)
            .map_err(|n| FileError::unknown_au(origin, text, &n))?;
        Ok(clip)
    }

    /// The clip as RON text (one key per line).
    pub fn to_ron_string(&self) -> Result<String, FileError> {
        to_ron(self, 4, &self.name)
    }

    /// Loads a clip file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        Self::from_ron_str(&read_text(path)?, &path.display().to_string())
    }

    /// Writes the clip as RON.
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        write_text(path, &self.to_ron_string()?)
    }

    /// `<name>.clip.ron`.
    pub fn file_name(&self) -> String {
        format!("{}{CLIP_SUFFIX}", self.name)
    }

    /// Sets every key of every track to `interp`.
    pub fn set_all_interpolation(&mut self, interp: Interpolation) {
        for t in &mut self.tracks {
            for k in &mut t.keys {
                k.interp = interp;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sample_adds_au_and_channel_tracks_then_clamps() {
        let table = AuTable::builtin();
        let layout = table.layout();
        let zl = layout.index("zygomaticus_major_l").unwrap();
        let mut clip = Clip::new("t", 100);
        clip.tracks.push(Track {
            target: TrackTarget::Au("AU12".into()),
            keys: vec![Key::new(0, 0.0), Key::new(100, 1.0)],
        });
        clip.tracks.push(Track {
            target: TrackTarget::Channel("zygomaticus_major_l".into()),
            keys: vec![Key::new(0, 0.3)],
        });
        let p = clip.sample(&table, 50.0);
        assert!((p[zl] - 0.8).abs() < 1e-6);
        let p = clip.sample(&table, 100.0);
        assert_eq!(p[zl], 1.0, "1.3 clamped to the limit");
        let c = clip.contributions(&table, zl);
        assert_eq!(c.len(), 2);
        assert!((clip.sample_contributions(&c, 100.0) - 1.3).abs() < 1e-6);
    }

    #[test]
    fn micro_expression_envelope() {
        let table = AuTable::builtin();
        let pose = table.pose(&[("AU12", 0.8)]);
        let clip = Clip::micro_expression("m", &pose, 40, 0, 40);
        assert_eq!(clip.duration_ms, 80);
        assert_eq!(clip.tracks.len(), 2);
        let zl = table.layout().index("zygomaticus_major_l").unwrap();
        let at = |t: f32| clip.sample(&table, t)[zl];
        assert_eq!(at(0.0), 0.0);
        assert!((at(40.0) - 0.8).abs() < 1e-6);
        assert_eq!(at(80.0), 0.0);
        assert!(at(20.0) > 0.3 && at(20.0) < 0.5);
        let held = Clip::micro_expression("h", &pose, 30, 100, 50);
        assert!((held.sample(&table, 80.0)[zl] - 0.8).abs() < 1e-6);
        assert_eq!(held.duration_ms, 180);
    }
}
