//! glTF output and face loading: round trip, landmark estimation, transforms, bad inputs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facetwin_rig::FaceMesh;
use facetwin_rig::face::{
    Face, FaceError, bounds, default_face, default_face_path, estimate_landmarks, load_face,
};
use facetwin_rig::generate::{GeneratedFace, generate_default_face};
use facetwin_rig::gltf_io::{glb_bytes, write_glb};
use facetwin_rig::landmarks::{Landmarks, REQUIRED, is_surface};
use serde_json::{Value, json};

fn face() -> &'static GeneratedFace {
    static FACE: OnceLock<GeneratedFace> = OnceLock::new();
    FACE.get_or_init(generate_default_face)
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("facetwin_face_gltf_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The JSON chunk of a GLB.
fn glb_json(bytes: &[u8]) -> Value {
    assert_eq!(&bytes[0..4], b"glTF");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().expect("4")), 2);
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().expect("4")) as usize,
        bytes.len()
    );
    let len = u32::from_le_bytes(bytes[12..16].try_into().expect("4")) as usize;
    assert_eq!(&bytes[16..20], b"JSON");
    assert_eq!(len % 4, 0);
    serde_json::from_slice(&bytes[20..20 + len]).expect("JSON chunk")
}

// --- A minimal hand-made glTF, for inputs write_glb would never produce -----------------------

#[derive(Default)]
struct Doc {
    positions: Vec<[f32; 3]>,
    indices: Option<Vec<u32>>,
    /// glTF primitive mode (4 = triangles, 0 = points).
    mode: u32,
    normals: bool,
    scale: Option<f32>,
    translation: Option<[f32; 3]>,
    landmarks: Vec<(String, [f32; 3])>,
}

/// JSON (with the buffer at `uri`, or in the GLB blob when `uri` is None) and the binary data.
fn build(doc: &Doc, uri: Option<&str>) -> (Value, Vec<u8>) {
    let mut bin = Vec::new();
    for p in &doc.positions {
        for c in p {
            bin.extend_from_slice(&c.to_le_bytes());
        }
    }
    let pos_len = bin.len();
    let mut views = vec![json!({"buffer": 0, "byteOffset": 0, "byteLength": pos_len})];
    let mut accessors = vec![json!({
        "bufferView": 0, "componentType": 5126, "count": doc.positions.len(), "type": "VEC3"
    })];
    let mut attributes = json!({"POSITION": 0});
    if doc.normals {
        let off = bin.len();
        for _ in &doc.positions {
            for c in [0.0f32, 0.0, 1.0] {
                bin.extend_from_slice(&c.to_le_bytes());
            }
        }
        views.push(json!({"buffer": 0, "byteOffset": off, "byteLength": bin.len() - off}));
        accessors.push(json!({
            "bufferView": views.len() - 1, "componentType": 5126,
            "count": doc.positions.len(), "type": "VEC3"
        }));
        attributes["NORMAL"] = json!(accessors.len() - 1);
    }
    let mut primitive = json!({"attributes": attributes, "mode": doc.mode});
    if let Some(idx) = &doc.indices {
        let off = bin.len();
        for i in idx {
            bin.extend_from_slice(&i.to_le_bytes());
        }
        views.push(json!({"buffer": 0, "byteOffset": off, "byteLength": bin.len() - off}));
        accessors.push(json!({
            "bufferView": views.len() - 1, "componentType": 5125,
            "count": idx.len(), "type": "SCALAR"
        }));
        primitive["indices"] = json!(accessors.len() - 1);
    }
    let mut nodes = vec![json!({"mesh": 0, "name": "head"})];
    if let Some(s) = doc.scale {
        nodes[0]["scale"] = json!([s, s, s]);
    }
    if let Some(t) = doc.translation {
        nodes[0]["translation"] = json!(t);
    }
    let mut children = Vec::new();
    for (name, p) in &doc.landmarks {
        nodes.push(json!({"name": format!("landmark.{name}"), "translation": p}));
        children.push(nodes.len() - 1);
    }
    if !children.is_empty() {
        nodes[0]["children"] = json!(children);
    }
    let mut buffer = json!({"byteLength": bin.len()});
    if let Some(u) = uri {
        buffer["uri"] = json!(u);
    }
    let root = json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": nodes,
        "meshes": [{"primitives": [primitive]}],
        "buffers": [buffer],
        "bufferViews": views,
        "accessors": accessors,
    });
    (root, bin)
}

