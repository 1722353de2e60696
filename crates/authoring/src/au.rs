//! FACS action units mapped to actuator positions by an editable table.
//!
//! The table (`assets/au/default.au.ron`) lists, for each action unit, the
//! channels it moves and the channel's normalised position at AU intensity
//! 1.0 (FACS intensity E). A pose for a set of `(AU, intensity)` pairs is the
//! **sum** of `intensity × weight` over all AUs, per channel, then clamped to
//! the channel's travel limits (from [`facetwin_head::HeadConfig`]).
//! Intensities are clamped to `0..=1`.
//!
//! ## Left / right variants
//!
//! An AU marked `lateral: true` (e.g. `AU12`) also defines `AU12L` and
//! `AU12R`: the left variant keeps the `*_l` channels at full weight, drops
//! the `*_r` channels and keeps midline channels (jaw, mentalis, ...) at
//! half weight, so `AU12L + AU12R = AU12` exactly (an AU on midline channels
//! only, like AU16 on depressor_labii, gets two half-strength variants). The
//! bilateral name keeps driving both sides. The derived names cannot be redefined in the table.
//!
//! ## File format
//!
//! ```ron
//! (
//!     aus: [
//!         (
//!             name: "AU12",
//!             description: "Lip corner puller (zygomaticus major)",
//!             lateral: true,
//!             channels: [("zygomaticus_major_l", 1.0), ("zygomaticus_major_r", 1.0)],
//!         ),
//!     ],
//! )
//! ```

use crate::error::{FileError, read_text, to_ron, write_text};
use crate::layout::ChannelLayout;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The built-in table, `assets/au/default.au.ron`.
pub const DEFAULT_AU_TABLE_RON: &str = include_str!("../../../assets/au/default.au.ron");

/// One action unit as written in the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuDef {
    /// FACS name, e.g. "AU12".
    pub name: String,
    /// What it does (FACS name, muscle).
    #[serde(default)]
    pub description: String,
    /// Defines `<name>L` and `<name>R` variants too.
    #[serde(default)]
    pub lateral: bool,
    /// (channel name, channel position at intensity 1.0).
    pub channels: Vec<(String, f32)>,
}

/// Which side a resolved unit drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Both,
    Left,
    Right,
}

/// A resolved action unit: a table entry or one of its L/R variants.
#[derive(Debug, Clone, PartialEq)]
pub struct AuUnit {
    /// "AU12", "AU12L", "AU12R".
    pub name: String,
    /// Index of the table entry it comes from.
    pub def: usize,
    pub side: Side,
    /// (channel index, position at intensity 1.0).
    pub weights: Vec<(usize, f32)>,
}

/// Index of a resolved action unit in an [`AuTable`].
pub type AuId = usize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AuTableFile {
    aus: Vec<AuDef>,
}

/// The action-unit table, resolved against a head's channels.
#[derive(Debug, Clone, PartialEq)]
pub struct AuTable {
    defs: Vec<AuDef>,
    layout: ChannelLayout,
    units: Vec<AuUnit>,
    by_name: HashMap<String, AuId>,
}

/// What is wrong with a table (before it is located in a file).
enum Problem {
    UnknownChannel(String),
    Invalid { token: String, message: String },
}

/// An AU name that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action unit \"{0}\"")]
pub struct UnknownAu(pub String);

impl AuTable {
    /// Resolves table entries against a layout. Errors name the AU or channel
    /// (with `<table>:0:0` as location: use [`AuTable::from_ron_str`] for files).
    pub fn new(defs: Vec<AuDef>, layout: ChannelLayout) -> Result<Self, FileError> {
        Self::build(defs, layout).map_err(|p| match p {
            Problem::UnknownChannel(name) => FileError::UnknownChannel {
                path: "<table>".into(),
                line: 0,
                column: 0,
                name,
            },
            Problem::Invalid { message, .. } => FileError::Invalid {
                path: "<table>".into(),
                line: 0,
                column: 0,
                message,
            },
        })
    }

