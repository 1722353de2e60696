//! One motor channel: plant (motor, gearbox, spool, skin), encoder,
//! firmware controller, thermal model, protection and fault injection.

use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

use crate::faults::{Fault, FaultFlags};
use crate::params::{ChannelKind, ChannelParams, ParamsError};

/// What the host may change at run time (over the protocol).
///
/// Units: positions in normalised travel, velocity in normalised travel per
/// second, current in A. The gains belong to the firmware's position PID,
/// whose output is a current command: `kp` in A per unit of position error,
/// `ki` in A per (unit * s), `kd` in A per (unit / s).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Lowest allowed target / setpoint.
    pub min_norm: f32,
    /// Highest allowed target / setpoint.
    pub max_norm: f32,
    /// Setpoint velocity limit (> 0).
    pub max_velocity_norm_s: f32,
    /// Current command limit (> 0).
    pub current_limit_a: f32,
    /// Position PID proportional gain, A per norm.
    pub kp: f32,
    /// Position PID integral gain, A per (norm * s).
    pub ki: f32,
    /// Position PID derivative gain, A per (norm / s).
    pub kd: f32,
}

/// A snapshot of one channel, as the firmware (and the simulation) sees it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Measured position (motor-shaft encoder, quantised, through the gear
    /// ratio, calibrated for a loaded tendon).
    pub position_norm: f32,
    /// True position of the skin attachment point (equals the spool while
    /// the tendon is taut; stays at the skin when the tendon is slack or torn).
    pub true_position_norm: f32,
    /// Current setpoint of the trajectory generator.
    pub setpoint_norm: f32,
    /// Last accepted (clamped) target.
    pub target_norm: f32,
    /// Firmware velocity estimate (encoder observer).
    pub velocity_norm_s: f32,
    /// Motor current, signed.
    pub current_a: f32,
    /// Winding temperature.
    pub winding_temp_c: f32,
    /// Latched faults.
    pub faults: FaultFlags,
    /// True when the bridge is driving (torque requested and not dropped by a fault).
    pub torque_enabled: bool,
    /// True velocity of the gearbox output (spool), exact.
    pub true_velocity_norm_s: f32,
    /// Tendon tension (or linkage force, signed for bidirectional channels), N.
    pub tension_n: f32,
    /// Bridge output voltage (0 while coasting).
    pub voltage_v: f32,
}

/// Contact tolerance between skin and gear faces, output radians.
const CONTACT_EPS: f64 = 1e-12;
/// Profile end tolerance, s (absorbs float accumulation of dt).
const PROFILE_END_EPS_S: f64 = 1e-9;

/// Constants derived once from [`ChannelParams`].
#[derive(Clone, Debug)]
struct Consts {
    tendon: bool,
    supply_v: f64,
    r_ref: f64,
    r_alpha: f64,
    r_tref: f64,
    kt: f64,
    inv_kt: f64,
    ke: f64,
    inv_j: f64,
    /// Load-independent Coulomb friction at the motor shaft (motor + gearhead).
    coulomb: f64,
    viscous: f64,
    inv_n: f64,
    n: f64,
    loss_fwd: f64,
    loss_back: f64,
    /// Half backlash, output rad.
    beta: f64,
    r_m: f64,
    travel_m: f64,
    norm_per_out_rad: f64,
    out_rad_per_norm: f64,
    motor_rad_per_norm: f64,
    k_n_per_m: f64,
    f0: f64,
    inv_sp_m: f64,
    c: f64,
    inv_c_r: f64,
    counts_per_rad: f64,
    norm_per_count: f64,
    meas_offset: f64,
    /// 1.5 x no-load speed in counts per second (encoder plausibility).
    enc_counts_per_s: f64,
    enc_margin: f64,
    ff_v: f64,
    ff_a: f64,
    ff_load: f64,
    observer_w: f64,
    current_w: f64,
    amax: f64,
    ambient: f64,
    inv_rth: f64,
    inv_cth: f64,
    cutoff: f64,
    reset: f64,
    inj_inv_rth: f64,
    inj_ambient: f64,
    undervoltage: f64,
    stall_frac: f64,
    stall_vel: f64,
    stall_time: f64,
    follow_err: f64,
    follow_time: f64,
    nl_min: f64,
    nl_frac: f64,
    nl_time: f64,
    glitch_rate: f64,
    glitch_min: f64,
    glitch_max: f64,
    glitch_noise: f64,
}

