//! The default face and its deformer, built once per process, for `MeshNear`.

use facetwin_rig::FaceMesh;
use facetwin_rig::deform::Deformer;
use facetwin_rig::rig::Rig;
use std::sync::{Mutex, OnceLock, PoisonError};

struct RigState {
    deformer: Deformer,
    a: FaceMesh,
    b: FaceMesh,
}

static RIG: OnceLock<Result<Mutex<RigState>, String>> = OnceLock::new();

fn build() -> Result<Mutex<RigState>, String> {
    let face = facetwin_rig::face::default_face().map_err(|e| e.to_string())?;
    let deformer = Deformer::new(&face.mesh, &face.landmarks, &Rig::default_rig())
        .map_err(|e| e.to_string())?;
    let a = deformer.rest().clone();
    let b = a.clone();
    Ok(Mutex::new(RigState { deformer, a, b }))
}

/// Builds the default face and its deformer now (once per process), so that a scene's timing
/// does not include loading it.
pub(crate) fn preload() {
    let _ = RIG.get_or_init(build);
}

/// Deforms the default face by `measured` and by `reference` (normalised travel per channel) and
/// returns the largest vertex distance in millimetres, and that vertex.
pub(crate) fn max_distance_mm(measured: &[f32], reference: &[f32]) -> Result<(f32, usize), String> {
    let rig = RIG.get_or_init(build).as_ref().map_err(Clone::clone)?;
    let mut guard = rig.lock().unwrap_or_else(PoisonError::into_inner);
    let RigState { deformer, a, b } = &mut *guard;
    deformer.apply(measured, a);
    deformer.apply(reference, b);
    let mut worst = (0.0f32, 0usize);
    for (i, (p, q)) in a.positions.iter().zip(&b.positions).enumerate() {
        let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
        if d > worst.0 {
            worst = (d, i);
        }
    }
    Ok((worst.0 * 1000.0, worst.1))
}