    fn build(defs: Vec<AuDef>, layout: ChannelLayout) -> Result<Self, Problem> {
        let mut units = Vec::new();
        for (d, def) in defs.iter().enumerate() {
            if def.name.is_empty() {
                return Err(Problem::Invalid {
                    token: String::new(),
                    message: format!("action unit #{d} has an empty name"),
                });
            }
            let mut weights = Vec::with_capacity(def.channels.len());
            for (ch, w) in &def.channels {
                let i = layout
                    .index(ch)
                    .ok_or_else(|| Problem::UnknownChannel(ch.clone()))?;
                if !w.is_finite() {
                    return Err(Problem::Invalid {
                        token: def.name.clone(),
                        message: format!("{}: weight of {ch} is not finite", def.name),
                    });
                }
                if weights.iter().any(|&(j, _)| j == i) {
                    return Err(Problem::Invalid {
                        token: def.name.clone(),
                        message: format!("{}: channel {ch} listed twice", def.name),
                    });
                }
                weights.push((i, *w));
            }
            units.push(AuUnit {
                name: def.name.clone(),
                def: d,
                side: Side::Both,
                weights: weights.clone(),
            });
            if def.lateral {
                if weights.is_empty() {
                    return Err(Problem::Invalid {
                        token: def.name.clone(),
                        message: format!("{} is lateral but moves no channel", def.name),
                    });
                }
                for (side, suffix) in [(Side::Left, "L"), (Side::Right, "R")] {
                    let sided = weights
                        .iter()
                        .filter_map(|&(i, w)| {
                            let keep = match side {
                                Side::Left => !layout.is_right(i),
                                _ => !layout.is_left(i),
                            };
                            let midline = !layout.is_left(i) && !layout.is_right(i);
                            keep.then_some((i, if midline { 0.5 * w } else { w }))
                        })
                        .collect();
                    units.push(AuUnit {
                        name: format!("{}{suffix}", def.name),
                        def: d,
                        side,
                        weights: sided,
                    });
                }
            }
        }
        let mut by_name = HashMap::with_capacity(units.len());
        for (id, u) in units.iter().enumerate() {
            if by_name.insert(u.name.clone(), id).is_some() {
                return Err(Problem::Invalid {
                    token: u.name.clone(),
                    message: format!("action unit {} defined twice", u.name),
                });
            }
        }
        Ok(Self {
            defs,
            layout,
            units,
            by_name,
        })
    }

    /// Parses a table for the default head; `origin` names the file in errors.
    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self, FileError> {
        Self::from_ron_str_with_layout(text, origin, ChannelLayout::default_head().clone())
    }

    /// Parses a table for another head's channels.
    pub fn from_ron_str_with_layout(
        text: &str,
        origin: &str,
        layout: ChannelLayout,
    ) -> Result<Self, FileError> {
        let file: AuTableFile = facetwin_ronfile::from_str(text, origin)?;
        Self::build(file.aus, layout).map_err(|p| match p {
            Problem::UnknownChannel(name) => FileError::unknown_channel(origin, text, &name),
            Problem::Invalid { token, message } => {
                FileError::invalid(origin, text, &token, message)
            }
        })
    }

