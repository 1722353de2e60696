//! The head's channels as the authoring tools see them: names, travel limits
//! and the left/right mirror map.

use facetwin_head::HeadConfig;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Channel names and travel limits of a head, in the head's channel order
/// (every pose in this crate is a `Vec<f32>` in this order).
///
/// Mirroring: a channel named `*_l` swaps with its `*_r` twin; channels
/// whose name contains `yaw` are negated (eyes_yaw: looking left becomes
/// looking right); all other channels (midline) map to themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelLayout {
    names: Vec<String>,
    min: Vec<f32>,
    max: Vec<f32>,
    mirror: Vec<usize>,
    negate: Vec<bool>,
    index: HashMap<String, usize>,
}

impl ChannelLayout {
    /// The layout of a head description.
    pub fn from_head(head: &HeadConfig) -> Self {
        let names: Vec<String> = head.channels.iter().map(|c| c.name.clone()).collect();
        let min = head.channels.iter().map(|c| c.min_norm).collect();
        let max = head.channels.iter().map(|c| c.max_norm).collect();
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let twin = |name: &str| -> Option<usize> {
            let (stem, other) = if let Some(s) = name.strip_suffix("_l") {
                (s, "_r")
            } else if let Some(s) = name.strip_suffix("_r") {
                (s, "_l")
            } else {
                return None;
            };
            index.get(&format!("{stem}{other}")).copied()
        };
        let mirror = names
            .iter()
            .enumerate()
            .map(|(i, n)| twin(n).unwrap_or(i))
            .collect();
        let negate = names.iter().map(|n| n.contains("yaw")).collect();
        Self {
            names,
            min,
            max,
            mirror,
            negate,
            index,
        }
    }

    /// The default head's layout ([`HeadConfig::default_head`]), built once.
    pub fn default_head() -> &'static ChannelLayout {
        static LAYOUT: OnceLock<ChannelLayout> = OnceLock::new();
        LAYOUT.get_or_init(|| ChannelLayout::from_head(&HeadConfig::default_head()))
    }

    /// Number of channels (the length of every pose).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True for a layout without channels.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Channel names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Name of channel `i` ("" when out of range).
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// Index of a channel by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Travel limits `(min, max)` of channel `i` (`(0, 0)` when out of range).
    pub fn limits(&self, i: usize) -> (f32, f32) {
        match (self.min.get(i), self.max.get(i)) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => (0.0, 0.0),
        }
    }

    /// Lower travel limits, in channel order.
    pub fn min(&self) -> &[f32] {
        &self.min
    }

    /// Upper travel limits, in channel order.
    pub fn max(&self) -> &[f32] {
        &self.max
    }

    /// Clamps a pose to the travel limits in place (NaN becomes the nearest
    /// limit to 0, i.e. neutral when neutral is inside the limits).
    pub fn clamp(&self, pose: &mut [f32]) {
        for (i, v) in pose.iter_mut().enumerate().take(self.len()) {
            let x = if v.is_nan() { 0.0 } else { *v };
            *v = x.clamp(self.min[i], self.max[i]);
        }
    }

    /// The mirror twin of channel `i` (itself for midline channels).
    pub fn mirror_index(&self, i: usize) -> usize {
        self.mirror.get(i).copied().unwrap_or(i)
    }

    /// True when channel `i` lies on the left side (`*_l` with a `*_r` twin).
    pub fn is_left(&self, i: usize) -> bool {
        self.mirror_index(i) != i && self.names[i].ends_with("_l")
    }

    /// True when channel `i` lies on the right side (`*_r` with a `*_l` twin).
    pub fn is_right(&self, i: usize) -> bool {
        self.mirror_index(i) != i && self.names[i].ends_with("_r")
    }

    /// True when mirroring negates channel `i` (yaw channels).
    pub fn negated_on_mirror(&self, i: usize) -> bool {
        self.negate.get(i).copied().unwrap_or(false)
    }

    /// The left/right mirror image of a pose: `_l`/`_r` channels swapped,
    /// yaw channels negated, midline channels unchanged. Entries past the
    /// layout's length are copied unchanged.
    pub fn mirror(&self, pose: &[f32]) -> Vec<f32> {
        let mut out = pose.to_vec();
        for (i, o) in out.iter_mut().enumerate().take(self.len()) {
            let v = pose.get(self.mirror[i]).copied().unwrap_or(0.0);
            *o = if self.negate[i] { -v } else { v };
        }
        out
    }

    /// Mirrors a channel name (`x_l` ↔ `x_r`; others unchanged).
    pub fn mirror_name<'a>(&'a self, name: &'a str) -> &'a str {
        match self.index(name) {
            Some(i) => self.name(self.mirror_index(i)),
            None => name,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_mirror_map() {
        let l = ChannelLayout::default_head();
        assert_eq!(l.len(), 25);
        let zl = l.index("zygomaticus_major_l").unwrap();
        let zr = l.index("zygomaticus_major_r").unwrap();
        assert_eq!(l.mirror_index(zl), zr);
        assert_eq!(l.mirror_index(zr), zl);
        assert!(l.is_left(zl) && l.is_right(zr));
        let jaw = l.index("jaw").unwrap();
        assert_eq!(l.mirror_index(jaw), jaw);
        assert!(!l.is_left(jaw) && !l.is_right(jaw));
        assert!(l.negated_on_mirror(l.index("eyes_yaw").unwrap()));
        assert!(!l.negated_on_mirror(l.index("eyes_pitch").unwrap()));
        assert_eq!(l.mirror_name("risorius_l"), "risorius_r");
    }
}
