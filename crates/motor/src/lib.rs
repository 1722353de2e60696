//! # facetwin-motor — one facial micro-motor channel, simulated
//!
//! A Bevy-free, deterministic model of one channel of an expressive robot
//! face: a coreless 8 mm DC micro-motor with a ~100:1 planetary gearhead
//! winding a tendon on a spool that pulls silicone skin, driven by a small
//! firmware (trajectory generator, position PID, current loop, protection).
//! The default parameters ([`DEFAULT_PARAMS_RON`],
//! `crates/motor/params/default.motor.ron`) come from the FAULHABER
//! 0816 K 006 SR datasheet plus typical 8 mm planetary-gearhead values; the
//! file cites its sources.
//!
//! ## Units and conventions
//!
//! * **Position** is *normalised travel*: `0.0` = neutral (the skin at rest),
//!   `+1.0` = `travel_mm` of tendon pulled in (full contraction), negative =
//!   extension (bidirectional channels) or paid-out slack (tendon channels).
//!   Run-time limits `min_norm..max_norm` (default `-0.25..1.0`).
//! * Velocity in normalised travel per second, current in A, voltage in V,
//!   temperature in °C, force in N, time in s. Parameter names carry units.
//! * Internally everything is `f64`; the public snapshot ([`ChannelState`])
//!   is `f32`.
//! * Fault bits ([`FaultFlags`]) are the wire protocol's values.
//!
//! ## Plant
//!
//! **Electrical** (quasi-static). The rotor inductance gives L/R = 217 µH /
//! 21.2 Ω ≈ 10 µs, ten times shorter than the 100 µs controller tick, so the
//! current settles within a tick and `L di/dt` is dropped:
//!
//! ```text
//! i = (V − kE·ω) / R(T),   R(T) = R₂₂·(1 + 0.0039·(T − 22 °C)),   |V| ≤ V_supply
//! ```
//!
//! (integrating `L di/dt` explicitly at 10 kHz would also be unstable).
//! With torque off, after a fault that drops torque, or without supply the
//! bridge *coasts*: `i = 0`, no back-EMF braking.
//!
//! **Mechanical**, at the motor shaft (angle θ, speed ω, gear ratio N, spool
//! radius r):
//!
//! ```text
//! J·dω/dt = kM·i − τ_L − sgn(ω)·(τ_C + τ_loss) − b·ω,     τ_L = F·r / N
//! τ_loss  = |τ_L|·(1/η_fwd − 1)   when the motor drives the load
//!         = |τ_L|·(1 − η_back)    when the load back-drives the motor
//! ```
//!
//! `τ_C` is the motor's friction torque plus the gearhead's own friction
//! reflected through N. Friction is Karnopp-style: at ω = 0 the shaft stays
//! put while the net torque is inside the friction band (so a 100:1 gearmotor
//! is only just back-drivable — the skin preload is sized for it). Integration
//! is semi-implicit Euler at the controller tick.
//!
//! **Backlash**: the gearbox output may sit anywhere within ±β (half the
//! backlash) of θ/N. **Skin**: a massless spring–damper with preload,
//!
//! ```text
//! F(x) = k·x + F₀·clamp(x / x_p, −1, 1),      tension = F(x) + c·ẋ
//! ```
//!
//! (the preload F₀ fades over ±`preload_transition_norm` so the force is
//! continuous through neutral). While the gear face carries the skin, the
//! skin moves with the gear and the tension loads the motor. When the tension
//! that would need is negative the skin separates and relaxes on its own,
//! `c·ẋ = −F(x)` (implicit step). For [`ChannelKind::Tendon`] the tendon is
//! tension-only: it can only pull, paying out faster than the skin relaxes
//! makes slack, the skin never goes below neutral, and the constant pull keeps
//! the backlash taken up (so the encoder, calibrated for a loaded tendon,
//! reads the skin position). For [`ChannelKind::Bidirectional`] (jaw, eyes)
//! the linkage pushes and pulls and the backlash shows as play at reversals.
//!
//! **Encoder**: magnetic, on the motor shaft, `counts_per_rev` counts; the
//! measured position is the count times `2π/(cpr·N)` output rad, converted to
//! normalised travel (8149 counts per unit with the defaults).
//!
//! **Thermal**: first-order winding model
//! `C_th·dT/dt = i²·R(T) − (T − T_amb)/R_th` with R_th = Rth1 + Rth2 and
//! C_th = winding capacity only (τw1/Rth1). This heats faster than the real
//! two-body motor (conservative for protection) and has the right steady
//! state.
//!
//! ## Firmware
//!
//! Runs once per [`Channel::step`] (nominally 10 kHz, `dt_s = 1e-4`; other
//! step sizes work, the defaults are tuned for this one). A new channel starts
//! with torque off; [`Channel::set_torque`]`(true)` starts holding the
//! measured position. While torque is off the setpoint follows the measured
//! position and targets are not executed.
//!
//! 1. **Sensing**: encoder count, plausibility check (a jump above 1.5× the
//!    no-load speed ⇒ `ENCODER`), 2nd-order tracking observer for velocity.
//! 2. **Protection**: `POWER` (supply below `undervoltage_v`), `OVERHEAT`
//!    (winding ≥ `cutoff_c`), `STALL` (|i| ≥ 90 % of the limit with no motion
//!    for 100 ms), `FOLLOWING` (|setpoint − measured| > threshold for longer
//!    than a time), `NO_LOAD` (at a contracted position, standing still, the
//!    current stays below 30 % of what the nominal skin model needs). Every
//!    bit except `NO_LOAD` drops torque ([`FaultFlags::DROPS_TORQUE`]).
//! 3. **Trajectory**: [`Channel::set_target`] plans a cubic Hermite segment
//!    from the current *setpoint* and setpoint velocity to the target,
//!    arriving after `time_to_target_s`; the time is stretched if the segment
//!    would exceed `max_velocity_norm_s`. `time_to_target_s = 0` means the
//!    shortest segment that respects the velocity limit and the profile
//!    acceleration limit `max_accel_norm_s2`. Targets that come at a steady
//!    rate (spacing ≤ 1.5 × time-to-target) form a stream: the end velocity of
//!    each segment is the slope of the parabola through the last three
//!    targets, so segments join with continuous velocity and a 100 Hz stream
//!    with 10 ms time-to-target produces smooth motion that passes through
//!    every target 10 ms after it was sent. When a stream stops, the setpoint
//!    stops at the last target (one velocity step). A per-tick rate limit
//!    guarantees the setpoint never exceeds the velocity limit.
//! 4. **Position PID → current command**:
//!    `i* = clamp(i_ff + kp·e + ki·∫e + kd·(v_sp − v̂), ±I_lim)` with
//!    `e = setpoint − measured` and conditional-integration anti-windup
//!    (`kp`, `ki`, `kd`, the limits and the velocity limit are the
//!    host-settable [`ChannelConfig`]). The feed-forward
//!    `i_ff = ff_v·v_sp + ff_a·a_sp + ff_load·(F(x_sp)·r/N·η(v_sp) + τ_C·sgn(v_sp))/kM`
//!    uses the firmware's copy of the nominal skin model (gain 0.8 by
//!    default: deliberately imperfect calibration); it matters because the
//!    gearbox's efficiency band makes the holding current depend on the
//!    direction of motion.
//! 5. **Current loop**: `V = R(T)·i* + kE·ω̂ + V_I`, where `V_I` integrates the
//!    current error at `current_loop_hz`; `V` saturates at the supply.
//!
//! ## Faults
//!
//! [`Channel::inject`] ([`Fault`]): `Jam` locks the gearbox output (the motor
//! keeps the backlash play; current climbs to the limit and `STALL` follows
//! ~100 ms later), `TornTendon` disconnects the skin (it relaxes to neutral,
//! the motor runs unloaded, `NO_LOAD` at contracted positions),
//! `EncoderGlitch` adds count noise and random one-tick spikes (seeded
//! xorshift per channel; `ENCODER`), `Overheat` multiplies R_th and raises
//! the ambient (the winding really heats under load and trips `OVERHEAT`),
//! `PowerLoss` sets the supply to 0 V (`POWER`, coast). [`Channel::clear_faults`]
//! clears latched bits whose cause is gone; `WATCHDOG`/`ESTOP` belong to the
//! head ([`Channel::set_fault_flag`]).
//!
//! ## Determinism and cost
//!
//! No wall clock, no global state, no allocation in [`Channel::step`]: the
//! same parameters, seed and calls give bit-identical states. A tick is about
//! a hundred floating-point operations with one division (two while the skin
//! moves on its own); [`realtime_factor`] measures the speed of a bank.

mod bank;
mod channel;
mod faults;
pub mod params;

pub use bank::{MotorBank, realtime_factor};
pub use channel::{Channel, ChannelConfig, ChannelState};
pub use faults::{Fault, FaultFlags};
pub use params::{ChannelKind, ChannelParams, DEFAULT_PARAMS_RON, ParamsError};
