//! Channel parameters (serde/RON) and their errors.
//!
//! The built-in defaults live in `crates/motor/params/default.motor.ron`
//! (embedded with `include_str!`, exposed as [`DEFAULT_PARAMS_RON`]); that
//! file cites the datasheets the numbers come from. `ChannelParams::default()`
//! is that file parsed. A user file may omit whole sections (`motor`,
//! `skin`, ...), which then take the built-in values; inside a section every
//! field must be given, and unknown fields are rejected so typos surface as
//! errors with `file:line:column`.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::channel::ChannelConfig;

/// The built-in default parameter file (RON, with datasheet citations).
pub const DEFAULT_PARAMS_RON: &str = include_str!("../params/default.motor.ron");

/// Name used for the built-in file in error messages.
const BUILTIN_NAME: &str = "default.motor.ron (built-in)";

/// Errors loading, parsing or validating [`ChannelParams`].
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// RON syntax or type error. Displays as `file:line:column: message`.
    #[error("{file}:{line}:{column}: {message}")]
    Ron {
        /// File name (or `<string>` for [`ChannelParams::from_ron_str`]).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What went wrong.
        message: String,
    },
    /// The file parsed but a value is physically meaningless.
    #[error("{file}: invalid parameter `{field}`: {reason}")]
    Invalid {
        /// File name.
        file: String,
        /// Dotted field path, e.g. `motor.resistance_ohm`.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Serialising to RON failed.
    #[error("cannot serialise parameters to RON: {0}")]
    Serialize(String),
}

facetwin_ronfile::impl_from_ron_error!(ParamsError::Ron { file });

/// Mechanical arrangement of the channel's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChannelKind {
    /// Tension-only tendon: the spool can only pull the skin; paying out more
    /// tendon than the skin relaxes just makes slack. The skin never goes
    /// below neutral; commanding the spool below neutral (down to `min_norm`)
    /// pays out slack.
    Tendon,
    /// Rigid two-way linkage (jaw, eyes): the spring acts both ways and the
    /// gear backlash shows up as play around every reversal.
    Bidirectional,
}

/// DC motor (coreless, precious-metal commutation) electrical and rotor data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotorParams {
    /// Nominal supply of the H-bridge (the motor's nominal voltage).
    pub supply_voltage_v: f64,
    /// Terminal resistance at `resistance_ref_temp_c`.
    pub resistance_ohm: f64,
    /// Temperature at which `resistance_ohm` is specified.
    pub resistance_ref_temp_c: f64,
    /// Copper temperature coefficient (R grows with winding temperature).
    pub resistance_temp_coeff_per_k: f64,
    /// Rotor inductance. Only used to justify the quasi-static electrical
    /// model (L/R must be far below the controller period).
    pub inductance_h: f64,
    /// Torque constant kM.
    pub torque_constant_nm_per_a: f64,
    /// Back-EMF constant kE in SI units (V per rad/s).
    pub back_emf_v_s_per_rad: f64,
    /// Rotor inertia.
    pub rotor_inertia_kg_m2: f64,
    /// No-load speed at `supply_voltage_v` (encoder plausibility check).
    pub no_load_speed_rpm: f64,
    /// Coulomb (brush + bearing) friction torque at the motor shaft.
    pub friction_torque_nm: f64,
    /// Viscous friction at the motor shaft.
    pub viscous_friction_nm_s_per_rad: f64,
}

/// Planetary gearhead.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GearboxParams {
    /// Reduction ratio N (motor turns per output turn).
    pub ratio: f64,
    /// Efficiency when the motor drives the load.
    pub efficiency_forward: f64,
    /// Efficiency when the load back-drives the motor.
    pub efficiency_backdriven: f64,
    /// Total backlash (play) at the output, degrees.
    pub backlash_deg: f64,
    /// Load-independent Coulomb friction of the gearhead, at the output.
    pub output_friction_nm: f64,
}

/// Tendon spool and travel scaling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolParams {
    /// Spool radius: tendon mm per output radian.
    pub spool_radius_mm: f64,
    /// Tendon travel that corresponds to normalised position 1.0.
    pub travel_mm: f64,
}

