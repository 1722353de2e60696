//! The rig description: which actuator drives which muscle, and how that muscle moves the skin.
//!
//! A rig is a RON file (see `assets/rig/default.rig.ron`). Every deformation model is defined
//! against **landmarks** (named points of the face, see [`crate::landmarks`]) plus offsets in
//! metres in head space, never against vertex indices, so one rig drives any face mesh that comes
//! with the standard landmarks.
//!
//! Head frame: metres, +Y up, +Z forward (the face looks toward +Z), +X toward the head's left.
//! Names ending in `_l` are on the +X side.
//!
//! ```ron
//! (
//!     name: "my head",
//!     actuators: [
//!         (
//!             name: "zygomaticus_major_l",
//!             channel: 12,               // protocol channel index
//!             region: Cheeks,
//!             muscle: "zygomaticus major",
//!             action_units: ["AU12"],
//!             min_norm: -0.1,
//!             max_norm: 1.0,
//!             model: Linear(
//!                 origin: (landmark: "cheekbone_l", offset: (0.012, 0.0, -0.012)),
//!                 insertion: (landmark: "mouth_corner_l", offset: (0.003, 0.0, 0.0)),
//!                 zone_deg: 22.0,
//!                 falloff_start: 1.0,
//!                 falloff_end: 1.25,
//!                 max_displacement_m: 0.010,
//!                 bulge: 0.25,
//!                 max_depth_m: 0.025,
//!             ),
//!         ),
//!     ],
//! )
//! ```
//!
//! An anchor may also blend two landmarks: `(landmark: "mouth_center", blend: (landmark:
//! "mouth_corner_l", t: 0.45), offset: (0.0, 0.006, 0.0))`. Errors name `file:line:column`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Highest channel count the wire protocol carries (mirrors `facetwin_protocol::MAX_CHANNELS`).
pub const MAX_CHANNELS: usize = 32;

/// The bundled default rig (25 actuators of the default head).
pub const DEFAULT_RIG_RON: &str = include_str!("../../../assets/rig/default.rig.ron");

/// Errors while loading or validating a rig (or building a deformer from one).
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// The file could not be read.
    #[error("{path}: cannot read rig file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// RON syntax or shape error, located as `file:line:column`.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The rig parsed but is not valid (duplicate channel, unknown landmark, bad limits, ...).
    #[error("{origin}: actuator `{actuator}`: {message}")]
    Invalid {
        origin: String,
        actuator: String,
        message: String,
    },
    /// The rig as a whole is not valid (no actuators, ...).
    #[error("{origin}: {message}")]
    InvalidRig { origin: String, message: String },
    /// The face handed to the deformer lacks a landmark that the rig uses.
    #[error("actuator `{actuator}`: landmark `{landmark}` is missing from this face's landmarks")]
    MissingLandmark { actuator: String, landmark: String },
    /// The face mesh cannot be deformed (empty, bad indices, ...).
    #[error("face mesh: {0}")]
    Mesh(String),
}

facetwin_ronfile::impl_from_ron_error!(RigError::Parse { origin });

/// A complete rig: every actuator of one head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rig {
    pub name: String,
    pub actuators: Vec<Actuator>,
}

/// One actuator (motor channel) and the muscle it plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actuator {
    /// Unique name, e.g. `zygomaticus_major_l`.
    pub name: String,
    /// Protocol channel index (position in the targets array).
    pub channel: u8,
    pub region: Region,
    /// Anatomical muscle it imitates (documentation).
    pub muscle: String,
    /// FACS action units it mainly serves, e.g. `["AU12"]` (documentation).
    #[serde(default)]
    pub action_units: Vec<String>,
    /// Lowest allowed normalised travel (0 = neutral).
    pub min_norm: f32,
    /// Highest allowed normalised travel (+1 = full contraction).
    pub max_norm: f32,
    /// How the actuator moves the skin.
    pub model: MuscleModel,
}

/// Face region an actuator belongs to (UI grouping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Region {
    Brows,
    Eyes,
    Cheeks,
    Mouth,
    Jaw,
    Neck,
}

/// Side of the mouth slot a linear muscle is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lip {
    /// Upper lip and everything above the mouth slot.
    Upper,
    /// Lower lip, chin and everything below the mouth slot.
    Lower,
}

/// Which rigid part a [`MuscleModel::Rigid`] actuator moves (the app animates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RigidPart {
    /// Both eyeballs.
    Eyes,
    /// The whole head (neck joint).
    Head,
}