impl Consts {
    fn new(p: &ChannelParams) -> Self {
        let m = &p.motor;
        let g = &p.gearbox;
        let n = g.ratio;
        let r_m = p.spool.spool_radius_mm * 1e-3;
        let travel_m = p.spool.travel_mm * 1e-3;
        let norm_per_out_rad = r_m / travel_m;
        let counts_per_rad = f64::from(p.encoder.counts_per_rev) / TAU;
        let beta = 0.5 * g.backlash_deg.to_radians();
        let norm_per_count = norm_per_out_rad / (counts_per_rad * n);
        let sp_m = p.skin.preload_transition_norm * travel_m;
        let c = p.skin.damping_n_s_per_m;
        let t = &p.thermal;
        let pr = &p.protection;
        let fi = &p.fault_injection;
        Consts {
            tendon: p.kind == ChannelKind::Tendon,
            supply_v: m.supply_voltage_v,
            r_ref: m.resistance_ohm,
            r_alpha: m.resistance_temp_coeff_per_k,
            r_tref: m.resistance_ref_temp_c,
            kt: m.torque_constant_nm_per_a,
            inv_kt: 1.0 / m.torque_constant_nm_per_a,
            ke: m.back_emf_v_s_per_rad,
            inv_j: 1.0 / m.rotor_inertia_kg_m2,
            coulomb: m.friction_torque_nm + g.output_friction_nm / n,
            viscous: m.viscous_friction_nm_s_per_rad,
            inv_n: 1.0 / n,
            n,
            loss_fwd: 1.0 / g.efficiency_forward - 1.0,
            loss_back: 1.0 - g.efficiency_backdriven,
            beta,
            r_m,
            travel_m,
            norm_per_out_rad,
            out_rad_per_norm: 1.0 / norm_per_out_rad,
            motor_rad_per_norm: n / norm_per_out_rad,
            k_n_per_m: p.skin.stiffness_n_per_mm * 1e3,
            f0: p.skin.preload_n,
            inv_sp_m: 1.0 / sp_m,
            c,
            inv_c_r: 1.0 / (c * r_m),
            counts_per_rad,
            norm_per_count,
            // Encoder zero calibrated with the tendon loaded (skin = gear - beta)
            // and reading the middle of a count.
            meas_offset: 0.5 * norm_per_count - beta * norm_per_out_rad,
            enc_counts_per_s: 1.5 * m.no_load_speed_rpm * TAU / 60.0 * counts_per_rad,
            enc_margin: pr.encoder_jump_margin_counts,
            ff_v: p.controller.ff_velocity_a_s_per_norm,
            ff_a: p.controller.ff_accel_a_s2_per_norm,
            ff_load: p.controller.ff_load_gain,
            observer_w: TAU * p.controller.velocity_observer_hz,
            current_w: TAU * p.controller.current_loop_hz,
            amax: p.controller.max_accel_norm_s2,
            ambient: t.ambient_c,
            inv_rth: 1.0 / t.thermal_resistance_k_per_w,
            inv_cth: 1.0 / t.thermal_capacity_j_per_k,
            cutoff: t.cutoff_c,
            reset: t.reset_c,
            inj_inv_rth: 1.0
                / (t.thermal_resistance_k_per_w * fi.overheat_thermal_resistance_factor),
            inj_ambient: t.ambient_c + fi.overheat_ambient_rise_c,
            undervoltage: pr.undervoltage_v,
            stall_frac: pr.stall_current_fraction,
            stall_vel: pr.stall_velocity_norm_s,
            stall_time: pr.stall_time_s,
            follow_err: pr.following_error_norm,
            follow_time: pr.following_time_s,
            nl_min: pr.no_load_min_position_norm,
            nl_frac: pr.no_load_current_fraction,
            nl_time: pr.no_load_time_s,
            glitch_rate: fi.encoder_glitch_rate_hz,
            glitch_min: fi.encoder_glitch_min_counts,
            glitch_max: fi.encoder_glitch_max_counts,
            glitch_noise: fi.encoder_noise_counts,
        }
    }

    /// Skin spring + preload force (N, positive pulls toward negative) at
    /// skin position `s` (output rad), and its slope dF/ds (N/rad).
    #[inline]
    fn skin_force(&self, s: f64) -> (f64, f64) {
        let x = s * self.r_m;
        let u = x * self.inv_sp_m;
        if u.abs() < 1.0 {
            (
                self.k_n_per_m * x + self.f0 * u,
                (self.k_n_per_m + self.f0 * self.inv_sp_m) * self.r_m,
            )
        } else {
            (
                self.k_n_per_m * x + self.f0.copysign(u),
                self.k_n_per_m * self.r_m,
            )
        }
    }

    /// Current the nominal skin model needs (no friction, ideal gear) at
    /// |position| `x_abs` (normalised). Used by NO_LOAD detection.
    fn expected_load_current(&self, x_abs: f64) -> f64 {
        let x = x_abs * self.travel_m;
        let f = self.k_n_per_m * x + self.f0 * (x * self.inv_sp_m).min(1.0);
        f * self.r_m * self.inv_n * self.inv_kt
    }
}

/// Coefficients that depend on the step size; recomputed when dt changes.
#[derive(Clone, Copy, Debug)]
struct DtCache {
    dt: f64,
    obs_k1: f64,
    obs_k2: f64,
    cur_g: f64,
    enc_max_jump: f64,
}

