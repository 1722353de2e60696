//! Fault bits (wire-protocol values) and injectable fault causes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// Latched fault bits of one channel.
///
/// The bit values are part of the wire protocol and must never change.
/// `WATCHDOG` and `ESTOP` are owned by the head (set and cleared through
/// [`crate::Channel::set_fault_flag`]); every other bit is raised by the
/// simulated firmware inside [`crate::Channel::step`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultFlags(pub u8);

impl FaultFlags {
    /// Winding temperature above the cut-off.
    pub const OVERHEAT: FaultFlags = FaultFlags(1 << 0);
    /// Current at the limit without motion for too long (jammed output).
    pub const STALL: FaultFlags = FaultFlags(1 << 1);
    /// Implausible encoder jump.
    pub const ENCODER: FaultFlags = FaultFlags(1 << 2);
    /// Current far below the expected skin load at a contracted position (torn tendon).
    pub const NO_LOAD: FaultFlags = FaultFlags(1 << 3);
    /// Motor supply lost.
    pub const POWER: FaultFlags = FaultFlags(1 << 4);
    /// Tracking error beyond threshold for too long.
    pub const FOLLOWING: FaultFlags = FaultFlags(1 << 5);
    /// Host link watchdog expired (set by the head).
    pub const WATCHDOG: FaultFlags = FaultFlags(1 << 6);
    /// Emergency stop (set by the head).
    pub const ESTOP: FaultFlags = FaultFlags(1 << 7);

    /// No fault.
    pub const NONE: FaultFlags = FaultFlags(0);
    /// Every bit.
    pub const ALL: FaultFlags = FaultFlags(0xff);
    /// Bits the head owns (`WATCHDOG | ESTOP`).
    pub const EXTERNAL: FaultFlags = FaultFlags(Self::WATCHDOG.0 | Self::ESTOP.0);
    /// Bits that switch the bridge off when raised (everything but `NO_LOAD`,
    /// which is a warning only). While any of them is latched,
    /// [`crate::Channel::set_torque`]`(true)` is refused.
    pub const DROPS_TORQUE: FaultFlags = FaultFlags(!Self::NO_LOAD.0);

    const NAMES: [(FaultFlags, &'static str); 8] = [
        (Self::OVERHEAT, "OVERHEAT"),
        (Self::STALL, "STALL"),
        (Self::ENCODER, "ENCODER"),
        (Self::NO_LOAD, "NO_LOAD"),
        (Self::POWER, "POWER"),
        (Self::FOLLOWING, "FOLLOWING"),
        (Self::WATCHDOG, "WATCHDOG"),
        (Self::ESTOP, "ESTOP"),
    ];

    /// Raw bits.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: FaultFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any bit of `other` is set in `self`.
    #[inline]
    pub const fn intersects(self, other: FaultFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Sets the bits of `other`.
    #[inline]
    pub fn insert(&mut self, other: FaultFlags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    #[inline]
    pub fn remove(&mut self, other: FaultFlags) {
        self.0 &= !other.0;
    }

    /// True when no bit is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Names of the set bits, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

impl BitOr for FaultFlags {
    type Output = FaultFlags;
    #[inline]
    fn bitor(self, rhs: FaultFlags) -> FaultFlags {
        FaultFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for FaultFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: FaultFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for FaultFlags {
    type Output = FaultFlags;
    #[inline]
    fn bitand(self, rhs: FaultFlags) -> FaultFlags {
        FaultFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for FaultFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for FaultFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultFlags({:#04x} {})", self.0, self)
    }
}

/// A physical fault cause that can be injected into the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fault {
    /// The gearbox output is mechanically locked (within the backlash play).
    Jam,
    /// The tendon (or jaw linkage) is broken: the skin load is disconnected.
    TornTendon,
    /// The encoder reading jumps and gets noisy.
    EncoderGlitch,
    /// Cooling is blocked: thermal resistance multiplied and ambient raised
    /// (see [`crate::params::FaultInjectionParams`]).
    Overheat,
    /// The motor supply drops to 0 V.
    PowerLoss,
}

impl Fault {
    /// Every injectable fault.
    pub const ALL: [Fault; 5] = [
        Fault::Jam,
        Fault::TornTendon,
        Fault::EncoderGlitch,
        Fault::Overheat,
        Fault::PowerLoss,
    ];

    #[inline]
    pub(crate) const fn mask(self) -> u8 {
        match self {
            Fault::Jam => 1 << 0,
            Fault::TornTendon => 1 << 1,
            Fault::EncoderGlitch => 1 << 2,
            Fault::Overheat => 1 << 3,
            Fault::PowerLoss => 1 << 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_are_fixed() {
        assert_eq!(FaultFlags::OVERHEAT.0, 1);
        assert_eq!(FaultFlags::STALL.0, 2);
        assert_eq!(FaultFlags::ENCODER.0, 4);
        assert_eq!(FaultFlags::NO_LOAD.0, 8);
        assert_eq!(FaultFlags::POWER.0, 16);
        assert_eq!(FaultFlags::FOLLOWING.0, 32);
        assert_eq!(FaultFlags::WATCHDOG.0, 64);
        assert_eq!(FaultFlags::ESTOP.0, 128);
    }

    #[test]
    fn set_operations() {
        let mut f = FaultFlags::NONE;
        assert!(f.is_empty());
        f.insert(FaultFlags::STALL);
        f.insert(FaultFlags::ESTOP);
        assert!(f.contains(FaultFlags::STALL));
        assert!(f.contains(FaultFlags::STALL | FaultFlags::ESTOP));
        assert!(!f.contains(FaultFlags::STALL | FaultFlags::POWER));
        assert!(f.intersects(FaultFlags::STALL | FaultFlags::POWER));
        f.remove(FaultFlags::STALL);
        assert_eq!(f, FaultFlags::ESTOP);
        assert_eq!(f.to_string(), "ESTOP");
        assert_eq!(
            (FaultFlags::OVERHEAT | FaultFlags::NO_LOAD).to_string(),
            "OVERHEAT|NO_LOAD"
        );
        assert!(!FaultFlags::DROPS_TORQUE.contains(FaultFlags::NO_LOAD));
        assert!(FaultFlags::DROPS_TORQUE.contains(FaultFlags::STALL));
    }
}
