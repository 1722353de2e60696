//! A face ready to rig: its mesh, its landmarks and where it came from.
//!
//! [`load_face`] reads any glTF 2.0 file (`.glb` / `.gltf`), validates it, and takes the
//! landmarks from its `landmark.<name>` nodes, estimating whatever is missing from the mesh
//! itself. [`default_face`] loads the shipped default face (or generates it when the asset is
//! missing).

use std::path::{Path, PathBuf};

use crate::FaceMesh;
use crate::generate;
use crate::gltf_io;
use crate::landmarks::{self, Landmarks, REQUIRED};

/// Fewest vertices a loadable face may have.
pub const MIN_VERTICES: usize = 500;
/// Most vertices a loadable face may have.
pub const MAX_VERTICES: usize = 500_000;

/// Largest bounding-box side accepted (metres); anything bigger is not a head in metres.
pub const MAX_EXTENT_M: f32 = 1000.0;

/// Everything that can go wrong getting a face. Every file-related message names the file.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("face file {}: not found", .path.display())]
    NotFound { path: PathBuf },
    #[error("face file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("face file {}: not a readable glTF 2.0 file: {message}", .path.display())]
    NotGltf { path: PathBuf, message: String },
    #[error(
        "face file {}: no triangle mesh in its default scene (points, lines or empty nodes only)",
        .path.display()
    )]
    NoTriangleMesh { path: PathBuf },
    #[error(
        "face file {}: {count} vertices is too few for a face (at least {min} needed)",
        .path.display()
    )]
    TooFewVertices {
        path: PathBuf,
        count: usize,
        min: usize,
    },
    #[error(
        "face file {}: {count} vertices is too many (at most {max}); decimate the mesh first",
        .path.display()
    )]
    TooManyVertices {
        path: PathBuf,
        count: usize,
        max: usize,
    },
    #[error("face file {}: {count} vertex positions are NaN or infinite", .path.display())]
    NonFinitePositions { path: PathBuf, count: usize },
    #[error(
        "face file {}: degenerate bounding box {:?} m (flat, empty or absurdly large mesh)",
        .path.display(), .size
    )]
    DegenerateBounds { path: PathBuf, size: [f32; 3] },
    #[error(
        "face file {}: does not look like a face looking toward +Z (bounding box {:?} m, \
         width x height x depth): {reason}; export it with +Y up and the face toward +Z, in metres",
        .path.display(), .size
    )]
    NotFacingPlusZ {
        path: PathBuf,
        size: [f32; 3],
        reason: String,
    },
    #[error("face file {}: invalid mesh: {message}", .path.display())]
    InvalidMesh { path: PathBuf, message: String },
    #[error("face file {}: unusable landmarks: {message}", .path.display())]
    BadLandmarks { path: PathBuf, message: String },
    #[error("cannot write face file {}: {message}", .path.display())]
    Write { path: PathBuf, message: String },
    #[error("landmark `{name}` is missing")]
    MissingLandmark { name: String },
    #[error("landmark `{name}` is invalid: {reason}")]
    InvalidLandmark { name: String, reason: String },
}

/// A face ready to rig.
#[derive(Debug, Clone)]
pub struct Face {
    pub mesh: FaceMesh,
    pub landmarks: Landmarks,
    /// The file it was loaded from (for a face generated in memory: [`GENERATED_SOURCE`]).
    pub source: PathBuf,
}

/// `Face::source` of a face generated in memory.
pub const GENERATED_SOURCE: &str = "<generated default face>";

/// Where the shipped default face lives: `assets/faces/default_face.glb` at the workspace root.
pub fn default_face_path() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| crate_dir.join("..").join(".."), Path::to_path_buf);
    root.join("assets").join("faces").join("default_face.glb")
}

/// The default face: loaded from [`default_face_path`], or generated in memory when that file is
/// missing. A file that exists but does not load is an error (it is not silently replaced).
pub fn default_face() -> Result<Face, FaceError> {
    let path = default_face_path();
    if path.exists() {
        load_face(&path)
    } else {
        let g = generate::generate_default_face();
        Ok(Face {
            mesh: g.mesh,
            landmarks: g.landmarks,
            source: PathBuf::from(GENERATED_SOURCE),
        })
    }
}