impl DtCache {
    fn new(k: &Consts, dt: f64) -> Self {
        // Keep the discrete observer stable for coarse steps.
        let w = k.observer_w.min(0.25 / dt);
        DtCache {
            dt,
            obs_k1: 2.0 * 0.8 * w,
            obs_k2: w * w,
            cur_g: 1.0 - (-k.current_w * dt).exp(),
            enc_max_jump: k.enc_counts_per_s * dt + k.enc_margin,
        }
    }
}

/// Cubic Hermite segment of the trajectory generator.
#[derive(Clone, Copy, Debug, Default)]
struct Profile {
    active: bool,
    t: f64,
    dur: f64,
    p0: f64,
    v0: f64,
    c2: f64,
    c3: f64,
    p1: f64,
    v1: f64,
}

impl Profile {
    #[inline]
    fn eval(&self, t: f64) -> (f64, f64, f64) {
        let p = self.p0 + t * (self.v0 + t * (self.c2 + t * self.c3));
        let v = self.v0 + t * (2.0 * self.c2 + 3.0 * self.c3 * t);
        let a = 2.0 * self.c2 + 6.0 * self.c3 * t;
        (p, v, a)
    }
}

/// Hermite coefficients (c2, c3) for displacement `d`, end velocities v0, v1, duration `t`.
fn hermite(d: f64, v0: f64, v1: f64, t: f64) -> (f64, f64) {
    let c2 = (3.0 * d - (2.0 * v0 + v1) * t) / (t * t);
    let c3 = (-2.0 * d + (v0 + v1) * t) / (t * t * t);
    (c2, c3)
}

/// Peak |velocity| and |acceleration| of a Hermite segment.
fn hermite_peaks(v0: f64, v1: f64, c2: f64, c3: f64, t: f64) -> (f64, f64) {
    let mut vpk = v0.abs().max(v1.abs());
    if c3 != 0.0 {
        let ts = -c2 / (3.0 * c3);
        if ts > 0.0 && ts < t {
            vpk = vpk.max((v0 + ts * (2.0 * c2 + 3.0 * c3 * ts)).abs());
        }
    }
    let apk = (2.0 * c2).abs().max((2.0 * c2 + 6.0 * c3 * t).abs());
    (vpk, apk)
}

