//! Face rig: the default face (generated), glTF import/export, landmarks, and the muscle
//! deformation that turns actuator positions into skin motion. Bevy-free.
//!
//! Frames and units: metres, right-handed, +Y up, +Z forward (the face looks toward +Z),
//! +X toward the head's left (the viewer's right when facing it). The origin is the centre of the
//! head at eye height, midway between the ears.

pub mod deform;
pub mod face;
pub mod generate;
pub mod gltf_io;
pub mod landmarks;
pub mod mesh;
pub mod rig;

pub use mesh::FaceMesh;
