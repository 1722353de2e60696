//! Named anatomical landmarks of a face, in head space (metres, +Y up, +Z forward, +X = the
//! head's left). The rig anchors every actuator on these, so any face that carries the
//! [`REQUIRED`] set can be rigged.
//!
//! Most landmarks lie on the skin surface. The exceptions ([`INTERIOR`]) are the eyeball centres
//! (`eye_*`), the temporomandibular joints (`jaw_pivot_*`), the base of the neck (`neck_base`)
//! and `mouth_center`, which is the centre of the opening of the mouth slot (in the air gap
//! between the lips).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::face::FaceError;

/// Every landmark a face must carry to be riggable. `_l` = the head's left (+X).
pub const REQUIRED: &[&str] = &[
    "eye_l",
    "eye_r",
    "brow_inner_l",
    "brow_inner_r",
    "brow_mid_l",
    "brow_mid_r",
    "brow_outer_l",
    "brow_outer_r",
    "upper_lid_l",
    "upper_lid_r",
    "lower_lid_l",
    "lower_lid_r",
    "nose_bridge",
    "nose_tip",
    "nostril_l",
    "nostril_r",
    "cheekbone_l",
    "cheekbone_r",
    "cheek_l",
    "cheek_r",
    "mouth_corner_l",
    "mouth_corner_r",
    "upper_lip",
    "lower_lip",
    "mouth_center",
    "chin",
    "jaw_pivot_l",
    "jaw_pivot_r",
    "jaw_angle_l",
    "jaw_angle_r",
    "forehead",
    "temple_l",
    "temple_r",
    "neck_base",
];

/// Landmarks of [`REQUIRED`] that are *not* on the skin surface.
pub const INTERIOR: &[&str] = &[
    "eye_l",
    "eye_r",
    "jaw_pivot_l",
    "jaw_pivot_r",
    "neck_base",
    "mouth_center",
];

/// Typical adult eyeball radius, used when a face file does not say.
pub const DEFAULT_EYE_RADIUS_M: f32 = 0.012;

/// Prefix of the glTF node names that carry landmarks (`landmark.<name>`).
pub const NODE_PREFIX: &str = "landmark.";

/// Whether the named landmark is supposed to lie on the skin surface.
pub fn is_surface(name: &str) -> bool {
    !INTERIOR.contains(&name)
}

/// Named points of a face (head space, metres) plus the radius of its eyeballs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Landmarks {
    pub points: BTreeMap<String, [f32; 3]>,
    /// Radius of the (separate, rigid) eyeballs centred at `eye_l` / `eye_r`.
    pub eye_radius_m: f32,
}

impl Default for Landmarks {
    fn default() -> Self {
        Self {
            points: BTreeMap::new(),
            eye_radius_m: DEFAULT_EYE_RADIUS_M,
        }
    }
}

impl Landmarks {
    /// An empty set with the given eye radius.
    pub fn new(eye_radius_m: f32) -> Self {
        Self {
            points: BTreeMap::new(),
            eye_radius_m,
        }
    }

    /// The named point, if present.
    pub fn get(&self, name: &str) -> Option<[f32; 3]> {
        self.points.get(name).copied()
    }

    /// The named point, or [`FaceError::MissingLandmark`].
    pub fn require(&self, name: &str) -> Result<[f32; 3], FaceError> {
        self.get(name).ok_or_else(|| FaceError::MissingLandmark {
            name: name.to_owned(),
        })
    }

    /// Sets (or replaces) a point.
    pub fn insert(&mut self, name: impl Into<String>, point: [f32; 3]) {
        self.points.insert(name.into(), point);
    }

    /// The [`REQUIRED`] names that are absent, in [`REQUIRED`] order.
    pub fn missing(&self) -> Vec<&'static str> {
        REQUIRED
            .iter()
            .copied()
            .filter(|n| !self.points.contains_key(*n))
            .collect()
    }

    /// True when every [`REQUIRED`] landmark is present.
    pub fn is_complete(&self) -> bool {
        self.missing().is_empty()
    }

    /// `Ok` when every [`REQUIRED`] landmark is present and every point and the eye radius are
    /// finite (the radius also positive); otherwise the first problem found.
    pub fn validate(&self) -> Result<(), FaceError> {
        if let Some(name) = self.missing().first() {
            return Err(FaceError::MissingLandmark {
                name: (*name).to_owned(),
            });
        }
        for (name, p) in &self.points {
            if !p.iter().all(|c| c.is_finite()) {
                return Err(FaceError::InvalidLandmark {
                    name: name.clone(),
                    reason: "non-finite coordinates".to_owned(),
                });
            }
        }
        if !(self.eye_radius_m.is_finite() && self.eye_radius_m > 0.0) {
            return Err(FaceError::InvalidLandmark {
                name: "eye_radius_m".to_owned(),
                reason: format!("{} is not a positive length", self.eye_radius_m),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_names_are_unique_and_interior_is_a_subset() {
        let mut names: Vec<_> = REQUIRED.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REQUIRED.len());
        for n in INTERIOR {
            assert!(REQUIRED.contains(n), "{n}");
        }
        assert!(is_surface("nose_tip"));
        assert!(!is_surface("eye_l"));
    }

    #[test]
    fn require_reports_the_missing_name() {
        let mut lm = Landmarks::default();
        lm.insert("nose_tip", [0.0, -0.04, 0.11]);
        assert_eq!(lm.get("nose_tip"), Some([0.0, -0.04, 0.11]));
        assert!(lm.require("nose_tip").is_ok());
        let err = lm.require("chin").expect_err("chin is missing");
        assert!(err.to_string().contains("chin"), "{err}");
        assert!(!lm.is_complete());
        assert!(lm.validate().is_err());
    }
}
