//! What a head is: its channels, their motor parameters, limits and neutral positions.

use facetwin_motor::ChannelParams;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One actuator channel of a head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelSpec {
    pub name: String,
    /// Travel limits, normalised (0 = neutral, +1 = full contraction).
    pub min_norm: f32,
    pub max_norm: f32,
    /// Where the safe state returns to.
    #[serde(default)]
    pub neutral_norm: f32,
    /// A linkage that pushes and pulls (jaw, eyes, lids, neck) rather than a tension-only tendon.
    #[serde(default)]
    pub bidirectional: bool,
    /// Motor model parameters; the default micro-motor when absent.
    #[serde(default)]
    pub motor: Option<ChannelParams>,
}

/// A whole head: identity, timing, channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadConfig {
    pub name: String,
    pub head_id: u32,
    pub firmware: [u8; 3],
    /// Motor controller rate, Hz (the firmware's inner loop).
    pub controller_rate_hz: u32,
    /// Watchdog timeout after power-up, ms (0 = disabled).
    pub watchdog_ms: u16,
    /// Telemetry rate after power-up, Hz.
    pub telemetry_hz: u16,
    pub channels: Vec<ChannelSpec>,
    /// Seed for the motors' noise (encoder glitches).
    #[serde(default)]
    pub seed: u64,
}

/// The default head's 25 channels: name, min, max (normalised travel).
pub const DEFAULT_CHANNELS: [(&str, f32, f32); 25] = [
    ("frontalis_inner_l", -0.1, 1.0),
    ("frontalis_inner_r", -0.1, 1.0),
    ("frontalis_outer_l", -0.1, 1.0),
    ("frontalis_outer_r", -0.1, 1.0),
    ("corrugator_l", -0.1, 1.0),
    ("corrugator_r", -0.1, 1.0),
    ("levator_palpebrae_l", -1.0, 0.3),
    ("levator_palpebrae_r", -1.0, 0.3),
    ("orbicularis_oculi_l", -0.1, 1.0),
    ("orbicularis_oculi_r", -0.1, 1.0),
    ("levator_labii_l", -0.1, 1.0),
    ("levator_labii_r", -0.1, 1.0),
    ("zygomaticus_major_l", -0.1, 1.0),
    ("zygomaticus_major_r", -0.1, 1.0),
    ("risorius_l", -0.1, 1.0),
    ("risorius_r", -0.1, 1.0),
    ("depressor_anguli_oris_l", -0.1, 1.0),
    ("depressor_anguli_oris_r", -0.1, 1.0),
    ("depressor_labii", -0.1, 1.0),
    ("mentalis", -0.1, 1.0),
    ("orbicularis_oris", -0.1, 1.0),
    ("jaw", 0.0, 1.0),
    ("eyes_yaw", -1.0, 1.0),
    ("eyes_pitch", -1.0, 1.0),
    ("neck_pitch", -1.0, 1.0),
];

/// Errors loading a head description.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
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
}

facetwin_ronfile::impl_from_ron_error!(ConfigError::Ron { path });

impl HeadConfig {
    /// The default head: 25 facial channels on the default micro-motor.
    pub fn default_head() -> Self {
        Self {
            name: "facetwin default head".into(),
            head_id: 0xFACE_0001,
            firmware: [0, 1, 0],
            controller_rate_hz: 10_000,
            watchdog_ms: 200,
            telemetry_hz: 100,
            channels: DEFAULT_CHANNELS
                .iter()
                .map(|&(name, min_norm, max_norm)| ChannelSpec {
                    name: name.into(),
                    min_norm,
                    max_norm,
                    neutral_norm: 0.0,
                    bidirectional: min_norm < -0.5 || name == "jaw",
                    motor: None,
                })
                .collect(),
            seed: 1,
        }
    }

    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = facetwin_ronfile::from_str(text, origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_ron_str(&text, &path.display().to_string())
    }

    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.into(),
            message,
        };
        if self.channels.is_empty() || self.channels.len() > facetwin_protocol::MAX_CHANNELS {
            return Err(invalid(format!(
                "{} channels; a head has 1 to {}",
                self.channels.len(),
                facetwin_protocol::MAX_CHANNELS
            )));
        }
        if !(1_000..=100_000).contains(&self.controller_rate_hz) {
            return Err(invalid(format!(
                "controller_rate_hz {} outside 1000..=100000",
                self.controller_rate_hz
            )));
        }
        for (i, c) in self.channels.iter().enumerate() {
            // Written so that NaN limits fail too.
            let ordered = c.min_norm.partial_cmp(&c.max_norm) == Some(std::cmp::Ordering::Less);
            if !ordered || c.min_norm < -1.0 || c.max_norm > 1.0 {
                return Err(invalid(format!(
                    "channel {i} ({}): limits {}..{} must satisfy -1 <= min < max <= 1",
                    c.name, c.min_norm, c.max_norm
                )));
            }
            if !(c.min_norm..=c.max_norm).contains(&c.neutral_norm) {
                return Err(invalid(format!(
                    "channel {i} ({}): neutral outside limits",
                    c.name
                )));
            }
            if c.name.is_empty() || c.name.len() > 24 || !c.name.is_ascii() {
                return Err(invalid(format!(
                    "channel {i}: name must be 1-24 ASCII bytes"
                )));
            }
        }
        Ok(())
    }

    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }
}
