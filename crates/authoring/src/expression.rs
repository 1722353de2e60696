//! Expressions: named sets of AU intensities and/or direct channel positions.
//!
//! An expression's pose is `clamp(Σ AU contributions + Σ direct channel
//! values)`: direct values add to what the AUs do (for a channel no AU
//! touches, the direct value is simply its position). Files are
//! `assets/expressions/<name>.expr.ron`:
//!
//! ```ron
//! (
//!     name: "duchenne_smile",
//!     description: "Felt smile: cheek raiser + lip corner puller",
//!     aus: [("AU6", 0.8), ("AU12", 0.9)],
//!     channels: [],
//! )
//! ```

use crate::au::{AuTable, UnknownAu};
use crate::error::{FileError, read_text, to_ron, write_text};
use crate::layout::ChannelLayout;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name suffix of expression files.
pub const EXPRESSION_SUFFIX: &str = ".expr.ron";

/// A named facial expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expression {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// (AU name, intensity 0..=1).
    #[serde(default)]
    pub aus: Vec<(String, f32)>,
    /// (channel name, normalised position), added to the AU pose.
    #[serde(default)]
    pub channels: Vec<(String, f32)>,
}

impl Expression {
    /// An empty (neutral) expression.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            aus: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// The expression's pose on the table's head (clamped to the travel
    /// limits). Unknown AU or channel names are ignored
    /// ([`Expression::try_pose`] reports them).
    pub fn pose(&self, table: &AuTable) -> Vec<f32> {
        let layout = table.layout();
        let mut pose = vec![0.0; layout.len()];
        for (name, s) in &self.aus {
            if let Some(id) = table.index(name) {
                table.accumulate(id, *s, &mut pose);
            }
        }
        for (name, v) in &self.channels {
            if let Some(i) = layout.index(name) {
                pose[i] += v;
            }
        }
        layout.clamp(&mut pose);
        pose
    }

    /// Like [`Expression::pose`] but fails on unknown AU or channel names.
    pub fn try_pose(&self, table: &AuTable) -> Result<Vec<f32>, UnknownAu> {
        self.check(table)?;
        Ok(self.pose(table))
    }

    /// Checks that every AU and channel name exists (a channel name error is
    /// reported as `UnknownAu("channel <name>")`).
    pub fn check(&self, table: &AuTable) -> Result<(), UnknownAu> {
        if let Some((n, _)) = self.aus.iter().find(|(n, _)| table.index(n).is_none()) {
            return Err(UnknownAu(n.clone()));
        }
        if let Some((n, _)) = self
            .channels
            .iter()
            .find(|(n, _)| table.layout().index(n).is_none())
        {
            return Err(UnknownAu(format!("channel {n}")));
        }
        Ok(())
    }

    /// An expression holding a pose as direct channel positions (default
    /// head's channel order; channels within 1e-6 of neutral are left out).
    pub fn from_pose(name: &str, pose: &[f32]) -> Self {
        Self::from_pose_with_layout(name, pose, ChannelLayout::default_head())
    }

    /// [`Expression::from_pose`] for another head's channels.
    pub fn from_pose_with_layout(name: &str, pose: &[f32], layout: &ChannelLayout) -> Self {
        let mut e = Self::new(name);
        e.channels = layout
            .names()
            .iter()
            .zip(pose)
            .filter(|(_, v)| v.abs() > 1e-6)
            .map(|(n, v)| (n.clone(), *v))
            .collect();
        e
    }

    /// The left/right mirror image: AU L/R variants and `_l`/`_r` channels
    /// swapped, yaw channels negated.
    pub fn mirrored(&self, name: &str, table: &AuTable) -> Self {
        let layout = table.layout();
        Self {
            name: name.into(),
            description: format!("mirror of {}", self.name),
            aus: self
                .aus
                .iter()
                .map(|(n, s)| (table.mirror_name(n).to_owned(), *s))
                .collect(),
            channels: self
                .channels
                .iter()
                .map(|(n, v)| {
                    let negate = layout.index(n).is_some_and(|i| layout.negated_on_mirror(i));
                    (
                        layout.mirror_name(n).to_owned(),
                        if negate { -v } else { *v },
                    )
                })
                .collect(),
        }
    }