/// Loads a face from a `.glb` / `.gltf` file: merges all triangle primitives of the default
/// scene (world space), validates the mesh, reads the `landmark.<name>` nodes and estimates any
/// [`REQUIRED`] landmark that is missing (see [`estimate_landmarks`]).
pub fn load_face(path: &Path) -> Result<Face, FaceError> {
    let imported = gltf_io::read_gltf(path)?;
    let mesh = imported.mesh;
    validate_mesh(path, &mesh)?;

    let mut lm = Landmarks::new(
        imported
            .eye_radius_m
            .unwrap_or(landmarks::DEFAULT_EYE_RADIUS_M),
    );
    for (name, p) in imported.landmarks {
        if p.iter().all(|c| c.is_finite()) {
            lm.insert(name, p);
        }
    }
    if !lm.is_complete() {
        let estimate = estimate_landmarks(&mesh);
        for name in lm.missing() {
            if let Some(p) = estimate.get(name)
                && p.iter().all(|c| c.is_finite())
            {
                lm.insert(name, p);
            }
        }
        if imported.eye_radius_m.is_none() {
            lm.eye_radius_m = estimate.eye_radius_m;
        }
    }
    lm.validate().map_err(|e| FaceError::BadLandmarks {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Face {
        mesh,
        landmarks: lm,
        source: path.to_path_buf(),
    })
}

/// Checks a merged mesh against what a face must be; `path` only names the file in errors.
pub fn validate_mesh(path: &Path, mesh: &FaceMesh) -> Result<(), FaceError> {
    let path_buf = || path.to_path_buf();
    if mesh.indices.len() < 3 || mesh.positions.is_empty() {
        return Err(FaceError::NoTriangleMesh { path: path_buf() });
    }
    let n = mesh.positions.len();
    if n < MIN_VERTICES {
        return Err(FaceError::TooFewVertices {
            path: path_buf(),
            count: n,
            min: MIN_VERTICES,
        });
    }
    if n > MAX_VERTICES {
        return Err(FaceError::TooManyVertices {
            path: path_buf(),
            count: n,
            max: MAX_VERTICES,
        });
    }
    let bad = mesh
        .positions
        .iter()
        .filter(|p| !p.iter().all(|c| c.is_finite()))
        .count();
    if bad > 0 {
        return Err(FaceError::NonFinitePositions {
            path: path_buf(),
            count: bad,
        });
    }
    let invalid = |message: String| FaceError::InvalidMesh {
        path: path_buf(),
        message,
    };
    if !mesh.indices.len().is_multiple_of(3) {
        return Err(invalid(format!(
            "{} indices is not a multiple of 3",
            mesh.indices.len()
        )));
    }
    if let Some(i) = mesh.indices.iter().find(|&&i| i as usize >= n) {
        return Err(invalid(format!("index {i} out of range for {n} vertices")));
    }
    if mesh.normals.len() != n || mesh.uvs.len() != n {
        return Err(invalid(format!(
            "{} normals and {} uvs for {n} vertices",
            mesh.normals.len(),
            mesh.uvs.len()
        )));
    }
    if let Some(c) = &mesh.colors
        && c.len() != n
    {
        return Err(invalid(format!("{} colours for {n} vertices", c.len())));
    }
    let (lo, hi) = bounds(&mesh.positions);
    let size = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    if size
        .iter()
        .any(|s| !(s.is_finite() && *s > 1e-4 && *s < MAX_EXTENT_M))
    {
        return Err(FaceError::DegenerateBounds {
            path: path_buf(),
            size,
        });
    }
    let facing = |reason: String| FaceError::NotFacingPlusZ {
        path: path_buf(),
        size,
        reason,
    };
    if size[2] > 2.0 * size[1] {
        return Err(facing(
            "it is more than twice as deep as it is tall".to_owned(),
        ));
    }
    if size[0] > 4.0 * size[1] {
        return Err(facing(
            "it is more than four times as wide as it is tall".to_owned(),
        ));
    }
    Ok(())
}

/// Axis-aligned bounds (min, max) of a point set.
pub fn bounds(positions: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [f32::MAX; 3];
    let mut hi = [f32::MIN; 3];
    for p in positions {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    (lo, hi)
}

/// Bounding box of the shipped default face (min, max), the reference for [`estimate_landmarks`].
pub const DEFAULT_FACE_BOUNDS: ([f32; 3], [f32; 3]) =
    ([-0.0887, -0.175, -0.1098], [0.0887, 0.1205, 0.1165]);

/// Estimates the full [`REQUIRED`] landmark set of a face looking toward +Z from its mesh alone:
/// the default face's landmarks are scaled by the median ratio of the bounding-box sizes,
/// anchored at the nose tip (the most forward vertex near the midline), and every surface
/// landmark is snapped to the mesh along the ray from the front (to the hit nearest the
/// prediction). Interior landmarks keep their scaled positions.
pub fn estimate_landmarks(mesh: &FaceMesh) -> Landmarks {
    let reference = generate::default_landmarks();
    let (lo, hi) = bounds(&mesh.positions);
    let (rlo, rhi) = DEFAULT_FACE_BOUNDS;
    let mut ratios = [0.0f32; 3];
    for a in 0..3 {
        ratios[a] = (hi[a] - lo[a]) / (rhi[a] - rlo[a]);
    }
    ratios.sort_by(f32::total_cmp);
    let s = if ratios[1].is_finite() && ratios[1] > 0.0 {
        ratios[1]
    } else {
        1.0
    };
    let cx = 0.5 * (lo[0] + hi[0]);
    let width = hi[0] - lo[0];

    // Nose tip: most forward vertex in the central band.
    let mut tip: Option<[f32; 3]> = None;
    for p in &mesh.positions {
        if (p[0] - cx).abs() < 0.08 * width && tip.is_none_or(|t| p[2] > t[2]) {
            tip = Some(*p);
        }
    }
    let ref_tip = reference.get("nose_tip").unwrap_or([0.0, -0.035, 0.118]);
    let tip = tip.unwrap_or([cx, 0.5 * (lo[1] + hi[1]), hi[2]]);

    let mut out = Landmarks::new(reference.eye_radius_m * s);
    for &name in REQUIRED {
        let Some(r) = reference.get(name) else {
            continue;
        };
        let predicted = [
            cx + s * r[0],
            tip[1] + s * (r[1] - ref_tip[1]),
            tip[2] + s * (r[2] - ref_tip[2]),
        ];
        let p = if landmarks::is_surface(name) {
            snap_from_front(mesh, predicted, hi[2] + 1.0).unwrap_or(predicted)
        } else {
            predicted
        };
        out.insert(name, p);
    }
    out
}

/// The intersection of the ray through `(p.x, p.y)` toward -Z with the mesh that is nearest to
/// `p.z`.
fn snap_from_front(mesh: &FaceMesh, p: [f32; 3], z_start: f32) -> Option<[f32; 3]> {
    let (x, y) = (p[0], p[1]);
    let mut best: Option<f32> = None;
    for t in mesh.indices.chunks_exact(3) {
        let (Some(a), Some(b), Some(c)) = (
            mesh.positions.get(t[0] as usize),
            mesh.positions.get(t[1] as usize),
            mesh.positions.get(t[2] as usize),
        ) else {
            continue;
        };
        if x < a[0].min(b[0]).min(c[0])
            || x > a[0].max(b[0]).max(c[0])
            || y < a[1].min(b[1]).min(c[1])
            || y > a[1].max(b[1]).max(c[1])
        {
            continue;
        }
        // Barycentrics in the XY projection.
        let d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
        if d.abs() < 1e-18 {
            continue;
        }
        let l0 = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / d;
        let l1 = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / d;
        let l2 = 1.0 - l0 - l1;
        let eps = -1e-6;
        if l0 < eps || l1 < eps || l2 < eps {
            continue;
        }
        let z = l0 * a[2] + l1 * b[2] + l2 * c[2];
        if z > z_start {
            continue;
        }
        if best.is_none_or(|bz| (z - p[2]).abs() < (bz - p[2]).abs()) {
            best = Some(z);
        }
    }
    best.map(|z| [x, y, z])
}