/// xorshift64* step.
#[inline]
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Uniform in [0, 1).
#[inline]
fn uniform(state: &mut u64) -> f64 {
    (xorshift(state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// splitmix64, used to turn user seeds into well-mixed non-zero states.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One simulated facial micro-motor channel. See the crate documentation for
/// the model.
#[derive(Clone, Debug)]
pub struct Channel {
    params: ChannelParams,
    k: Consts,
    dtc: DtCache,
    cfg: ChannelConfig,
    min: f64,
    max: f64,
    vmax: f64,
    ilim: f64,
    kp: f64,
    ki: f64,
    kd: f64,

    // Plant.
    theta_m: f64,
    omega_m: f64,
    /// Skin attachment point, output radians.
    skin: f64,
    /// Output shaft position while jammed.
    jam_lock: Option<f64>,
    current_a: f64,
    voltage_v: f64,
    tension_n: f64,
    temp_c: f64,

    // Sensing.
    counts: i64,
    meas: f64,
    x_hat: f64,
    v_hat: f64,

    // Controller.
    torque_on: bool,
    integ: f64,
    v_int: f64,

    // Trajectory.
    sp: f64,
    sp_v: f64,
    sp_a: f64,
    target: f64,
    prof: Profile,
    since_cmd: f64,
    prev_targets: [f64; 2],
    stream_n: u32,

    // Faults.
    faults: FaultFlags,
    injected: u8,
    stall_t: f64,
    follow_t: f64,
    noload_t: f64,

    rng: u64,
    time_s: f64,
}

impl Channel {
    /// Creates a channel at rest at neutral, torque off, winding at ambient.
    /// `params` should be valid (see [`ChannelParams::validate`]; everything
    /// loaded through [`ChannelParams::load`] is): invalid values do not
    /// panic but make a meaningless simulation. [`Channel::try_new`] checks
    /// first. `seed` drives the injected encoder noise only.
    pub fn new(params: &ChannelParams, seed: u64) -> Self {
        let k = Consts::new(params);
        let dtc = DtCache::new(&k, params.controller.dt_s);
        let cfg = params.initial_config();
        let theta_m = k.beta * k.n;
        let counts = (theta_m * k.counts_per_rad).floor() as i64;
        let meas = counts as f64 * k.norm_per_count + k.meas_offset;
        let mut ch = Channel {
            params: params.clone(),
            dtc,
            cfg,
            min: 0.0,
            max: 0.0,
            vmax: 0.0,
            ilim: 0.0,
            kp: 0.0,
            ki: 0.0,
            kd: 0.0,
            theta_m,
            omega_m: 0.0,
            skin: 0.0,
            jam_lock: None,
            current_a: 0.0,
            voltage_v: 0.0,
            tension_n: 0.0,
            temp_c: k.ambient,
            counts,
            meas,
            x_hat: meas,
            v_hat: 0.0,
            torque_on: false,
            integ: 0.0,
            v_int: 0.0,
            sp: meas,
            sp_v: 0.0,
            sp_a: 0.0,
            target: meas,
            prof: Profile::default(),
            since_cmd: f64::INFINITY,
            prev_targets: [meas; 2],
            stream_n: 0,
            faults: FaultFlags::NONE,
            injected: 0,
            stall_t: 0.0,
            follow_t: 0.0,
            noload_t: 0.0,
            rng: splitmix64(seed) | 1,
            time_s: 0.0,
            k,
        };
        ch.apply_config(cfg);
        ch
    }

    /// Like [`Channel::new`] but validates `params` first.
    pub fn try_new(params: &ChannelParams, seed: u64) -> Result<Self, ParamsError> {
        params.validate()?;
        Ok(Self::new(params, seed))
    }

    /// The parameters this channel was built from.
    pub fn params(&self) -> &ChannelParams {
        &self.params
    }

    /// Simulated time since creation, s.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// The current run-time configuration.
    pub fn config(&self) -> ChannelConfig {
        self.cfg
    }

    /// Applies a run-time configuration. Non-finite fields keep their old
    /// value, negative gains/limits are taken by magnitude, a reversed
    /// min/max pair is swapped. The target is re-clamped to the new limits
    /// (and approached with a velocity-limited profile if it moved).
    pub fn configure(&mut self, cfg: ChannelConfig) {
        let old = self.cfg;
        let pick = |new: f32, old: f32| if new.is_finite() { new } else { old };
        let mut c = ChannelConfig {
            min_norm: pick(cfg.min_norm, old.min_norm),
            max_norm: pick(cfg.max_norm, old.max_norm),
            max_velocity_norm_s: pick(cfg.max_velocity_norm_s, old.max_velocity_norm_s).abs(),
            current_limit_a: pick(cfg.current_limit_a, old.current_limit_a).abs(),
            kp: pick(cfg.kp, old.kp).abs(),
            ki: pick(cfg.ki, old.ki).abs(),
            kd: pick(cfg.kd, old.kd).abs(),
        };
        if c.min_norm > c.max_norm {
            std::mem::swap(&mut c.min_norm, &mut c.max_norm);
        }
        if c.max_velocity_norm_s <= 0.0 {
            c.max_velocity_norm_s = old.max_velocity_norm_s;
        }
        self.apply_config(c);
        let t = self.target.clamp(self.min, self.max);
        if t != self.target && self.torque_on {
            self.plan(t, 0.0);
        }
        self.target = t;
    }

    fn apply_config(&mut self, c: ChannelConfig) {
        self.cfg = c;
        self.min = f64::from(c.min_norm);
        self.max = f64::from(c.max_norm);
        self.vmax = f64::from(c.max_velocity_norm_s);
        self.ilim = f64::from(c.current_limit_a);
        self.kp = f64::from(c.kp);
        self.ki = f64::from(c.ki);
        self.kd = f64::from(c.kd);
    }

    /// Starts a smooth move of the setpoint from where it is now (position
    /// and velocity) to `target_norm`, arriving after `time_to_target_s`
    /// (stretched if the velocity limit requires it; 0 = as fast as the
    /// velocity limit and the profile acceleration limit allow). The target is clamped to
    /// `[min_norm, max_norm]`; returns true when it was clamped (or, for a
    /// non-finite target, ignored). Targets arriving at a steady rate with
    /// `time_to_target_s` up to 1.5x their spacing are treated as a stream:
    /// segments join with continuous velocity, so the motion has no stair
    /// steps. While torque is off the setpoint follows the measured position
    /// and targets are not executed.
    pub fn set_target(&mut self, target_norm: f32, time_to_target_s: f32) -> bool {
        let req = f64::from(target_norm);
        if !req.is_finite() {
            return true;
        }
        let tgt = req.clamp(self.min, self.max);
        let clamped = tgt != req;
        let dur = f64::from(time_to_target_s);
        let dur = if dur.is_finite() && dur > 0.0 {
            dur
        } else {
            0.0
        };
        if self.torque_on {
            self.plan(tgt, dur);
        } else {
            self.target = tgt;
        }
        clamped
    }

    fn plan(&mut self, tgt: f64, dur_req: f64) {
        let vmax = self.vmax;
        let amax = self.k.amax;
        let p0 = self.sp;
        let v0 = self.sp_v.clamp(-vmax, vmax);
        let d = tgt - p0;
        let spacing = self.since_cmd;
        let streaming = dur_req > 0.0 && spacing <= 1.5 * dur_req + PROFILE_END_EPS_S;
        let v1 = if !streaming {
            self.stream_n = 0;
            0.0
        } else {
            let h = spacing.max(1e-6);
            let v = if self.stream_n >= 1 {
                // Derivative at the newest point of the parabola through the
                // last three targets.
                (3.0 * tgt - 4.0 * self.prev_targets[0] + self.prev_targets[1]) / (2.0 * h)
            } else {
                (tgt - self.prev_targets[0]) / h
            };
            self.stream_n = self.stream_n.saturating_add(1);
            v.clamp(-vmax, vmax)
        };
        self.prev_targets = [tgt, self.prev_targets[0]];
        self.since_cmd = 0.0;
        self.target = tgt;

        let mut dur = if dur_req > 0.0 {
            dur_req
        } else {
            let ad = d.abs();
            (1.5 * ad / vmax)
                .max((6.0 * ad / amax).sqrt())
                .max(2.0 * v0.abs() / amax)
        };
        if dur <= 1e-9 {
            self.prof.active = false;
            self.sp = tgt;
            self.sp_v = 0.0;
            self.sp_a = 0.0;
            return;
        }
        // The acceleration limit only shapes moves "as fast as allowed"; a
        // requested time is honoured unless the velocity limit forbids it.
        let amax_eff = if dur_req > 0.0 { f64::INFINITY } else { amax };
        let (mut c2, mut c3) = hermite(d, v0, v1, dur);
        for _ in 0..16 {
            let (vpk, apk) = hermite_peaks(v0, v1, c2, c3, dur);
            let scale = (vpk / vmax).max((apk / amax_eff).sqrt());
            if scale <= 1.0 + 1e-9 {
                break;
            }
            dur *= scale.max(1.001);
            (c2, c3) = hermite(d, v0, v1, dur);
        }
        self.prof = Profile {
            active: true,
            t: 0.0,
            dur,
            p0,
            v0,
            c2,
            c3,
            p1: tgt,
            v1,
        };
    }

    /// Requests torque on or off. Turning torque on is refused while a fault
    /// that drops torque is latched (see [`FaultFlags::DROPS_TORQUE`]); it
    /// starts holding the measured position (bumpless). Torque off lets the
    /// bridge coast: no current, the skin back-drives the gearbox.
    pub fn set_torque(&mut self, enabled: bool) {
        if !enabled {
            self.disable_torque();
            return;
        }
        if self.torque_on || self.faults.intersects(FaultFlags::DROPS_TORQUE) {
            return;
        }
        self.torque_on = true;
        self.integ = 0.0;
        self.v_int = 0.0;
        self.sp = self.meas.clamp(self.min, self.max);
        self.sp_v = 0.0;
        self.sp_a = 0.0;
        self.target = self.sp;
        self.prof.active = false;
        self.since_cmd = f64::INFINITY;
        self.stream_n = 0;
        self.prev_targets = [self.sp; 2];
        self.stall_t = 0.0;
        self.follow_t = 0.0;
        self.noload_t = 0.0;
    }

    fn disable_torque(&mut self) {
        self.torque_on = false;
        self.integ = 0.0;
        self.v_int = 0.0;
        self.prof.active = false;
        self.stall_t = 0.0;
        self.follow_t = 0.0;
        self.noload_t = 0.0;
    }

    /// Injects a physical fault (idempotent).
    pub fn inject(&mut self, fault: Fault) {
        if self.injected & fault.mask() != 0 {
            return;
        }
        self.injected |= fault.mask();
        if fault == Fault::Jam {
            let g = self.theta_m * self.k.inv_n;
            self.jam_lock = Some(if self.k.tendon {
                g - self.k.beta
            } else {
                self.skin
            });
        }
    }

    /// Removes an injected fault. Latched fault bits stay until
    /// [`Channel::clear_faults`].
    pub fn clear_injected(&mut self, fault: Fault) {
        if self.injected & fault.mask() == 0 {
            return;
        }
        self.injected &= !fault.mask();
        match fault {
            Fault::Jam => self.jam_lock = None,
            Fault::TornTendon => {
                // Re-tied at the current spool position.
                let g = self.theta_m * self.k.inv_n;
                let lo = g - self.k.beta;
                self.skin = if self.k.tendon {
                    self.skin.max(lo)
                } else {
                    self.skin.clamp(lo, g + self.k.beta)
                };
            }
            _ => {}
        }
    }

    /// True while `fault` is injected.
    pub fn is_injected(&self, fault: Fault) -> bool {
        self.injected & fault.mask() != 0
    }

    /// Sets or clears head-owned fault bits (`WATCHDOG`, `ESTOP`); other bits
    /// in `bits` are ignored. Setting drops torque.
    pub fn set_fault_flag(&mut self, bits: u8, on: bool) {
        let f = FaultFlags(bits) & FaultFlags::EXTERNAL;
        if on {
            self.raise(f);
        } else {
            self.faults.remove(f);
        }
    }

    /// Clears latched model-owned bits whose cause is gone: OVERHEAT once the
    /// winding is below `reset_c`; STALL, ENCODER, NO_LOAD, POWER unless the
    /// corresponding fault (Jam, EncoderGlitch, TornTendon, PowerLoss) is still
    /// injected; FOLLOWING always. WATCHDOG/ESTOP are left to
    /// [`Channel::set_fault_flag`]. Torque stays off until [`Channel::set_torque`].
    pub fn clear_faults(&mut self) {
        let mut clear = FaultFlags::FOLLOWING;
        if self.temp_c < self.k.reset {
            clear.insert(FaultFlags::OVERHEAT);
        }
        if !self.is_injected(Fault::Jam) {
            clear.insert(FaultFlags::STALL);
        }
        if !self.is_injected(Fault::EncoderGlitch) {
            clear.insert(FaultFlags::ENCODER);
        }
        if !self.is_injected(Fault::TornTendon) {
            clear.insert(FaultFlags::NO_LOAD);
        }
        if !self.is_injected(Fault::PowerLoss) {
            clear.insert(FaultFlags::POWER);
        }
        self.faults.remove(clear);
    }

    fn raise(&mut self, f: FaultFlags) {
        self.faults.insert(f);
        if self.torque_on && f.intersects(FaultFlags::DROPS_TORQUE) {
            self.disable_torque();
        }
    }

    /// A snapshot of the channel.
    pub fn state(&self) -> ChannelState {
        let k = &self.k;
        ChannelState {
            position_norm: self.meas as f32,
            true_position_norm: (self.skin * k.norm_per_out_rad) as f32,
            setpoint_norm: self.sp as f32,
            target_norm: self.target as f32,
            velocity_norm_s: self.v_hat as f32,
            current_a: self.current_a as f32,
            winding_temp_c: self.temp_c as f32,
            faults: self.faults,
            torque_enabled: self.torque_on,
            true_velocity_norm_s: (self.omega_m * k.inv_n * k.norm_per_out_rad) as f32,
            tension_n: self.tension_n as f32,
            voltage_v: self.voltage_v as f32,
        }
    }

    /// Runs `duration_s` of simulated time in ticks of `dt_s`
    /// (`round(duration_s / dt_s)` ticks).
    pub fn run(&mut self, duration_s: f64, dt_s: f64) {
        if !(dt_s > 0.0 && duration_s > 0.0) {
            return;
        }
        let n = (duration_s / dt_s).round();
        if !n.is_finite() {
            return;
        }
        for _ in 0..n as u64 {
            self.step(dt_s);
        }
    }

    /// Advances the simulation by one controller tick of `dt_s` seconds
    /// (nominally `params.controller.dt_s`). Non-positive or non-finite dt is
    /// ignored.
    pub fn step(&mut self, dt_s: f64) {
        if !(dt_s > 0.0 && dt_s.is_finite()) {
            return;
        }
        if dt_s.to_bits() != self.dtc.dt.to_bits() {
            self.dtc = DtCache::new(&self.k, dt_s);
        }
        let dt = dt_s;
        let supply_v = if self.is_injected(Fault::PowerLoss) {
            0.0
        } else {
            self.k.supply_v
        };

        // --- Sensing: encoder on the motor shaft, velocity observer.
        let mut counts = (self.theta_m * self.k.counts_per_rad).floor() as i64;
        if self.is_injected(Fault::EncoderGlitch) {
            counts += self.glitch(dt);
        }
        let jump = (counts - self.counts).unsigned_abs() as f64;
        self.counts = counts;
        let meas = counts as f64 * self.k.norm_per_count + self.k.meas_offset;
        self.meas = meas;
        let e_obs = meas - self.x_hat;
        self.x_hat += (self.v_hat + self.dtc.obs_k1 * e_obs) * dt;
        self.v_hat += self.dtc.obs_k2 * e_obs * dt;
        if jump > self.dtc.enc_max_jump {
            self.raise(FaultFlags::ENCODER);
        }

        // --- Protection (firmware).
        if supply_v < self.k.undervoltage {
            self.raise(FaultFlags::POWER);
        }
        if self.temp_c >= self.k.cutoff {
            self.raise(FaultFlags::OVERHEAT);
        }
        if self.torque_on {
            self.check_motion_faults(dt);
        }

        // --- Trajectory.
        if self.torque_on {
            self.advance_setpoint(dt);
        } else {
            self.sp = meas;
            self.sp_v = 0.0;
            self.sp_a = 0.0;
            self.target = meas;
        }

        // --- Controller and bridge.
        let r_w = self.k.r_ref * (1.0 + self.k.r_alpha * (self.temp_c - self.k.r_tref));
        // Off the controller's dependency chain.
        let inv_r = 1.0 / r_w;
        let (v_bridge, i) = if self.torque_on {
            let v = self.control(r_w, supply_v);
            (v, (v - self.k.ke * self.omega_m) * inv_r)
        } else {
            (0.0, 0.0)
        };
        self.voltage_v = v_bridge;
        self.current_a = i;

        // --- Plant.
        self.mechanics(self.k.kt * i, dt);

        // --- Thermal.
        let (inv_rth, amb) = if self.is_injected(Fault::Overheat) {
            (self.k.inj_inv_rth, self.k.inj_ambient)
        } else {
            (self.k.inv_rth, self.k.ambient)
        };
        self.temp_c += dt * self.k.inv_cth * (i * i * r_w - (self.temp_c - amb) * inv_rth);
        self.time_s += dt;
    }

    fn check_motion_faults(&mut self, dt: f64) {
        let k = &self.k;
        let i_abs = self.current_a.abs();
        let v_abs = self.v_hat.abs();
        let meas = self.meas;

        if i_abs >= k.stall_frac * self.ilim && v_abs < k.stall_vel {
            self.stall_t += dt;
        } else {
            self.stall_t = 0.0;
        }
        if (self.sp - meas).abs() > k.follow_err {
            self.follow_t += dt;
        } else {
            self.follow_t = 0.0;
        }
        let x = if k.tendon { meas } else { meas.abs() };
        if x >= k.nl_min && v_abs < k.stall_vel && self.sp_v == 0.0 {
            if i_abs < k.nl_frac * k.expected_load_current(x) {
                self.noload_t += dt;
            } else {
                self.noload_t = 0.0;
            }
        } else {
            self.noload_t = 0.0;
        }

        let (stall, follow, noload) = (
            self.stall_t >= k.stall_time,
            self.follow_t > k.follow_time,
            self.noload_t >= k.nl_time,
        );
        if noload {
            self.raise(FaultFlags::NO_LOAD);
        }
        if stall {
            self.raise(FaultFlags::STALL);
        }
        if follow {
            self.raise(FaultFlags::FOLLOWING);
        }
    }

    fn advance_setpoint(&mut self, dt: f64) {
        self.since_cmd += dt;
        let (p, v, a) = if self.prof.active {
            self.prof.t += dt;
            if self.prof.t >= self.prof.dur - PROFILE_END_EPS_S {
                self.prof.active = false;
                // Keep the end velocity for this tick so that a target arriving
                // right now continues with a continuous velocity.
                (self.prof.p1, self.prof.v1, 0.0)
            } else {
                self.prof.eval(self.prof.t)
            }
        } else {
            (self.target, 0.0, 0.0)
        };
        let max_step = self.vmax * dt;
        let dp = p - self.sp;
        if dp.abs() > max_step {
            self.sp += max_step.copysign(dp);
            self.sp_v = self.vmax.copysign(dp);
            self.sp_a = 0.0;
        } else {
            self.sp = p;
            self.sp_v = v;
            self.sp_a = a;
        }
        self.sp = self.sp.clamp(self.min, self.max);
    }

    /// Position PID -> current command -> current loop -> bridge voltage.
    #[inline]
    fn control(&mut self, r_w: f64, supply_v: f64) -> f64 {
        let k = &self.k;
        let dt = self.dtc.dt;
        let ilim = self.ilim;
        let e = self.sp - self.meas;
        let e_dot = self.sp_v - self.v_hat;
        let i_ff = k.ff_v * self.sp_v + k.ff_a * self.sp_a + self.load_feedforward();
        let i_unsat = i_ff + self.kp * e + self.ki * self.integ + self.kd * e_dot;
        let i_cmd = i_unsat.clamp(-ilim, ilim);
        // Conditional integration (anti-windup).
        if !((i_unsat > ilim && e > 0.0) || (i_unsat < -ilim && e < 0.0)) {
            self.integ += e * dt;
            if self.ki > 0.0 {
                let lim = ilim / self.ki;
                self.integ = self.integ.clamp(-lim, lim);
            }
        }
        // Current loop: model feed-forward (R at the estimated winding
        // temperature, back-EMF from the velocity estimate) plus an integral
        // correction on the measured current.
        let w_hat = self.v_hat * k.motor_rad_per_norm;
        let v_cmd = r_w * i_cmd + k.ke * w_hat + self.v_int;
        let v = v_cmd.clamp(-supply_v, supply_v);
        let i_err = i_cmd - self.current_a;
        if !((v_cmd >= supply_v && i_err > 0.0) || (v_cmd <= -supply_v && i_err < 0.0)) {
            self.v_int = (self.v_int + self.dtc.cur_g * r_w * i_err).clamp(-supply_v, supply_v);
        }
        v
    }

    /// Model-based feed-forward of the skin load and the gearbox losses at
    /// the setpoint (the firmware's calibrated copy of the nominal skin
    /// model, scaled by `ff_load_gain`), A.
    #[inline]
    fn load_feedforward(&self) -> f64 {
        let k = &self.k;
        if k.ff_load == 0.0 {
            return 0.0;
        }
        let (mut f, _) = k.skin_force(self.sp * k.out_rad_per_norm);
        if k.tendon {
            f = f.max(0.0);
        }
        let tau_l = f * k.r_m * k.inv_n;
        // Blend the direction-dependent terms in over +-0.1 norm/s.
        let w = (self.sp_v * 10.0).clamp(-1.0, 1.0);
        let eff = if w * tau_l >= 0.0 {
            1.0 + w.abs() * k.loss_fwd
        } else {
            1.0 - w.abs() * k.loss_back
        };
        k.ff_load * (tau_l * eff + w * k.coulomb) * k.inv_kt
    }

    /// Rotor + gearbox (efficiency, Coulomb/viscous friction, backlash) +
    /// massless skin (spring, preload, damper) + tendon (tension only) +
    /// jam / torn-tendon faults. Semi-implicit Euler with Karnopp stiction.
    #[inline]
    fn mechanics(&mut self, tau_m: f64, dt: f64) {
        let k = &self.k;
        let torn = self.injected & Fault::TornTendon.mask() != 0;
        let jam = self.jam_lock;
        let g = self.theta_m * k.inv_n;
        let g_dot = self.omega_m * k.inv_n;
        let s = self.skin;
        let (fs, dfs) = k.skin_force(s);

        // Which face (if any) of the gear carries the skin this tick.
        let mut coupled = 0i8;
        let mut load_n = 0.0;
        if !torn && jam.is_none() {
            let t_c = fs + k.c * g_dot * k.r_m;
            if s <= g - k.beta + CONTACT_EPS && t_c >= 0.0 {
                coupled = -1;
                load_n = t_c;
            } else if !k.tendon && s >= g + k.beta - CONTACT_EPS && t_c <= 0.0 {
                coupled = 1;
                load_n = t_c;
            }
        }

        // Motor side: J dw/dt = tau_m - tau_load - friction(direction, load).
        let tau_l = load_n * k.r_m * k.inv_n;
        let drive = tau_m - tau_l;
        let w = self.omega_m;
        let dir = if w != 0.0 { w.signum() } else { drive.signum() };
        let loss = if dir * tau_l > 0.0 {
            k.loss_fwd
        } else {
            k.loss_back
        };
        let fric = k.coulomb + tau_l.abs() * loss;
        let mut w_new = if w == 0.0 {
            if drive.abs() <= fric {
                0.0
            } else {
                (drive - dir * fric) * k.inv_j * dt
            }
        } else {
            let wn = w + (drive - dir * fric - k.viscous * w) * k.inv_j * dt;
            if wn * w < 0.0 { 0.0 } else { wn }
        };
        let mut theta = self.theta_m + w_new * dt;
        if let Some(lock) = jam {
            let hi = (lock + k.beta) * k.n;
            let lo = (lock - k.beta) * k.n;
            if theta > hi {
                theta = hi;
                w_new = w_new.min(0.0);
            } else if theta < lo {
                theta = lo;
                w_new = w_new.max(0.0);
            }
        }
        self.theta_m = theta;
        self.omega_m = w_new;
        let g_new = theta * k.inv_n;

        // Skin side.
        match coupled {
            -1 => {
                self.skin = g_new - k.beta;
                self.tension_n = load_n;
            }
            1 => {
                self.skin = g_new + k.beta;
                self.tension_n = load_n;
            }
            _ => {
                // Free skin relaxes through its damper: c r ds/dt = -F(s),
                // linearised implicit step (stable for any dt).
                let rate = k.inv_c_r * dt;
                let s_free = s - fs * rate / (1.0 + dfs * rate);
                let (s_new, tension) = if torn {
                    (s_free, 0.0)
                } else if let Some(lock) = jam {
                    if !k.tendon || s_free <= lock {
                        (lock, k.skin_force(lock).0)
                    } else {
                        (s_free, 0.0)
                    }
                } else if k.tendon {
                    (s_free.max(g_new - k.beta), 0.0)
                } else {
                    (s_free.clamp(g_new - k.beta, g_new + k.beta), 0.0)
                };
                self.skin = s_new;
                self.tension_n = tension;
            }
        }
    }

    /// Encoder glitch: uniform noise plus occasional one-tick spikes, counts.
    fn glitch(&mut self, dt: f64) -> i64 {
        let k = &self.k;
        let (noise, rate, gmin, gmax) = (k.glitch_noise, k.glitch_rate, k.glitch_min, k.glitch_max);
        let mut off = 0.0;
        if noise > 0.0 {
            off += (2.0 * uniform(&mut self.rng) - 1.0) * noise;
        }
        if uniform(&mut self.rng) < rate * dt {
            let mag = gmin + uniform(&mut self.rng) * (gmax - gmin);
            off += if uniform(&mut self.rng) < 0.5 {
                -mag
            } else {
                mag
            };
        }
        off.round() as i64
    }
}