    /// Parses an expression; channel names are checked against the default
    /// head (AU names need a table: [`Expression::check`]).
    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self, FileError> {
        let e: Self = facetwin_ronfile::from_str(text, origin)?;
        let layout = ChannelLayout::default_head();
        for (n, v) in &e.channels {
            if layout.index(n).is_none() {
                return Err(FileError::unknown_channel(origin, text, n));
            }
            if !v.is_finite() {
                return Err(FileError::invalid(
                    origin,
                    text,
                    n,
                    format!("channel {n}: value is not finite"),
                ));
            }
        }
        if let Some((n, _)) = e.aus.iter().find(|(_, s)| !s.is_finite()) {
            return Err(FileError::invalid(
                origin,
                text,
                n,
                format!("{n}: intensity is not finite"),
            ));
        }
        Ok(e)
    }

    /// The expression as RON text.
    pub fn to_ron_string(&self) -> Result<String, FileError> {
        to_ron(self, 2, &self.name)
    }

    /// Loads an expression file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        Self::from_ron_str(&read_text(path)?, &path.display().to_string())
    }

    /// Writes the expression as RON.
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        write_text(path, &self.to_ron_string()?)
    }

    /// `<name>.expr.ron`.
    pub fn file_name(&self) -> String {
        format!("{}{EXPRESSION_SUFFIX}", self.name)
    }
}

/// Linear blend of two poses: `a + (b − a)·t` (t is not clamped, so t > 1
/// exaggerates; the result is not clamped either). The shorter pose's
/// missing entries count as neutral.
pub fn blend(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0.0);
            let y = b.get(i).copied().unwrap_or(0.0);
            x + (y - x) * t
        })
        .collect()
}

/// Mirror image of a default-head pose (`_l`/`_r` swapped, eyes_yaw negated).
pub fn mirror(pose: &[f32]) -> Vec<f32> {
    ChannelLayout::default_head().mirror(pose)
}

/// The expressions of a directory, sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpressionLibrary {
    expressions: Vec<Expression>,
}

impl ExpressionLibrary {
    /// Loads every `*.expr.ron` in `dir` (not recursive). Fails on the first
    /// bad file, or on two files with the same expression name.
    pub fn load_dir(dir: &Path) -> Result<Self, FileError> {
        let entries = std::fs::read_dir(dir).map_err(|e| FileError::io(dir, e))?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| FileError::io(dir, e))?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(EXPRESSION_SUFFIX))
            {
                paths.push(path);
            }
        }
        paths.sort();
        let mut lib = Self::default();
        for path in paths {
            let e = Expression::load(&path)?;
            if lib.get(&e.name).is_some() {
                let text = read_text(&path)?;
                return Err(FileError::invalid(
                    &path.display().to_string(),
                    &text,
                    &e.name,
                    format!("expression \"{}\" is defined by another file too", e.name),
                ));
            }
            lib.insert(e);
        }
        Ok(lib)
    }

    /// The expression called `name`.
    pub fn get(&self, name: &str) -> Option<&Expression> {
        self.expressions
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.expressions[i])
    }

    /// Adds or replaces (by name); returns the replaced expression.
    pub fn insert(&mut self, e: Expression) -> Option<Expression> {
        match self
            .expressions
            .binary_search_by(|x| x.name.as_str().cmp(&e.name))
        {
            Ok(i) => Some(std::mem::replace(&mut self.expressions[i], e)),
            Err(i) => {
                self.expressions.insert(i, e);
                None
            }
        }
    }

    /// Removes by name.
    pub fn remove(&mut self, name: &str) -> Option<Expression> {
        self.expressions
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| self.expressions.remove(i))
    }

    /// Names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.expressions.iter().map(|e| e.name.as_str())
    }

    /// All expressions, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Expression> {
        self.expressions.iter()
    }

    pub fn len(&self) -> usize {
        self.expressions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expressions.is_empty()
    }
}