    /// Loads a table file for the default head.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        Self::from_ron_str(&read_text(path)?, &path.display().to_string())
    }

    /// The built-in table ([`DEFAULT_AU_TABLE_RON`]) for the default head.
    pub fn builtin() -> Self {
        static TABLE: std::sync::OnceLock<AuTable> = std::sync::OnceLock::new();
        TABLE
            .get_or_init(|| {
                Self::from_ron_str(DEFAULT_AU_TABLE_RON, "assets/au/default.au.ron")
                    .expect("the built-in AU table parses (tested)")
            })
            .clone()
    }

    /// The table as RON text (comments of the source file are not kept).
    pub fn to_ron_string(&self) -> Result<String, FileError> {
        to_ron(
            &AuTableFile {
                aus: self.defs.clone(),
            },
            4,
            "<au table>",
        )
    }

    /// Writes the table as RON.
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        write_text(path, &self.to_ron_string()?)
    }

    /// The table entries as written.
    pub fn defs(&self) -> &[AuDef] {
        &self.defs
    }

    /// The head's channels.
    pub fn layout(&self) -> &ChannelLayout {
        &self.layout
    }

    /// All resolved units: every entry and its L/R variants.
    pub fn units(&self) -> &[AuUnit] {
        &self.units
    }

    /// A resolved unit.
    pub fn unit(&self, id: AuId) -> Option<&AuUnit> {
        self.units.get(id)
    }

    /// Resolves an AU name ("AU12", "AU12L", ...).
    pub fn index(&self, name: &str) -> Option<AuId> {
        self.by_name.get(name).copied()
    }

    /// The independent units: the L and R variants of lateral AUs and the
    /// bilateral-only AUs (the bilateral name of a lateral AU is their sum).
    pub fn basis(&self) -> impl Iterator<Item = (AuId, &AuUnit)> {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.side != Side::Both || !self.defs[u.def].lateral)
    }

    /// Adds `intensity` (clamped to 0..=1) of unit `id` to an unclamped pose.
    pub fn accumulate(&self, id: AuId, intensity: f32, pose: &mut [f32]) {
        let Some(unit) = self.units.get(id) else {
            return;
        };
        let s = if intensity.is_nan() {
            0.0
        } else {
            intensity.clamp(0.0, 1.0)
        };
        if s == 0.0 {
            return;
        }
        for &(i, w) in &unit.weights {
            if let Some(p) = pose.get_mut(i) {
                *p += s * w;
            }
        }
    }

    /// The pose (one position per channel, clamped to the travel limits) for
    /// a set of AU intensities. Unknown AU names are ignored
    /// ([`AuTable::try_pose`] reports them).
    pub fn pose<S: AsRef<str>>(&self, aus: &[(S, f32)]) -> Vec<f32> {
        let mut pose = vec![0.0; self.layout.len()];
        for (name, s) in aus {
            if let Some(id) = self.index(name.as_ref()) {
                self.accumulate(id, *s, &mut pose);
            }
        }
        self.layout.clamp(&mut pose);
        pose
    }

    /// Like [`AuTable::pose`] but fails on the first unknown AU name.
    pub fn try_pose<S: AsRef<str>>(&self, aus: &[(S, f32)]) -> Result<Vec<f32>, UnknownAu> {
        if let Some((name, _)) = aus.iter().find(|(n, _)| self.index(n.as_ref()).is_none()) {
            return Err(UnknownAu(name.as_ref().to_owned()));
        }
        Ok(self.pose(aus))
    }

    /// The mirror name of an AU ("AU12L" ↔ "AU12R"; others unchanged).
    pub fn mirror_name<'a>(&'a self, name: &'a str) -> &'a str {
        let Some(unit) = self.index(name).and_then(|id| self.unit(id)) else {
            return name;
        };
        let want = match unit.side {
            Side::Both => return name,
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        };
        self.units
            .iter()
            .find(|u| u.def == unit.def && u.side == want)
            .map_or(name, |u| u.name.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn idx(name: &str) -> usize {
        ChannelLayout::default_head().index(name).unwrap()
    }

    #[test]
    fn builtin_table_has_the_required_aus() {
        let t = AuTable::builtin();
        for au in [
            "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15",
            "AU16", "AU17", "AU18", "AU20", "AU23", "AU25", "AU26", "AU45", "AU12L", "AU12R",
            "AU45L", "AU45R", "AU1L", "AU2R", "AU4L", "AU6R",
        ] {
            assert!(t.index(au).is_some(), "{au} missing");
        }
    }

    #[test]
    fn lateral_variants_sum_to_the_bilateral_unit() {
        let t = AuTable::builtin();
        for def in t.defs().iter().filter(|d| d.lateral) {
            let both = t.pose(&[(def.name.as_str(), 0.5)]);
            let l = format!("{}L", def.name);
            let r = format!("{}R", def.name);
            let sum = t.pose(&[(l.as_str(), 0.5), (r.as_str(), 0.5)]);
            for (a, b) in both.iter().zip(&sum) {
                assert!((a - b).abs() < 1e-6, "{}: {both:?} vs {sum:?}", def.name);
            }
        }
        let p = t.pose(&[("AU12L", 1.0)]);
        assert!(p[idx("zygomaticus_major_l")] > 0.9);
        assert_eq!(p[idx("zygomaticus_major_r")], 0.0);
        assert_eq!(t.mirror_name("AU12L"), "AU12R");
        assert_eq!(t.mirror_name("AU26"), "AU26");
    }

    #[test]
    fn pose_sums_then_clamps() {
        let t = AuTable::builtin();
        // AU9 and AU10 both pull levator labii; together they exceed 1.0.
        let p = t.pose(&[("AU9", 1.0), ("AU10", 1.0)]);
        assert_eq!(p[idx("levator_labii_l")], 1.0);
        // Blink closes the lids fully; AU5 would open them: the sum is clamped.
        let p = t.pose(&[("AU45", 1.0)]);
        assert_eq!(p[idx("levator_palpebrae_l")], -1.0);
        let p = t.pose(&[("AU5", 1.0)]);
        assert!((p[idx("levator_palpebrae_r")] - 0.3).abs() < 1e-6);
        // Intensity is clamped to 0..=1; unknown names are ignored.
        assert_eq!(t.pose(&[("AU12", 3.0)]), t.pose(&[("AU12", 1.0)]));
        assert_eq!(t.pose(&[("AU99", 1.0)]), vec![0.0; 25]);
        assert_eq!(
            t.try_pose(&[("AU99", 1.0)]),
            Err(UnknownAu("AU99".to_string()))
        );
    }

    #[test]
    fn errors_name_file_line_column_and_channel() {
        let text = "(\n    aus: [\n        (name: \"AU1\", channels: [(\"frontalis_inner_q\", 1.0)]),\n    ],\n)";
        let e = AuTable::from_ron_str(text, "bad.au.ron").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("bad.au.ron:3:") && msg.contains("frontalis_inner_q"),
            "{msg}"
        );
        let e = AuTable::from_ron_str("(\n  aus: [\n    (name: 12)\n  ]\n)", "syntax.au.ron")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("syntax.au.ron:3:"), "{msg}");
        let dup = "(aus: [(name: \"AU1\", lateral: true, channels: [(\"frontalis_inner_l\", 1.0)]), (name: \"AU1L\", channels: [])])";
        let msg = AuTable::from_ron_str(dup, "dup.au.ron")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("AU1L defined twice"), "{msg}");
    }

    #[test]
    fn ron_round_trip() {
        let t = AuTable::builtin();
        let text = t.to_ron_string().unwrap();
        let back = AuTable::from_ron_str(&text, "round.au.ron").unwrap();
        assert_eq!(back, t);
    }
}