/// Skin (silicone) load seen by the tendon: spring + damper + preload.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkinParams {
    /// Linear stiffness.
    pub stiffness_n_per_mm: f64,
    /// Preload force toward neutral (skin pre-stretched over the skull).
    pub preload_n: f64,
    /// The preload fades linearly to zero over this distance (normalised)
    /// around neutral, so the force is continuous through neutral.
    pub preload_transition_norm: f64,
    /// Viscous damping of the skin (parallel to the spring). Must be > 0.
    pub damping_n_s_per_m: f64,
}

/// Magnetic encoder on the motor shaft.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderParams {
    /// Counts per motor revolution (after quadrature decoding).
    pub counts_per_rev: u32,
}

/// Firmware controller.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerParams {
    /// Nominal controller period (10 kHz). `Channel::step` accepts any dt,
    /// but the defaults are tuned for this one.
    pub dt_s: f64,
    /// Position PID proportional gain: A of current command per unit of
    /// normalised position error.
    pub kp_a_per_norm: f64,
    /// Integral gain, A per (norm * s).
    pub ki_a_per_norm_s: f64,
    /// Derivative gain (on the error rate), A per (norm / s).
    pub kd_a_s_per_norm: f64,
    /// Velocity feed-forward from the setpoint profile, A per (norm / s).
    pub ff_velocity_a_s_per_norm: f64,
    /// Acceleration feed-forward from the setpoint profile, A per (norm / s^2).
    pub ff_accel_a_s2_per_norm: f64,
    /// Feed-forward of the nominal skin load and gearbox losses at the
    /// setpoint (1.0 = the firmware's skin model exactly, 0 = off).
    pub ff_load_gain: f64,
    /// Bandwidth of the encoder velocity observer (2nd-order tracking loop).
    pub velocity_observer_hz: f64,
    /// Bandwidth of the current loop's integral correction.
    pub current_loop_hz: f64,
    /// Acceleration limit of the setpoint profile.
    pub max_accel_norm_s2: f64,
}

/// Run-time limits (initial values of [`ChannelConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    /// Lowest allowed position (negative = extension / tendon slack).
    pub min_norm: f64,
    /// Highest allowed position (1.0 = full `travel_mm`).
    pub max_norm: f64,
    /// Setpoint velocity limit.
    pub max_velocity_norm_s: f64,
    /// Current command limit.
    pub current_limit_a: f64,
}

/// First-order winding thermal model and its protection thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThermalParams {
    /// Ambient temperature.
    pub ambient_c: f64,
    /// Winding-to-ambient thermal resistance.
    pub thermal_resistance_k_per_w: f64,
    /// Winding heat capacity.
    pub thermal_capacity_j_per_k: f64,
    /// OVERHEAT trips at or above this winding temperature.
    pub cutoff_c: f64,
    /// OVERHEAT can be cleared below this temperature.
    pub reset_c: f64,
}

/// Firmware fault-detection thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionParams {
    /// POWER when the measured supply is below this.
    pub undervoltage_v: f64,
    /// STALL: |current| at or above this fraction of the current limit ...
    pub stall_current_fraction: f64,
    /// ... while |velocity| stays below this ...
    pub stall_velocity_norm_s: f64,
    /// ... for this long.
    pub stall_time_s: f64,
    /// FOLLOWING: |setpoint - measured| above this ...
    pub following_error_norm: f64,
    /// ... for longer than this, with torque on.
    pub following_time_s: f64,
    /// NO_LOAD is only checked at |position| at or above this ...
    pub no_load_min_position_norm: f64,
    /// ... when |current| stays below this fraction of the current the
    /// nominal skin model predicts at that position ...
    pub no_load_current_fraction: f64,
    /// ... for this long, standing still.
    pub no_load_time_s: f64,
    /// ENCODER when one tick's count change exceeds 1.5 x the no-load speed
    /// plus this many counts.
    pub encoder_jump_margin_counts: f64,
}

/// How injected faults behave.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjectionParams {
    /// `Fault::Overheat` multiplies the thermal resistance by this.
    pub overheat_thermal_resistance_factor: f64,
    /// `Fault::Overheat` raises the ambient by this.
    pub overheat_ambient_rise_c: f64,
    /// `Fault::EncoderGlitch`: mean rate of one-tick spikes.
    pub encoder_glitch_rate_hz: f64,
    /// Smallest spike, counts.
    pub encoder_glitch_min_counts: f64,
    /// Largest spike, counts.
    pub encoder_glitch_max_counts: f64,
    /// Uniform noise amplitude while glitching, counts.
    pub encoder_noise_counts: f64,
}