fn to_glb(json: &Value, bin: &[u8]) -> Vec<u8> {
    let mut j = serde_json::to_vec(json).expect("json");
    while !j.len().is_multiple_of(4) {
        j.push(b' ');
    }
    let mut b = bin.to_vec();
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    let total = 12 + 8 + j.len() + 8 + b.len();
    let mut out = Vec::new();
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(j.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&j);
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&b);
    out
}

fn write_doc_glb(path: &Path, doc: &Doc) {
    let (j, b) = build(doc, None);
    std::fs::write(path, to_glb(&j, &b)).expect("write glb");
}

/// A UV sphere with `n` x `n` quads (for small, valid triangle meshes).
fn sphere(n: usize, r: f32) -> (Vec<[f32; 3]>, Vec<u32>) {
    let mut pos = Vec::new();
    for j in 0..=n {
        for i in 0..n {
            let th = std::f32::consts::PI * j as f32 / n as f32;
            let ph = std::f32::consts::TAU * i as f32 / n as f32;
            pos.push([
                r * th.sin() * ph.cos(),
                r * th.cos(),
                r * th.sin() * ph.sin(),
            ]);
        }
    }
    let mut idx = Vec::new();
    for j in 0..n as u32 {
        for i in 0..n as u32 {
            let n = n as u32;
            let a = j * n + i;
            let b = j * n + (i + 1) % n;
            let c = (j + 1) * n + i;
            let d = (j + 1) * n + (i + 1) % n;
            idx.extend_from_slice(&[a, b, d, a, d, c]);
        }
    }
    (pos, idx)
}

fn assert_names_file(err: &FaceError, path: &Path) {
    let msg = err.to_string();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    assert!(msg.contains(name), "message does not name the file: {msg}");
}

// --- Round trip ---------------------------------------------------------------------------------