/// A point defined against the face's landmarks:
/// `lerp(landmark, blend.landmark, blend.t) + offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub landmark: String,
    /// Optional blend toward a second landmark (`t` = 0 → first, 1 → second; may extrapolate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<Blend>,
    /// Offset in metres in head space, added after blending.
    #[serde(default)]
    pub offset: [f32; 3],
}

/// Second landmark of an [`Anchor`] blend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blend {
    pub landmark: String,
    pub t: f32,
}

impl Anchor {
    /// Landmark names this anchor uses.
    pub fn landmark_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.landmark.as_str())
            .chain(self.blend.iter().map(|b| b.landmark.as_str()))
    }

    /// Resolves the anchor with a landmark lookup; `Err(name)` names the first missing landmark.
    pub fn resolve<'a>(
        &'a self,
        lookup: &dyn Fn(&str) -> Option<[f32; 3]>,
    ) -> Result<[f32; 3], &'a str> {
        let a = lookup(&self.landmark).ok_or(self.landmark.as_str())?;
        let p = match &self.blend {
            None => a,
            Some(b) => {
                let q = lookup(&b.landmark).ok_or(b.landmark.as_str())?;
                [
                    a[0] + (q[0] - a[0]) * b.t,
                    a[1] + (q[1] - a[1]) * b.t,
                    a[2] + (q[2] - a[2]) * b.t,
                ]
            }
        };
        Ok([
            p[0] + self.offset[0],
            p[1] + self.offset[1],
            p[2] + self.offset[2],
        ])
    }
}

/// How an actuator deforms the skin. All displacements scale with the actuator's normalised
/// position (linear models) or its angle (rotations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // configuration, built once; boxing would not pay off
pub enum MuscleModel {
    /// Waters (1987) linear muscle: skin inside a cone from the origin (bone) around the
    /// origin→insertion axis is pulled toward the origin, along the skin surface.
    ///
    /// With `D` the distance from the origin and `L` the origin→insertion length, the radial
    /// weight rises as `sin(D / (falloff_start·L) · π/2)` up to `falloff_start·L`, then falls as
    /// `cos` to zero at `falloff_end·L`; the angular weight is `cos(angle / zone_deg · π/2)`.
    Linear {
        /// Bone attachment (fixed end).
        origin: Anchor,
        /// Skin attachment (moving end).
        insertion: Anchor,
        /// Half-angle of the cone of influence at the origin, degrees.
        zone_deg: f32,
        /// Radial falloff start, as a fraction of the origin→insertion length (≈ 1).
        falloff_start: f32,
        /// Radial falloff end (zero influence), as a fraction of the length (> `falloff_start`).
        falloff_end: f32,
        /// Displacement at full weight and +1 travel, metres.
        max_displacement_m: f32,
        /// Outward bulge of the bunching skin between origin and insertion, as a fraction of
        /// `max_displacement_m`.
        #[serde(default)]
        bulge: f32,
        /// Only skin within this distance of the insertion's tangent plane moves (keeps the
        /// back of the head and the mouth interior still), metres.
        #[serde(default)]
        max_depth_m: Option<f32>,
        /// Restricts the muscle to one side of the mouth slot (the split that the rig's
        /// [`MuscleModel::JawRotation`] defines), e.g. an upper-lip raiser never drags the lower lip.
        #[serde(default)]
        lip: Option<Lip>,
    },
    /// Sphincter (orbicularis oris / oculi): skin inside an ellipse (in the X-Y plane, seen
    /// from the front) contracts toward its centre; `pucker_m` pushes it forward (+Z).
    Sphincter {
        centre: Anchor,
        /// Ellipse semi-axes (x, y), metres.
        semi_axes_m: [f32; 2],
        /// Full weight up to this normalised elliptic radius.
        falloff_start: f32,
        /// Zero weight from this normalised elliptic radius (> `falloff_start`).
        falloff_end: f32,
        /// Inward displacement at the ellipse boundary at +1, metres.
        max_displacement_m: f32,
        /// Forward (+Z) push at full weight and +1, metres.
        #[serde(default)]
        pucker_m: f32,
        /// Skin more than this far behind the centre (−Z) is not moved, metres.
        #[serde(default)]
        max_depth_m: Option<f32>,
    },
    /// The jaw: lower face rotates about the axis through the two pivots (opening = +travel
    /// moves the chin down).
    ///
    /// The weight is 1 below the mouth slot (lower lip, chin, lower jaw) and 0 above it (upper
    /// lip and up). The slot's centre line is the parabola through `mouth` and the two corners;
    /// the transition across it is `slot_half_m` high at the middle of the lips and widens
    /// (quadratically) to `corner_band_m` at the corners, so the mouth opens as an oval and the
    /// corners stretch instead of tearing (lips that are separate in the mesh are also told
    /// apart by connectivity, from `upper_lip` and `lower_lip`). From the corners the line
    /// continues toward the pivots, ending `cheek_band_m` below them, and the transition widens
    /// to `cheek_band_m` (the cheeks stretch). The weight fades to 0 toward
    /// the back (behind `jaw_angle`, over `back_fade_m`) and below the lower border of the jaw
    /// (the line `chin`–`jaw_angle`) down to the height of `neck`.
    JawRotation {
        pivot_l: Anchor,
        pivot_r: Anchor,
        /// Opening angle at +1, degrees.
        max_angle_deg: f32,
        /// Centre of the mouth slot (between the lips).
        mouth: Anchor,
        upper_lip: Anchor,
        lower_lip: Anchor,
        corner_l: Anchor,
        corner_r: Anchor,
        /// Half-height of the weight transition at the middle of the lips, metres.
        slot_half_m: f32,
        /// Half-height of the weight transition at the mouth corners, metres.
        corner_band_m: f32,
        /// Half-height of the weight transition at the pivots (across the cheeks), metres.
        cheek_band_m: f32,
        /// Angle of the jaw (gonion) on either side (|x| is used); skin behind its Z stays still.
        jaw_angle: Anchor,
        /// Fade length forward of `jaw_angle`, metres.
        back_fade_m: f32,
        /// Lower border of the jaw (full weight down to here).
        chin: Anchor,
        /// Zero weight from this height down (the neck).
        neck: Anchor,
    },
    /// Eyelid skin: the rigid lid is rotated by the app about the eye's X axis; the skin just
    /// above it follows by `follow` (0..1). −1 travel = lid closed, rotating down by
    /// `angle_per_unit_deg`; positive travel opens it wider.
    Lid {
        /// Centre of the lid rotation (the eyeball centre).
        eye: Anchor,
        /// The lid's skin point (upper lid margin); weights are centred here.
        lid: Anchor,
        /// Ellipse semi-axes (x, y) of the influenced area around `lid`, metres.
        semi_axes_m: [f32; 2],
        falloff_start: f32,
        falloff_end: f32,
        /// Lid rotation per unit of travel, degrees.
        angle_per_unit_deg: f32,
        /// Fraction of the lid's motion that the skin above follows.
        follow: f32,
    },
    /// A rigid part the app moves (eyeballs, whole head); no skin deformation.
    Rigid {
        part: RigidPart,
        /// Rotation axis in head space (positive travel = right-hand rotation about it).
        axis: [f32; 3],
        /// Rotation at ±1 travel, degrees.
        max_angle_deg: f32,
    },
}