/// Everything that defines one motor channel. `Default` is the built-in
/// datasheet parameter set ([`DEFAULT_PARAMS_RON`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelParams {
    /// Tendon (tension-only) or bidirectional linkage.
    #[serde(default = "default_kind")]
    pub kind: ChannelKind,
    /// Motor data.
    #[serde(default)]
    pub motor: MotorParams,
    /// Gearhead data.
    #[serde(default)]
    pub gearbox: GearboxParams,
    /// Spool and travel.
    #[serde(default)]
    pub spool: SpoolParams,
    /// Skin load.
    #[serde(default)]
    pub skin: SkinParams,
    /// Encoder.
    #[serde(default)]
    pub encoder: EncoderParams,
    /// Firmware controller.
    #[serde(default)]
    pub controller: ControllerParams,
    /// Initial run-time limits.
    #[serde(default)]
    pub limits: LimitParams,
    /// Thermal model.
    #[serde(default)]
    pub thermal: ThermalParams,
    /// Fault detection thresholds.
    #[serde(default)]
    pub protection: ProtectionParams,
    /// Fault injection behaviour.
    #[serde(default)]
    pub fault_injection: FaultInjectionParams,
}

static BUILTIN: OnceLock<ChannelParams> = OnceLock::new();

thread_local! {
    static PARSING_BUILTIN: Cell<bool> = const { Cell::new(false) };
}

fn builtin() -> &'static ChannelParams {
    BUILTIN.get_or_init(|| {
        PARSING_BUILTIN.with(|p| p.set(true));
        let parsed = parse_and_validate(DEFAULT_PARAMS_RON, BUILTIN_NAME);
        PARSING_BUILTIN.with(|p| p.set(false));
        match parsed {
            Ok(p) => p,
            // Guarded by the `builtin_ron_is_complete_and_valid` unit test.
            Err(e) => panic!("the built-in motor parameters are invalid: {e}"),
        }
    })
}

/// Section defaults come from the built-in file. The built-in file itself
/// must be complete (otherwise parsing it would need itself).
fn section<T>(name: &str, get: impl FnOnce(&ChannelParams) -> T) -> T {
    if PARSING_BUILTIN.with(Cell::get) {
        panic!("the built-in default.motor.ron lacks the `{name}` section");
    }
    get(builtin())
}

fn default_kind() -> ChannelKind {
    section("kind", |p| p.kind)
}

macro_rules! section_default {
    ($ty:ty, $field:ident) => {
        impl Default for $ty {
            fn default() -> Self {
                section(stringify!($field), |p| p.$field)
            }
        }
    };
}
section_default!(MotorParams, motor);
section_default!(GearboxParams, gearbox);
section_default!(SpoolParams, spool);
section_default!(SkinParams, skin);
section_default!(EncoderParams, encoder);
section_default!(ControllerParams, controller);
section_default!(LimitParams, limits);
section_default!(ThermalParams, thermal);
section_default!(ProtectionParams, protection);
section_default!(FaultInjectionParams, fault_injection);

impl Default for ChannelParams {
    fn default() -> Self {
        builtin().clone()
    }
}

fn parse_and_validate(s: &str, file: &str) -> Result<ChannelParams, ParamsError> {
    let params: ChannelParams = facetwin_ronfile::from_str(s, file)?;
    params.validate_named(file)?;
    Ok(params)
}

impl ChannelParams {
    /// Parses (and validates) RON text. Errors name `<string>:line:column`.
    pub fn from_ron_str(s: &str) -> Result<Self, ParamsError> {
        parse_and_validate(s, "<string>")
    }

