//! # facetwin-authoring — the designer's workbench, without Bevy
//!
//! Everything a face designer edits, checked against the motor model:
//!
//! * [`au`]: FACS action units (AU1 … AU45, with L/R variants) mapped to the
//!   25 actuator channels by an editable RON table
//!   (`assets/au/default.au.ron`).
//! * [`expression`]: named sets of AU intensities and direct channel
//!   positions (`assets/expressions/*.expr.ron`), blending, mirroring,
//!   saving a pose as an expression.
//! * [`timeline`] and [`clip`]: keyframe tracks per channel or per AU (Step,
//!   Linear, cubic Bezier with time-monotonic handles), clips sampled into
//!   poses, micro-expression templates, `*.clip.ron` files.
//! * [`editor`]: every clip edit as a command with undo and redo.
//! * [`playback`] and [`feasibility`]: a clip channel played through the
//!   simulated motor ([`facetwin_motor::Channel`] at 10 kHz, targets streamed
//!   like the host does); keys beyond travel, segments too fast for the
//!   velocity limit or over the current limit, tracking error.
//! * [`livelink`] and [`fit`]: Live Link Face CSV → ARKit 52 → AUs →
//!   actuators through a bounded least-squares fit.
//!
//! Poses are `Vec<f32>` in the head's channel order
//! ([`layout::ChannelLayout`], by default
//! [`facetwin_head::DEFAULT_CHANNELS`]), normalised travel
//! (0 = neutral).

pub mod au;
pub mod clip;
pub mod editor;
pub mod error;
pub mod expression;
pub mod feasibility;
pub mod fit;
pub mod layout;
pub mod livelink;
pub mod playback;
pub mod timeline;

pub use au::{AuDef, AuId, AuTable, AuUnit, Side, UnknownAu};
pub use clip::Clip;
pub use editor::{Clipboard, Edit, EditCommand, EditError, EditOp, Editor, KeyId};
pub use error::FileError;
pub use expression::{Expression, ExpressionLibrary, blend, mirror};
pub use feasibility::{
    ChannelReport, FeasibilityCache, FeasibilityOptions, FeasibilityReport, Issue, IssueKind,
    check_clip,
};
pub use fit::{BoundedFit, FitStats};
pub use layout::ChannelLayout;
pub use livelink::{
    ArkitMapping, Capture, ImportError, ImportOptions, Retargeter, Smoothing, import_livelink,
    synthetic_take_csv,
};
pub use playback::{ChannelTrace, PlaybackOptions, measure_lag_ms, simulate_clip_channel};
pub use timeline::{Handle, Interpolation, Key, Track, TrackTarget};