impl MuscleModel {
    /// Short name of the model kind (`"Linear"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            MuscleModel::Linear { .. } => "Linear",
            MuscleModel::Sphincter { .. } => "Sphincter",
            MuscleModel::JawRotation { .. } => "JawRotation",
            MuscleModel::Lid { .. } => "Lid",
            MuscleModel::Rigid { .. } => "Rigid",
        }
    }

    /// Every anchor of the model, with its field name.
    pub fn anchors(&self) -> Vec<(&'static str, &Anchor)> {
        match self {
            MuscleModel::Linear {
                origin, insertion, ..
            } => vec![("origin", origin), ("insertion", insertion)],
            MuscleModel::Sphincter { centre, .. } => vec![("centre", centre)],
            MuscleModel::JawRotation {
                pivot_l,
                pivot_r,
                mouth,
                upper_lip,
                lower_lip,
                corner_l,
                corner_r,
                jaw_angle,
                chin,
                neck,
                ..
            } => vec![
                ("pivot_l", pivot_l),
                ("pivot_r", pivot_r),
                ("mouth", mouth),
                ("upper_lip", upper_lip),
                ("lower_lip", lower_lip),
                ("corner_l", corner_l),
                ("corner_r", corner_r),
                ("jaw_angle", jaw_angle),
                ("chin", chin),
                ("neck", neck),
            ],
            MuscleModel::Lid { eye, lid, .. } => vec![("eye", eye), ("lid", lid)],
            MuscleModel::Rigid { .. } => Vec::new(),
        }
    }

    /// Checks the numeric parameters; `Err` is a human-readable reason.
    fn validate(&self) -> Result<(), String> {
        fn finite(name: &str, v: f32) -> Result<(), String> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(format!("`{name}` must be a finite number, got {v}"))
            }
        }
        fn positive(name: &str, v: f32) -> Result<(), String> {
            finite(name, v)?;
            if v > 0.0 {
                Ok(())
            } else {
                Err(format!("`{name}` must be > 0, got {v}"))
            }
        }
        fn falloff(start: f32, end: f32) -> Result<(), String> {
            positive("falloff_start", start)?;
            finite("falloff_end", end)?;
            if end > start {
                Ok(())
            } else {
                Err(format!(
                    "`falloff_end` ({end}) must be greater than `falloff_start` ({start})"
                ))
            }
        }
        for (field, anchor) in self.anchors() {
            if let Some(b) = &anchor.blend {
                finite(&format!("{field}.blend.t"), b.t)?;
            }
            for v in anchor.offset {
                finite(&format!("{field}.offset"), v)?;
            }
        }
        match self {
            MuscleModel::Linear {
                zone_deg,
                falloff_start,
                falloff_end,
                max_displacement_m,
                bulge,
                max_depth_m,
                ..
            } => {
                positive("zone_deg", *zone_deg)?;
                if *zone_deg > 180.0 {
                    return Err(format!("`zone_deg` must be at most 180, got {zone_deg}"));
                }
                falloff(*falloff_start, *falloff_end)?;
                finite("max_displacement_m", *max_displacement_m)?;
                finite("bulge", *bulge)?;
                if let Some(d) = max_depth_m {
                    positive("max_depth_m", *d)?;
                }
            }
            MuscleModel::Sphincter {
                semi_axes_m,
                falloff_start,
                falloff_end,
                max_displacement_m,
                pucker_m,
                max_depth_m,
                ..
            } => {
                positive("semi_axes_m", semi_axes_m[0])?;
                positive("semi_axes_m", semi_axes_m[1])?;
                falloff(*falloff_start, *falloff_end)?;
                finite("max_displacement_m", *max_displacement_m)?;
                finite("pucker_m", *pucker_m)?;
                if let Some(d) = max_depth_m {
                    positive("max_depth_m", *d)?;
                }
            }
            MuscleModel::JawRotation {
                max_angle_deg,
                slot_half_m,
                corner_band_m,
                cheek_band_m,
                back_fade_m,
                ..
            } => {
                finite("max_angle_deg", *max_angle_deg)?;
                positive("slot_half_m", *slot_half_m)?;
                positive("corner_band_m", *corner_band_m)?;
                positive("cheek_band_m", *cheek_band_m)?;
                positive("back_fade_m", *back_fade_m)?;
            }
            MuscleModel::Lid {
                semi_axes_m,
                falloff_start,
                falloff_end,
                angle_per_unit_deg,
                follow,
                ..
            } => {
                positive("semi_axes_m", semi_axes_m[0])?;
                positive("semi_axes_m", semi_axes_m[1])?;
                falloff(*falloff_start, *falloff_end)?;
                finite("angle_per_unit_deg", *angle_per_unit_deg)?;
                finite("follow", *follow)?;
            }
            MuscleModel::Rigid {
                axis,
                max_angle_deg,
                ..
            } => {
                finite("max_angle_deg", *max_angle_deg)?;
                for v in axis {
                    finite("axis", *v)?;
                }
                if axis.iter().map(|v| v * v).sum::<f32>() < 1e-12 {
                    return Err("`axis` must not be zero".to_owned());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Rig {
    /// Parses and validates a rig. `origin_name` (usually the file path) prefixes every error,
    /// RON errors as `origin_name:line:column: message`.
    pub fn from_ron_str(src: &str, origin_name: &str) -> Result<Rig, RigError> {
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let rig: Rig = facetwin_ronfile::from_str_with(&options, src, origin_name)?;
        rig.validate(origin_name).map_err(|e| match e {
            // Point at the offending actuator's name in the source.
            RigError::Invalid {
                origin,
                actuator,
                message,
            } => RigError::Invalid {
                origin: match facetwin_ronfile::find_quoted(src, &actuator) {
                    Some((line, col)) => format!("{origin}:{line}:{col}"),
                    None => origin,
                },
                actuator,
                message,
            },
            other => other,
        })?;
        Ok(rig)
    }

    /// Reads, parses and validates a rig file.
    pub fn load(path: &Path) -> Result<Rig, RigError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|source| RigError::Io {
            path: origin.clone(),
            source,
        })?;
        Rig::from_ron_str(&src, &origin)
    }

    /// The bundled default rig (`assets/rig/default.rig.ron`, compiled in).
    pub fn default_rig() -> Rig {
        // The bundled asset is checked by the test suite; fall back to an empty rig rather than
        // panicking should it ever be broken.
        Rig::from_ron_str(DEFAULT_RIG_RON, "assets/rig/default.rig.ron").unwrap_or_else(|_| Rig {
            name: "invalid default rig".to_owned(),
            actuators: Vec::new(),
        })
    }

    /// Serialises the rig as pretty RON (round-trips through [`Rig::from_ron_str`]).
    pub fn to_ron_string(&self) -> Result<String, RigError> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default()).map_err(|e| {
            RigError::InvalidRig {
                origin: self.name.clone(),
                message: format!("cannot serialise: {e}"),
            }
        })
    }

    /// Number of channels the rig spans (highest channel + 1).
    pub fn channel_count(&self) -> usize {
        self.actuators
            .iter()
            .map(|a| usize::from(a.channel) + 1)
            .max()
            .unwrap_or(0)
    }

    /// The actuator on `channel`, if any.
    pub fn actuator_on(&self, channel: usize) -> Option<&Actuator> {
        self.actuators
            .iter()
            .find(|a| usize::from(a.channel) == channel)
    }

    /// The actuator called `name`, if any.
    pub fn actuator(&self, name: &str) -> Option<&Actuator> {
        self.actuators.iter().find(|a| a.name == name)
    }

    /// Semantic checks: unique names and channels, channels in range, `min_norm < max_norm`,
    /// finite parameters, and only the standard landmarks
    /// ([`crate::landmarks::REQUIRED`]).
    pub fn validate(&self, origin_name: &str) -> Result<(), RigError> {
        let invalid = |a: &Actuator, message: String| RigError::Invalid {
            origin: origin_name.to_owned(),
            actuator: a.name.clone(),
            message,
        };
        if self.actuators.is_empty() {
            return Err(RigError::InvalidRig {
                origin: origin_name.to_owned(),
                message: "the rig has no actuators".to_owned(),
            });
        }
        let jaws = self
            .actuators
            .iter()
            .filter(|a| matches!(a.model, MuscleModel::JawRotation { .. }))
            .count();
        if jaws > 1 {
            return Err(RigError::InvalidRig {
                origin: origin_name.to_owned(),
                message: format!(
                    "the rig has {jaws} JawRotation actuators; at most one is allowed"
                ),
            });
        }
        let mut names = BTreeSet::new();
        let mut channels: Vec<Option<&str>> = vec![None; MAX_CHANNELS];
        for a in &self.actuators {
            if a.name.trim().is_empty() {
                return Err(invalid(a, "the name is empty".to_owned()));
            }
            if !names.insert(a.name.as_str()) {
                return Err(invalid(a, "duplicate actuator name".to_owned()));
            }
            let ch = usize::from(a.channel);
            let Some(slot) = channels.get_mut(ch) else {
                return Err(invalid(
                    a,
                    format!(
                        "channel {ch} is out of range (the protocol carries channels 0..={})",
                        MAX_CHANNELS - 1
                    ),
                ));
            };
            if let Some(other) = slot {
                return Err(invalid(
                    a,
                    format!("duplicate channel {ch} (already used by `{other}`)"),
                ));
            }
            *slot = Some(a.name.as_str());
            if !a.min_norm.is_finite() || !a.max_norm.is_finite() {
                return Err(invalid(
                    a,
                    "`min_norm`/`max_norm` must be finite".to_owned(),
                ));
            }
            if a.min_norm >= a.max_norm {
                return Err(invalid(
                    a,
                    format!(
                        "`min_norm` ({}) must be less than `max_norm` ({})",
                        a.min_norm, a.max_norm
                    ),
                ));
            }
            if a.min_norm > 0.0 || a.max_norm < 0.0 {
                return Err(invalid(
                    a,
                    format!(
                        "the travel range {}..{} must contain the neutral position 0",
                        a.min_norm, a.max_norm
                    ),
                ));
            }
            for (field, anchor) in a.model.anchors() {
                for name in anchor.landmark_names() {
                    if !crate::landmarks::REQUIRED.contains(&name) {
                        return Err(invalid(a, format!("{field}: unknown landmark `{name}`")));
                    }
                }
            }
            a.model.validate().map_err(|m| invalid(a, m))?;
            if let MuscleModel::Linear { lip: Some(_), .. } = a.model {
                let has_jaw = self
                    .actuators
                    .iter()
                    .any(|b| matches!(b.model, MuscleModel::JawRotation { .. }));
                if !has_jaw {
                    return Err(invalid(
                        a,
                        "`lip` needs a JawRotation actuator in the rig (it defines the mouth slot)"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rig_parses() {
        let rig = Rig::from_ron_str(DEFAULT_RIG_RON, "default.rig.ron");
        assert!(rig.is_ok(), "{rig:?}");
    }
}