#[test]
fn write_then_load_preserves_the_face() {
    let dir = scratch("roundtrip");
    let path = dir.join("face.glb");
    let g = face();
    write_glb(&path, &g.mesh, &g.landmarks).expect("write");
    let bytes = std::fs::read(&path).expect("read back");
    assert!(bytes.len() < 3_000_000, "{} bytes", bytes.len());

    // The container and JSON are what the brief promises.
    let j = glb_json(&bytes);
    assert_eq!(j["asset"]["version"], "2.0");
    assert_eq!(j["meshes"].as_array().map(Vec::len), Some(1));
    let prim = &j["meshes"][0]["primitives"][0];
    for attr in ["POSITION", "NORMAL", "TEXCOORD_0", "COLOR_0"] {
        assert!(prim["attributes"][attr].is_u64(), "{attr} missing");
    }
    assert!(prim["indices"].is_u64() && prim["material"].is_u64());
    let pos_acc = &j["accessors"][prim["attributes"]["POSITION"].as_u64().expect("u64") as usize];
    assert!(pos_acc["min"].is_array() && pos_acc["max"].is_array());
    assert!(j["materials"][0]["pbrMetallicRoughness"].is_object());
    let face_node = &j["nodes"][0];
    assert_eq!(
        face_node["extras"]["eye_radius_m"].as_f64(),
        Some(0.012f32 as f64)
    );
    let names: Vec<&str> = j["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    for &name in REQUIRED {
        assert!(
            names.contains(&format!("landmark.{name}").as_str()),
            "{name}"
        );
    }

    let loaded = load_face(&path).expect("load");
    assert_eq!(loaded.source, path);
    assert_eq!(loaded.mesh.vertex_count(), g.mesh.vertex_count());
    assert_eq!(loaded.mesh.triangle_count(), g.mesh.triangle_count());
    assert_eq!(loaded.mesh.positions, g.mesh.positions);
    assert_eq!(loaded.mesh.indices, g.mesh.indices);
    assert_eq!(loaded.mesh.uvs, g.mesh.uvs);
    assert_eq!(loaded.mesh.colors, g.mesh.colors);
    for (a, b) in loaded.mesh.normals.iter().zip(&g.mesh.normals) {
        assert!(dist(*a, *b) < 1e-5);
    }
    assert_eq!(bounds(&loaded.mesh.positions), bounds(&g.mesh.positions));
    assert_eq!(loaded.landmarks, g.landmarks);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_face_loads_and_is_riggable() {
    let f: Face = default_face().expect("default face");
    assert!(
        f.landmarks.is_complete(),
        "missing {:?}",
        f.landmarks.missing()
    );
    assert!(f.mesh.vertex_count() >= 20_000);
    if default_face_path().exists() {
        assert_eq!(f.source, default_face_path());
        // The shipped asset is the current generator's output (regenerate with make_face).
        assert_eq!(f.mesh.vertex_count(), face().mesh.vertex_count());
        assert_eq!(f.landmarks, face().landmarks);
    }
}

// --- Landmark estimation ------------------------------------------------------------------------

#[test]
fn missing_landmarks_are_estimated() {
    let dir = scratch("estimate");
    let path = dir.join("bare.glb");
    let g = face();
    // Another head: 8 % bigger and somewhere else.
    let (s, t) = (1.08f32, [0.01f32, 0.2, -0.05]);
    let tf = |p: [f32; 3]| [p[0] * s + t[0], p[1] * s + t[1], p[2] * s + t[2]];
    let mut mesh = g.mesh.clone();
    for p in &mut mesh.positions {
        *p = tf(*p);
    }
    write_glb(&path, &mesh, &Landmarks::new(0.012)).expect("write");
    let loaded = load_face(&path).expect("load");
    assert!(
        loaded.landmarks.is_complete(),
        "{:?}",
        loaded.landmarks.missing()
    );
    for &name in REQUIRED {
        let est = loaded.landmarks.require(name).expect("estimated");
        let truth = tf(g.landmarks.require(name).expect("truth"));
        let err = dist(est, truth);
        assert!(
            err < 0.006,
            "{name}: estimate {est:?} is {err} m from {truth:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Without any extras the eye radius scales with the head too.
    let est = estimate_landmarks(&mesh);
    assert!(
        (est.eye_radius_m - 0.012 * s).abs() < 0.0015,
        "{}",
        est.eye_radius_m
    );
    for &name in REQUIRED {
        if is_surface(name) {
            let p = est.require(name).expect("estimated");
            assert!(p.iter().all(|c| c.is_finite()));
        }
    }
}

#[test]
fn partial_landmarks_are_kept_and_completed() {
    let dir = scratch("partial");
    let path = dir.join("partial.glb");
    let g = face();
    let mut lm = Landmarks::new(0.0125);
    lm.insert("nose_tip", [0.0, -0.035, 0.2]);
    write_glb(&path, &g.mesh, &lm).expect("write");
    let loaded = load_face(&path).expect("load");
    assert_eq!(loaded.landmarks.get("nose_tip"), Some([0.0, -0.035, 0.2]));
    assert_eq!(loaded.landmarks.eye_radius_m, 0.0125);
    assert!(loaded.landmarks.is_complete());
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Other valid inputs ---------------------------------------------------------------------------

#[test]
fn gltf_with_external_buffer_and_node_transform() {
    let dir = scratch("transform");
    let (pos, idx) = sphere(40, 1.0);
    let doc = Doc {
        positions: pos.clone(),
        indices: Some(idx),
        mode: 4,
        normals: false,
        scale: Some(0.1),
        translation: Some([0.0, 0.0, 0.05]),
        landmarks: vec![("nose_tip".to_owned(), [0.0, 0.0, 1.0])],
    };
    let (j, bin) = build(&doc, Some("sphere.bin"));
    std::fs::write(dir.join("sphere.bin"), bin).expect("bin");
    let path = dir.join("sphere.gltf");
    std::fs::write(&path, serde_json::to_vec_pretty(&j).expect("json")).expect("gltf");

    let f = load_face(&path).expect("load");
    assert_eq!(f.mesh.vertex_count(), pos.len());
    let (lo, hi) = bounds(&f.mesh.positions);
    assert!(
        (hi[2] - 0.15).abs() < 1e-5 && (lo[2] + 0.05).abs() < 1e-5,
        "{lo:?} {hi:?}"
    );
    assert!((hi[1] - 0.1).abs() < 1e-5);
    // The landmark node is a child of the transformed node: world space.
    let tip = f.landmarks.require("nose_tip").expect("tip");
    assert!(dist(tip, [0.0, 0.0, 0.15]) < 1e-5, "{tip:?}");
    // Normals were generated and point outward; UVs zeroed.
    for (p, n) in f.mesh.positions.iter().zip(&f.mesh.normals) {
        let c = [p[0], p[1], p[2] - 0.05];
        let dot = (c[0] * n[0] + c[1] * n[1] + c[2] * n[2]) / 0.1;
        assert!(dot > 0.9, "normal {n:?} at {p:?}");
    }
    assert!(f.mesh.uvs.iter().all(|uv| *uv == [0.0, 0.0]));
    assert!(f.landmarks.is_complete());
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Bad inputs -------------------------------------------------------------------------------------

#[test]
fn missing_file_is_reported() {
    let path = scratch("missing").join("nope.glb");
    let err = load_face(&path).expect_err("missing file");
    assert!(matches!(err, FaceError::NotFound { .. }), "{err:?}");
    assert_names_file(&err, &path);
}

#[test]
fn garbage_is_not_gltf() {
    let dir = scratch("garbage");
    for (name, bytes) in [
        (
            "garbage.glb",
            (0..5000u32)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
        ("empty.glb", Vec::new()),
        ("text.gltf", b"{ this is not json".to_vec()),
        ("wrong.gltf", br#"{"asset": {"version": "1.0"}}"#.to_vec()),
        ("fake_magic.glb", b"glTF\x02\0\0\0\xff\xff\xff\xff".to_vec()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = load_face(&path).expect_err(name);
        assert!(
            matches!(
                err,
                FaceError::NotGltf { .. } | FaceError::NoTriangleMesh { .. }
            ),
            "{name}: {err:?}"
        );
        assert_names_file(&err, &path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_glb_is_rejected() {
    let dir = scratch("truncated");
    let g = face();
    let bytes = glb_bytes(&g.mesh, &g.landmarks).expect("glb");
    for cut in [10, 100, 1000, bytes.len() / 2, bytes.len() - 4] {
        let path = dir.join(format!("cut_{cut}.glb"));
        std::fs::write(&path, &bytes[..cut]).expect("write");
        let err = load_face(&path).expect_err("truncated");
        assert!(matches!(err, FaceError::NotGltf { .. }), "{cut}: {err:?}");
        assert_names_file(&err, &path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn points_only_has_no_triangle_mesh() {
    let dir = scratch("points");
    let path = dir.join("points.glb");
    let (pos, _) = sphere(40, 0.1);
    write_doc_glb(
        &path,
        &Doc {
            positions: pos,
            mode: 0,
            ..Default::default()
        },
    );
    let err = load_face(&path).expect_err("points");
    assert!(matches!(err, FaceError::NoTriangleMesh { .. }), "{err:?}");
    assert_names_file(&err, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vertex_count_limits() {
    let dir = scratch("limits");
    let path = dir.join("tetra.glb");
    write_doc_glb(
        &path,
        &Doc {
            positions: vec![
                [0.0, 0.0, 0.1],
                [0.1, 0.0, 0.0],
                [-0.1, 0.0, 0.0],
                [0.0, 0.1, 0.0],
            ],
            indices: Some(vec![0, 1, 3, 1, 2, 3, 2, 0, 3, 0, 2, 1]),
            mode: 4,
            normals: true,
            ..Default::default()
        },
    );
    let err = load_face(&path).expect_err("tiny");
    assert!(
        matches!(err, FaceError::TooFewVertices { count: 4, .. }),
        "{err:?}"
    );
    assert_names_file(&err, &path);

    // 501 x 1000 = 501k vertices (non-indexed triangles).
    let path = dir.join("huge.glb");
    let mut pos = Vec::with_capacity(501_000);
    for i in 0..167_000u32 {
        let x = (i % 400) as f32 * 0.001;
        let y = (i / 400) as f32 * 0.001;
        pos.extend_from_slice(&[[x, y, 0.0], [x + 0.001, y, 0.001], [x, y + 0.001, 0.0]]);
    }
    write_doc_glb(
        &path,
        &Doc {
            positions: pos,
            mode: 4,
            ..Default::default()
        },
    );
    let err = load_face(&path).expect_err("huge");
    assert!(matches!(err, FaceError::TooManyVertices { .. }), "{err:?}");
    assert_names_file(&err, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn non_finite_positions_are_rejected() {
    let dir = scratch("nan");
    let path = dir.join("nan.glb");
    let (mut pos, idx) = sphere(40, 0.1);
    pos[100] = [f32::NAN, 0.0, 0.0];
    pos[200][2] = f32::INFINITY;
    write_doc_glb(
        &path,
        &Doc {
            positions: pos,
            indices: Some(idx),
            mode: 4,
            ..Default::default()
        },
    );
    let err = load_face(&path).expect_err("nan");
    assert!(
        matches!(err, FaceError::NonFinitePositions { count: 2, .. }),
        "{err:?}"
    );
    assert_names_file(&err, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn degenerate_and_misoriented_meshes_are_rejected() {
    let dir = scratch("orientation");
    // A flat sphere (z squashed to nothing).
    let (pos, idx) = sphere(40, 0.1);
    let flat: Vec<[f32; 3]> = pos.iter().map(|p| [p[0], p[1], 0.0]).collect();
    let path = dir.join("flat.glb");
    write_doc_glb(
        &path,
        &Doc {
            positions: flat,
            indices: Some(idx.clone()),
            mode: 4,
            ..Default::default()
        },
    );
    let err = load_face(&path).expect_err("flat");
    assert!(matches!(err, FaceError::DegenerateBounds { .. }), "{err:?}");
    assert_names_file(&err, &path);

    // A head lying along Z (much deeper than tall).
    let g = face();
    let mut mesh: FaceMesh = g.mesh.clone();
    for p in &mut mesh.positions {
        *p = [p[0], p[2] * 0.3, p[1] * 3.0];
    }
    let path = dir.join("lying.glb");
    write_glb(&path, &mesh, &Landmarks::new(0.012)).expect("write");
    let err = load_face(&path).expect_err("lying");
    assert!(matches!(err, FaceError::NotFacingPlusZ { .. }), "{err:?}");
    assert_names_file(&err, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_rejects_invalid_meshes() {
    let dir = scratch("write");
    let path = dir.join("bad.glb");
    let bad = FaceMesh {
        positions: vec![[0.0; 3]; 3],
        indices: vec![0, 1, 5],
        ..Default::default()
    };
    let err = write_glb(&path, &bad, &Landmarks::default()).expect_err("bad indices");
    assert!(matches!(err, FaceError::Write { .. }), "{err:?}");
    assert_names_file(&err, &path);
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_files_never_panic() {
    // A small valid face-sized file, then deterministic random corruption of its header and JSON.
    let (pos, idx) = sphere(40, 0.1);
    let n = pos.len();
    let mesh = FaceMesh {
        normals: pos
            .iter()
            .map(|p| [p[0] / 0.1, p[1] / 0.1, p[2] / 0.1])
            .collect(),
        uvs: vec![[0.0, 0.0]; n],
        colors: Some(vec![[1.0, 0.5, 0.5, 1.0]; n]),
        positions: pos,
        indices: idx,
    };
    let base = glb_bytes(&mesh, &Landmarks::new(0.012)).expect("glb");
    let json_len = u32::from_le_bytes(base[12..16].try_into().expect("4")) as usize;
    let dir = scratch("mutations");
    let path = dir.join("mutated.glb");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let mut loaded = 0;
    for _ in 0..400 {
        let mut b = base.clone();
        for _ in 0..1 + rnd() % 3 {
            let at = if rnd() % 5 == 0 {
                rnd() % b.len()
            } else {
                rnd() % (20 + json_len)
            };
            match rnd() % 3 {
                0 => b[at] = rnd() as u8,
                1 => b[at] = b'0' + (rnd() % 10) as u8,
                _ => b[at] ^= 1 << (rnd() % 8),
            }
        }
        std::fs::write(&path, &b).expect("write");
        match load_face(&path) {
            Ok(_) => loaded += 1,
            Err(e) => {
                assert_names_file(&e, &path);
                // The loader's panic backstop should never be needed.
                assert!(!e.to_string().contains("gave up"), "{e}");
            }
        }
    }
    assert!(loaded > 0, "no mutation was harmless?");
    let _ = std::fs::remove_dir_all(&dir);
}