    /// Reads, parses and validates a RON file. Errors name `path:line:column`.
    pub fn load(path: &Path) -> Result<Self, ParamsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ParamsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse_and_validate(&text, &path.display().to_string())
    }

    /// Serialises to pretty RON (without comments).
    pub fn to_ron_string(&self) -> Result<String, ParamsError> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new())
            .map_err(|e| ParamsError::Serialize(e.to_string()))
    }

    /// Checks that every value is finite and physically meaningful.
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.validate_named("<params>")
    }

    /// The run-time configuration a fresh channel starts with.
    pub fn initial_config(&self) -> ChannelConfig {
        ChannelConfig {
            min_norm: self.limits.min_norm as f32,
            max_norm: self.limits.max_norm as f32,
            max_velocity_norm_s: self.limits.max_velocity_norm_s as f32,
            current_limit_a: self.limits.current_limit_a as f32,
            kp: self.controller.kp_a_per_norm as f32,
            ki: self.controller.ki_a_per_norm_s as f32,
            kd: self.controller.kd_a_s_per_norm as f32,
        }
    }

    fn validate_named(&self, file: &str) -> Result<(), ParamsError> {
        let bad = |field: &'static str, reason: String| ParamsError::Invalid {
            file: file.to_owned(),
            field,
            reason,
        };
        let positive = |field: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, format!("must be finite and > 0, got {v}")))
            }
        };
        let non_negative = |field: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(field, format!("must be finite and >= 0, got {v}")))
            }
        };
        let finite = |field: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(bad(field, format!("must be finite, got {v}")))
            }
        };
        let fraction = |field: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(bad(field, format!("must be in (0, 1], got {v}")))
            }
        };

        let m = &self.motor;
        positive("motor.supply_voltage_v", m.supply_voltage_v)?;
        positive("motor.resistance_ohm", m.resistance_ohm)?;
        finite("motor.resistance_ref_temp_c", m.resistance_ref_temp_c)?;
        non_negative(
            "motor.resistance_temp_coeff_per_k",
            m.resistance_temp_coeff_per_k,
        )?;
        non_negative("motor.inductance_h", m.inductance_h)?;
        positive("motor.torque_constant_nm_per_a", m.torque_constant_nm_per_a)?;
        positive("motor.back_emf_v_s_per_rad", m.back_emf_v_s_per_rad)?;
        positive("motor.rotor_inertia_kg_m2", m.rotor_inertia_kg_m2)?;
        positive("motor.no_load_speed_rpm", m.no_load_speed_rpm)?;
        non_negative("motor.friction_torque_nm", m.friction_torque_nm)?;
        non_negative(
            "motor.viscous_friction_nm_s_per_rad",
            m.viscous_friction_nm_s_per_rad,
        )?;

        let g = &self.gearbox;
        positive("gearbox.ratio", g.ratio)?;
        fraction("gearbox.efficiency_forward", g.efficiency_forward)?;
        fraction("gearbox.efficiency_backdriven", g.efficiency_backdriven)?;
        non_negative("gearbox.backlash_deg", g.backlash_deg)?;
        non_negative("gearbox.output_friction_nm", g.output_friction_nm)?;

        positive("spool.spool_radius_mm", self.spool.spool_radius_mm)?;
        positive("spool.travel_mm", self.spool.travel_mm)?;

        let s = &self.skin;
        non_negative("skin.stiffness_n_per_mm", s.stiffness_n_per_mm)?;
        non_negative("skin.preload_n", s.preload_n)?;
        positive("skin.preload_transition_norm", s.preload_transition_norm)?;
        positive("skin.damping_n_s_per_m", s.damping_n_s_per_m)?;

        if self.encoder.counts_per_rev == 0 {
            return Err(bad("encoder.counts_per_rev", "must be > 0".to_owned()));
        }

        let c = &self.controller;
        positive("controller.dt_s", c.dt_s)?;
        non_negative("controller.kp_a_per_norm", c.kp_a_per_norm)?;
        non_negative("controller.ki_a_per_norm_s", c.ki_a_per_norm_s)?;
        non_negative("controller.kd_a_s_per_norm", c.kd_a_s_per_norm)?;
        non_negative(
            "controller.ff_velocity_a_s_per_norm",
            c.ff_velocity_a_s_per_norm,
        )?;
        non_negative(
            "controller.ff_accel_a_s2_per_norm",
            c.ff_accel_a_s2_per_norm,
        )?;
        non_negative("controller.ff_load_gain", c.ff_load_gain)?;
        positive("controller.velocity_observer_hz", c.velocity_observer_hz)?;
        positive("controller.current_loop_hz", c.current_loop_hz)?;
        positive("controller.max_accel_norm_s2", c.max_accel_norm_s2)?;
        if m.inductance_h / m.resistance_ohm > 0.5 * c.dt_s {
            return Err(bad(
                "motor.inductance_h",
                format!(
                    "L/R = {:.3e} s is not small against dt = {:.1e} s; the quasi-static \
                     electrical model would be wrong",
                    m.inductance_h / m.resistance_ohm,
                    c.dt_s
                ),
            ));
        }

        let l = &self.limits;
        finite("limits.min_norm", l.min_norm)?;
        finite("limits.max_norm", l.max_norm)?;
        if l.min_norm >= l.max_norm {
            return Err(bad(
                "limits.min_norm",
                format!("must be below max_norm ({} >= {})", l.min_norm, l.max_norm),
            ));
        }
        positive("limits.max_velocity_norm_s", l.max_velocity_norm_s)?;
        positive("limits.current_limit_a", l.current_limit_a)?;

        let t = &self.thermal;
        finite("thermal.ambient_c", t.ambient_c)?;
        positive(
            "thermal.thermal_resistance_k_per_w",
            t.thermal_resistance_k_per_w,
        )?;
        positive(
            "thermal.thermal_capacity_j_per_k",
            t.thermal_capacity_j_per_k,
        )?;
        finite("thermal.cutoff_c", t.cutoff_c)?;
        finite("thermal.reset_c", t.reset_c)?;
        if t.reset_c >= t.cutoff_c {
            return Err(bad(
                "thermal.reset_c",
                format!("must be below cutoff_c ({} >= {})", t.reset_c, t.cutoff_c),
            ));
        }

        let p = &self.protection;
        non_negative("protection.undervoltage_v", p.undervoltage_v)?;
        fraction(
            "protection.stall_current_fraction",
            p.stall_current_fraction,
        )?;
        positive("protection.stall_velocity_norm_s", p.stall_velocity_norm_s)?;
        positive("protection.stall_time_s", p.stall_time_s)?;
        positive("protection.following_error_norm", p.following_error_norm)?;
        positive("protection.following_time_s", p.following_time_s)?;
        positive(
            "protection.no_load_min_position_norm",
            p.no_load_min_position_norm,
        )?;
        fraction(
            "protection.no_load_current_fraction",
            p.no_load_current_fraction,
        )?;
        positive("protection.no_load_time_s", p.no_load_time_s)?;
        non_negative(
            "protection.encoder_jump_margin_counts",
            p.encoder_jump_margin_counts,
        )?;

        let f = &self.fault_injection;
        positive(
            "fault_injection.overheat_thermal_resistance_factor",
            f.overheat_thermal_resistance_factor,
        )?;
        finite(
            "fault_injection.overheat_ambient_rise_c",
            f.overheat_ambient_rise_c,
        )?;
        non_negative(
            "fault_injection.encoder_glitch_rate_hz",
            f.encoder_glitch_rate_hz,
        )?;
        non_negative(
            "fault_injection.encoder_glitch_min_counts",
            f.encoder_glitch_min_counts,
        )?;
        if !(f.encoder_glitch_max_counts.is_finite()
            && f.encoder_glitch_max_counts >= f.encoder_glitch_min_counts)
        {
            return Err(bad(
                "fault_injection.encoder_glitch_max_counts",
                "must be finite and >= encoder_glitch_min_counts".to_owned(),
            ));
        }
        non_negative(
            "fault_injection.encoder_noise_counts",
            f.encoder_noise_counts,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ron_is_complete_and_valid() {
        let p = parse_and_validate(DEFAULT_PARAMS_RON, "builtin").expect("built-in parses");
        assert_eq!(p, ChannelParams::default());
        assert_eq!(p.kind, ChannelKind::Tendon);
        assert_eq!(p.spool.travel_mm, 8.0);
        assert_eq!(p.limits.min_norm, -0.25);
        assert_eq!(p.limits.max_norm, 1.0);
        assert_eq!(p.controller.dt_s, 1e-4);
    }

    #[test]
    fn sections_may_be_omitted() {
        let p = ChannelParams::from_ron_str(
            "(kind: Bidirectional, skin: (stiffness_n_per_mm: 0.8, preload_n: 0.0, \
             preload_transition_norm: 0.05, damping_n_s_per_m: 60.0))",
        )
        .expect("partial file parses");
        assert_eq!(p.kind, ChannelKind::Bidirectional);
        assert_eq!(p.skin.stiffness_n_per_mm, 0.8);
        assert_eq!(p.motor, ChannelParams::default().motor);
    }

    #[test]
    fn invalid_values_are_rejected() {
        let mut p = ChannelParams::default();
        p.motor.resistance_ohm = -1.0;
        let e = p.validate().expect_err("negative resistance");
        assert!(e.to_string().contains("motor.resistance_ohm"), "{e}");
    }
}
