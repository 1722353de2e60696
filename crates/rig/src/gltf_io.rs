//! glTF 2.0 input and output of faces.
//!
//! Writing: [`write_glb`] produces a self-contained binary glTF with one mesh (one triangle
//! primitive: POSITION, NORMAL, TEXCOORD_0, optional COLOR_0, u32 indices), one PBR material,
//! the landmarks as child nodes named `landmark.<name>` of the mesh node, and the eye radius in
//! the mesh node's `extras` (`{"eye_radius_m": ..}`).
//!
//! Reading: [`read_gltf`] loads any `.glb` / `.gltf` and merges every triangle primitive of the
//! default scene into one [`FaceMesh`] in world space, plus whatever landmark nodes it finds.
//! Validation and landmark estimation happen in [`crate::face::load_face`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gltf::json;
use gltf::json::validation::{Checked, USize64};
use serde_json::Value;

use crate::FaceMesh;
use crate::face::FaceError;
use crate::landmarks::{Landmarks, NODE_PREFIX};

/// Name of the mesh node written by [`write_glb`].
pub const FACE_NODE_NAME: &str = "face";
/// Key of the eye radius in the mesh node's `extras`.
pub const EYE_RADIUS_EXTRAS_KEY: &str = "eye_radius_m";

/// Writes `mesh` and `landmarks` as a binary glTF 2.0 file at `path` (parent folders are
/// created).
pub fn write_glb(path: &Path, mesh: &FaceMesh, landmarks: &Landmarks) -> Result<(), FaceError> {
    let bytes = glb_bytes(mesh, landmarks).map_err(|message| FaceError::Write {
        path: path.to_path_buf(),
        message,
    })?;
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| FaceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| FaceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes of the binary glTF [`write_glb`] writes.
pub fn glb_bytes(mesh: &FaceMesh, landmarks: &Landmarks) -> Result<Vec<u8>, String> {
    check_mesh(mesh)?;
    let n = mesh.positions.len();

    // --- BIN chunk ---------------------------------------------------------------------------
    let mut bin: Vec<u8> = Vec::new();
    let mut root = json::Root {
        asset: json::Asset {
            generator: Some(format!("facetwin-rig {}", env!("CARGO_PKG_VERSION"))),
            ..Default::default()
        },
        ..Default::default()
    };
    let buffer = json::Index::<json::Buffer>::new(0);

    let push_view = |root: &mut json::Root,
                     bin: &mut Vec<u8>,
                     data: &[u8],
                     target: json::buffer::Target|
     -> json::Index<json::buffer::View> {
        let offset = bin.len();
        bin.extend_from_slice(data);
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        root.push(json::buffer::View {
            buffer,
            byte_length: USize64::from(data.len()),
            byte_offset: Some(USize64::from(offset)),
            byte_stride: None,
            name: None,
            target: Some(Checked::Valid(target)),
            extensions: None,
            extras: Default::default(),
        })
    };

    let accessor = |view: json::Index<json::buffer::View>,
                    count: usize,
                    component: json::accessor::ComponentType,
                    type_: json::accessor::Type,
                    min_max: Option<(Value, Value)>,
                    name: &str|
     -> json::Accessor {
        let (min, max) = match min_max {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        json::Accessor {
            buffer_view: Some(view),
            byte_offset: Some(USize64(0)),
            count: USize64::from(count),
            component_type: Checked::Valid(json::accessor::GenericComponentType(component)),
            extensions: None,
            extras: Default::default(),
            type_: Checked::Valid(type_),
            min,
            max,
            name: Some(name.to_owned()),
            normalized: false,
            sparse: None,
        }
    };

    use json::accessor::{ComponentType as C, Type as T};
    use json::buffer::Target;
    use json::mesh::Semantic;

    let mut attributes = BTreeMap::new();

    // POSITION with min / max.
    let (mut lo, mut hi) = ([f32::MAX; 3], [f32::MIN; 3]);
    for p in &mesh.positions {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let view = push_view(
        &mut root,
        &mut bin,
        &f32_bytes(mesh.positions.iter().flatten()),
        Target::ArrayBuffer,
    );
    let acc = root.push(accessor(
        view,
        n,
        C::F32,
        T::Vec3,
        Some((Value::from(lo.to_vec()), Value::from(hi.to_vec()))),
        "positions",
    ));
    attributes.insert(Checked::Valid(Semantic::Positions), acc);

    // NORMAL (computed if the mesh has none).
    let normals = if mesh.normals.len() == n {
        mesh.normals.clone()
    } else {
        crate::generate::vertex_normals(&mesh.positions, &mesh.indices)
    };
    let view = push_view(
        &mut root,
        &mut bin,
        &f32_bytes(normals.iter().flatten()),
        Target::ArrayBuffer,
    );
    let acc = root.push(accessor(view, n, C::F32, T::Vec3, None, "normals"));
    attributes.insert(Checked::Valid(Semantic::Normals), acc);

    // TEXCOORD_0 (zeros if the mesh has none).
    let uvs = if mesh.uvs.len() == n {
        mesh.uvs.clone()
    } else {
        vec![[0.0; 2]; n]
    };
    let view = push_view(
        &mut root,
        &mut bin,
        &f32_bytes(uvs.iter().flatten()),
        Target::ArrayBuffer,
    );
    let acc = root.push(accessor(view, n, C::F32, T::Vec2, None, "uvs"));
    attributes.insert(Checked::Valid(Semantic::TexCoords(0)), acc);

    // COLOR_0 (linear RGBA), if any.
    if let Some(colors) = &mesh.colors {
        let view = push_view(
            &mut root,
            &mut bin,
            &f32_bytes(colors.iter().flatten()),
            Target::ArrayBuffer,
        );
        let acc = root.push(accessor(view, n, C::F32, T::Vec4, None, "colors"));
        attributes.insert(Checked::Valid(Semantic::Colors(0)), acc);
    }

    // Indices.
    let mut idx_bytes = Vec::with_capacity(mesh.indices.len() * 4);
    for i in &mesh.indices {
        idx_bytes.extend_from_slice(&i.to_le_bytes());
    }
    let view = push_view(&mut root, &mut bin, &idx_bytes, Target::ElementArrayBuffer);
    let indices = root.push(accessor(
        view,
        mesh.indices.len(),
        C::U32,
        T::Scalar,
        None,
        "indices",
    ));

    root.push(json::Buffer {
        byte_length: USize64::from(bin.len()),
        name: Some("face".to_owned()),
        uri: None,
        extensions: None,
        extras: Default::default(),
    });

    let material = root.push(json::Material {
        name: Some("skin".to_owned()),
        pbr_metallic_roughness: json::material::PbrMetallicRoughness {
            base_color_factor: json::material::PbrBaseColorFactor([1.0, 1.0, 1.0, 1.0]),
            metallic_factor: json::material::StrengthFactor(0.0),
            roughness_factor: json::material::StrengthFactor(0.6),
            ..Default::default()
        },
        ..Default::default()
    });

    let gl_mesh = root.push(json::Mesh {
        extensions: None,
        extras: Default::default(),
        name: Some("face".to_owned()),
        primitives: vec![json::mesh::Primitive {
            attributes,
            extensions: None,
            extras: Default::default(),
            indices: Some(indices),
            material: Some(material),
            mode: Checked::Valid(json::mesh::Mode::Triangles),
            targets: None,
        }],
        weights: None,
    });

    // Nodes: the face (index 0) with one child per landmark.
    let face_node = root.push(json::Node {
        mesh: Some(gl_mesh),
        name: Some(FACE_NODE_NAME.to_owned()),
        ..Default::default()
    });
    let mut children = Vec::new();
    for (name, p) in &landmarks.points {
        if !p.iter().all(|c| c.is_finite()) {
            return Err(format!("landmark `{name}` has non-finite coordinates"));
        }
        children.push(root.push(json::Node {
            name: Some(format!("{NODE_PREFIX}{name}")),
            translation: Some(*p),
            ..Default::default()
        }));
    }
    if !children.is_empty() {
        root.nodes[face_node.value()].children = Some(children);
    }
    let scene = root.push(json::Scene {
        extensions: None,
        extras: Default::default(),
        name: Some("face".to_owned()),
        nodes: vec![face_node],
    });
    root.scene = Some(scene);

    // --- JSON chunk (extras patched in by hand: gltf-json may be built without them) --------
    let mut value = serde_json::to_value(&root).map_err(|e| e.to_string())?;
    if !(landmarks.eye_radius_m.is_finite() && landmarks.eye_radius_m > 0.0) {
        return Err(format!(
            "eye radius {} is not a positive length",
            landmarks.eye_radius_m
        ));
    }
    let node = value
        .get_mut("nodes")
        .and_then(|n| n.get_mut(face_node.value()))
        .and_then(Value::as_object_mut)
        .ok_or("internal error: face node missing from the JSON")?;
    node.insert(
        "extras".to_owned(),
        serde_json::json!({ EYE_RADIUS_EXTRAS_KEY: landmarks.eye_radius_m }),
    );
    let mut json_bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    while !json_bytes.len().is_multiple_of(4) {
        json_bytes.push(b' ');
    }

    // --- GLB container -----------------------------------------------------------------------
    let total = 12 + 8 + json_bytes.len() + 8 + bin.len();
    let total32 = u32::try_from(total).map_err(|_| "mesh too large for a GLB file".to_owned())?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&total32.to_le_bytes());
    out.extend_from_slice(&chunk_len(json_bytes.len())?.to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json_bytes);
    out.extend_from_slice(&chunk_len(bin.len())?.to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    Ok(out)
}

fn chunk_len(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "chunk too large for a GLB file".to_owned())
}

fn f32_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Checks that a mesh can be written: non-empty, finite, consistent attribute lengths, indices
/// in range.
fn check_mesh(mesh: &FaceMesh) -> Result<(), String> {
    let n = mesh.positions.len();
    if n == 0 {
        return Err("mesh has no vertices".to_owned());
    }
    if u32::try_from(n).is_err() {
        return Err("mesh has too many vertices".to_owned());
    }
    if !mesh.positions.iter().flatten().all(|c| c.is_finite()) {
        return Err("mesh has non-finite positions".to_owned());
    }
    if !mesh.normals.is_empty() && mesh.normals.len() != n {
        return Err(format!("{} normals for {n} vertices", mesh.normals.len()));
    }
    if !mesh.uvs.is_empty() && mesh.uvs.len() != n {
        return Err(format!("{} uvs for {n} vertices", mesh.uvs.len()));
    }
    if let Some(c) = &mesh.colors
        && c.len() != n
    {
        return Err(format!("{} colours for {n} vertices", c.len()));
    }
    if mesh.indices.is_empty() || !mesh.indices.len().is_multiple_of(3) {
        return Err(format!(
            "{} indices is not a non-empty triangle list",
            mesh.indices.len()
        ));
    }
    if let Some(bad) = mesh.indices.iter().find(|&&i| i as usize >= n) {
        return Err(format!("index {bad} out of range for {n} vertices"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// What [`read_gltf`] found in a file, before validation.
#[derive(Debug, Clone)]
pub struct ImportedGltf {
    /// All triangle primitives of the default scene, merged, in world space.
    pub mesh: FaceMesh,
    /// Points of the `landmark.<name>` nodes (world space), by `<name>`.
    pub landmarks: BTreeMap<String, [f32; 3]>,
    /// `eye_radius_m` from a node's (or mesh's) `extras`, if any.
    pub eye_radius_m: Option<f32>,
    /// True when at least one primitive had no normals (they were computed).
    pub normals_generated: bool,
    pub source: PathBuf,
}

/// Most vertices [`read_gltf`] accepts before giving up (validation is stricter).
const READ_VERTEX_LIMIT: usize = 20_000_000;

/// Reads a `.glb` / `.gltf` file: every triangle primitive of the default scene (or of the first
/// scene, or of every root node when there is no scene) merged with node transforms applied.
/// Images are not loaded. Never panics on malformed input.
pub fn read_gltf(path: &Path) -> Result<ImportedGltf, FaceError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            FaceError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            FaceError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let path_buf = path.to_path_buf();
    // gltf's readers debug-assert on some malformed accessors; belt and braces.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_gltf_bytes(&bytes, path)
    }));
    match result {
        Ok(r) => r,
        Err(_) => Err(FaceError::NotGltf {
            path: path_buf,
            message: "malformed glTF data (the reader gave up)".to_owned(),
        }),
    }
}

fn read_gltf_bytes(bytes: &[u8], path: &Path) -> Result<ImportedGltf, FaceError> {
    let not_gltf = |message: String| FaceError::NotGltf {
        path: path.to_path_buf(),
        message,
    };
    let gltf =
        gltf::Gltf::from_slice_without_validation(bytes).map_err(|e| not_gltf(e.to_string()))?;
    validate_document(&gltf.document).map_err(&not_gltf)?;
    let raw_json = raw_json(bytes);
    let base = path.parent().map(Path::to_path_buf);
    let buffers = gltf::import_buffers(&gltf.document, base.as_deref(), gltf.blob.clone())
        .map_err(|e| not_gltf(format!("cannot load buffers: {e}")))?;
    let doc = &gltf.document;

    let mut out = ImportedGltf {
        mesh: FaceMesh::default(),
        landmarks: BTreeMap::new(),
        eye_radius_m: None,
        normals_generated: false,
        source: path.to_path_buf(),
    };
    let mut colors: Vec<[f32; 4]> = Vec::new();
    let mut any_colors = false;
    let mut needs_normals: Vec<bool> = Vec::new();

    let roots: Vec<gltf::Node> = match doc.default_scene().or_else(|| doc.scenes().next()) {
        Some(scene) => scene.nodes().collect(),
        None => {
            let mut is_child = vec![false; doc.nodes().len()];
            for n in doc.nodes() {
                for c in n.children() {
                    if let Some(f) = is_child.get_mut(c.index()) {
                        *f = true;
                    }
                }
            }
            doc.nodes()
                .filter(|n| !is_child.get(n.index()).copied().unwrap_or(false))
                .collect()
        }
    };

    let mut stack: Vec<(gltf::Node, [[f32; 4]; 4], usize)> =
        roots.into_iter().map(|n| (n, IDENTITY, 0usize)).collect();
    while let Some((node, parent, depth)) = stack.pop() {
        if depth > 64 {
            return Err(not_gltf("node hierarchy deeper than 64 levels".to_owned()));
        }
        let world = mat_mul(&parent, &node.transform().matrix());
        if let Some(name) = node.name()
            && let Some(lm) = name.strip_prefix(NODE_PREFIX)
        {
            let p = transform_point(&world, [0.0; 3]);
            out.landmarks.insert(lm.to_owned(), p);
        }
        if let Some(r) = node_eye_radius(&raw_json, node.index()) {
            out.eye_radius_m = Some(r);
        }
        if let Some(mesh) = node.mesh() {
            if out.eye_radius_m.is_none()
                && let Some(r) = mesh_eye_radius(&raw_json, mesh.index())
            {
                out.eye_radius_m = Some(r);
            }
            for prim in mesh.primitives() {
                read_primitive(
                    &prim,
                    &buffers,
                    &world,
                    &mut out.mesh,
                    &mut colors,
                    &mut any_colors,
                    &mut needs_normals,
                )
                .map_err(&not_gltf)?;
                if out.mesh.positions.len() > READ_VERTEX_LIMIT {
                    return Err(FaceError::TooManyVertices {
                        path: path.to_path_buf(),
                        count: out.mesh.positions.len(),
                        max: crate::face::MAX_VERTICES,
                    });
                }
            }
        }
        for child in node.children() {
            stack.push((child, world, depth + 1));
        }
    }

    if needs_normals.iter().any(|&b| b) {
        out.normals_generated = true;
        let computed = crate::generate::vertex_normals(&out.mesh.positions, &out.mesh.indices);
        for (i, need) in needs_normals.iter().enumerate() {
            if *need {
                out.mesh.normals[i] = computed[i];
            }
        }
    }
    if any_colors {
        out.mesh.colors = Some(colors);
    }
    Ok(out)
}

/// gltf's validation, except that missing POSITION `min`/`max` (required by the spec, but
/// omitted by some exporters and not needed here) is tolerated.
fn validate_document(doc: &gltf::Document) -> Result<(), String> {
    use gltf::json::validation::{Error, Validate};
    let root = doc.as_json();
    // gltf-json 1.4's validator indexes the POSITION accessor without a bounds check: check the
    // primitives' accessor references first.
    let n_acc = root.accessors.len();
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, prim) in mesh.primitives.iter().enumerate() {
            let bad = prim.attributes.values().any(|a| a.value() >= n_acc)
                || prim.indices.is_some_and(|a| a.value() >= n_acc);
            if bad {
                return Err(format!(
                    "invalid glTF: meshes[{m}].primitives[{p}] refers to a missing accessor"
                ));
            }
        }
    }
    let mut errors: Vec<String> = Vec::new();
    root.validate(root, json::Path::new, &mut |path, error| {
        let p = path();
        let p = p.as_str();
        let tolerated = error == Error::Missing
            && p.contains("[\"POSITION\"]")
            && (p.ends_with(".min") || p.ends_with(".max"));
        if !tolerated && errors.len() < 8 {
            errors.push(format!("{p}: {error:?}"));
        }
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid glTF: {}", errors.join("; ")))
    }
}

#[allow(clippy::too_many_arguments)]
fn read_primitive(
    prim: &gltf::Primitive,
    buffers: &[gltf::buffer::Data],
    world: &[[f32; 4]; 4],
    mesh: &mut FaceMesh,
    colors: &mut Vec<[f32; 4]>,
    any_colors: &mut bool,
    needs_normals: &mut Vec<bool>,
) -> Result<(), String> {
    use gltf::mesh::Mode;
    let mode = prim.mode();
    if !matches!(
        mode,
        Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
    ) {
        return Ok(());
    }
    let Some(pos_acc) = prim.get(&gltf::Semantic::Positions) else {
        return Ok(());
    };
    use gltf::accessor::{DataType, Dimensions};
    check_accessor(&pos_acc, &[DataType::F32], &[Dimensions::Vec3], "POSITION")?;
    let reader = prim.reader(|b| buffers.get(b.index()).map(|d| &d.0[..]));
    let local: Vec<[f32; 3]> = reader
        .read_positions()
        .ok_or("POSITION data missing or out of bounds")?
        .collect();
    if local.len() != pos_acc.count() {
        return Err("POSITION data shorter than its accessor".to_owned());
    }
    let count = local.len();
    let base = mesh.positions.len();

    let normal_mat = normal_matrix(world);
    let normals: Option<Vec<[f32; 3]>> = match prim.get(&gltf::Semantic::Normals) {
        Some(acc) => {
            check_accessor(&acc, &[DataType::F32], &[Dimensions::Vec3], "NORMAL")?;
            reader
                .read_normals()
                .map(|it| it.collect::<Vec<_>>())
                .filter(|v| v.len() == count)
        }
        None => None,
    };
    let uvs: Option<Vec<[f32; 2]>> = match prim.get(&gltf::Semantic::TexCoords(0)) {
        Some(acc) => {
            check_accessor(
                &acc,
                &[DataType::F32, DataType::U8, DataType::U16],
                &[Dimensions::Vec2],
                "TEXCOORD_0",
            )?;
            reader
                .read_tex_coords(0)
                .map(|it| it.into_f32().collect::<Vec<_>>())
                .filter(|v| v.len() == count)
        }
        None => None,
    };
    let cols: Option<Vec<[f32; 4]>> = match prim.get(&gltf::Semantic::Colors(0)) {
        Some(acc) => {
            check_accessor(
                &acc,
                &[DataType::F32, DataType::U8, DataType::U16],
                &[Dimensions::Vec3, Dimensions::Vec4],
                "COLOR_0",
            )?;
            reader
                .read_colors(0)
                .map(|it| it.into_rgba_f32().collect::<Vec<_>>())
                .filter(|v| v.len() == count)
        }
        None => None,
    };

    let idx: Vec<u32> = match prim.indices() {
        Some(acc) => {
            check_accessor(
                &acc,
                &[DataType::U8, DataType::U16, DataType::U32],
                &[Dimensions::Scalar],
                "indices",
            )?;
            let v: Vec<u32> = reader
                .read_indices()
                .ok_or("index data missing or out of bounds")?
                .into_u32()
                .collect();
            if v.len() != acc.count() {
                return Err("index data shorter than its accessor".to_owned());
            }
            v
        }
        None => (0..u32::try_from(count).map_err(|_| "too many vertices")?).collect(),
    };
    if let Some(bad) = idx.iter().find(|&&i| i as usize >= count) {
        return Err(format!("index {bad} out of range for {count} vertices"));
    }
    let tris = triangle_list(mode, &idx);
    let flip = det3(world) < 0.0;

    mesh.positions
        .extend(local.iter().map(|&p| transform_point(world, p)));
    match normals {
        Some(ns) => {
            mesh.normals
                .extend(ns.iter().map(|&n| normalize3(mat3_mul(&normal_mat, n))));
            needs_normals.extend(std::iter::repeat_n(false, count));
        }
        None => {
            mesh.normals
                .extend(std::iter::repeat_n([0.0, 0.0, 1.0], count));
            needs_normals.extend(std::iter::repeat_n(true, count));
        }
    }
    match uvs {
        Some(u) => mesh.uvs.extend(u),
        None => mesh.uvs.extend(std::iter::repeat_n([0.0, 0.0], count)),
    }
    match cols {
        Some(c) => {
            if !*any_colors {
                // Earlier primitives had none: white.
                colors.resize(base, [1.0; 4]);
                *any_colors = true;
            }
            colors.extend(c);
        }
        None => colors.extend(std::iter::repeat_n([1.0; 4], count)),
    }
    let base32 = u32::try_from(base).map_err(|_| "too many vertices")?;
    for t in tris.chunks_exact(3) {
        let (a, b, c) = (t[0] + base32, t[1] + base32, t[2] + base32);
        if flip {
            mesh.indices.extend_from_slice(&[a, c, b]);
        } else {
            mesh.indices.extend_from_slice(&[a, b, c]);
        }
    }
    Ok(())
}

/// Rejects accessors the gltf readers would mis-read (or assert on).
fn check_accessor(
    acc: &gltf::Accessor,
    types: &[gltf::accessor::DataType],
    dims: &[gltf::accessor::Dimensions],
    what: &str,
) -> Result<(), String> {
    if !types.contains(&acc.data_type()) || !dims.contains(&acc.dimensions()) {
        return Err(format!(
            "{what} accessor has unsupported type {:?} {:?}",
            acc.data_type(),
            acc.dimensions()
        ));
    }
    if acc.count() == 0 || acc.count() > READ_VERTEX_LIMIT * 3 {
        return Err(format!("{what} accessor has {} elements", acc.count()));
    }
    if let Some(sparse) = acc.sparse()
        && sparse.count() == 0
    {
        return Err(format!("{what} accessor has an empty sparse block"));
    }
    if let Some(view) = acc.view() {
        let size = acc.size();
        let stride = view.stride().unwrap_or(size);
        if stride < size {
            return Err(format!(
                "{what} accessor stride {stride} < element size {size}"
            ));
        }
        let end = acc
            .offset()
            .checked_add(stride.checked_mul(acc.count() - 1).ok_or("overflow")?)
            .and_then(|e| e.checked_add(size));
        match end {
            Some(e) if e <= view.length() => {}
            _ => return Err(format!("{what} accessor runs past its buffer view")),
        }
    } else if acc.sparse().is_none() {
        return Err(format!("{what} accessor has no data"));
    }
    Ok(())
}

fn triangle_list(mode: gltf::mesh::Mode, idx: &[u32]) -> Vec<u32> {
    use gltf::mesh::Mode;
    match mode {
        Mode::TriangleStrip => {
            let mut out = Vec::new();
            for i in 2..idx.len() {
                if i % 2 == 0 {
                    out.extend_from_slice(&[idx[i - 2], idx[i - 1], idx[i]]);
                } else {
                    out.extend_from_slice(&[idx[i - 1], idx[i - 2], idx[i]]);
                }
            }
            out
        }
        Mode::TriangleFan => {
            let mut out = Vec::new();
            for i in 2..idx.len() {
                out.extend_from_slice(&[idx[0], idx[i - 1], idx[i]]);
            }
            out
        }
        _ => idx[..idx.len() - idx.len() % 3].to_vec(),
    }
}

/// The JSON of a .gltf file or the JSON chunk of a .glb, parsed loosely (for `extras`).
fn raw_json(bytes: &[u8]) -> Value {
    let json_slice = if bytes.starts_with(b"glTF") {
        gltf::Glb::from_slice(bytes)
            .ok()
            .map(|glb| glb.json.into_owned())
    } else {
        Some(bytes.to_vec())
    };
    json_slice
        .and_then(|s| serde_json::from_slice(&s).ok())
        .unwrap_or(Value::Null)
}

fn eye_radius_in(extras: Option<&Value>) -> Option<f32> {
    let r = extras?.get(EYE_RADIUS_EXTRAS_KEY)?.as_f64()? as f32;
    (r.is_finite() && r > 0.0).then_some(r)
}

fn node_eye_radius(raw: &Value, index: usize) -> Option<f32> {
    eye_radius_in(raw.get("nodes")?.get(index)?.get("extras"))
}

fn mesh_eye_radius(raw: &Value, index: usize) -> Option<f32> {
    eye_radius_in(raw.get("meshes")?.get(index)?.get("extras"))
}

// ---------------------------------------------------------------------------------------------
// 4x4 column-major matrices (glTF's layout: m[column][row]).

const IDENTITY: [[f32; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

fn mat_mul(a: &[[f32; 4]; 4], b: &[[f32; 4]; 4]) -> [[f32; 4]; 4] {
    let mut out = [[0.0; 4]; 4];
    for (c, col) in out.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[k][r] * b[c][k]).sum();
        }
    }
    out
}

fn transform_point(m: &[[f32; 4]; 4], p: [f32; 3]) -> [f32; 3] {
    let mut out = [0.0; 3];
    for (r, o) in out.iter_mut().enumerate() {
        *o = m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r];
    }
    out
}

fn det3(m: &[[f32; 4]; 4]) -> f32 {
    m[0][0] * (m[1][1] * m[2][2] - m[2][1] * m[1][2])
        - m[1][0] * (m[0][1] * m[2][2] - m[2][1] * m[0][2])
        + m[2][0] * (m[0][1] * m[1][2] - m[1][1] * m[0][2])
}

/// Cofactor matrix of the upper 3x3 (the inverse transpose up to scale), row-major.
fn normal_matrix(m: &[[f32; 4]; 4]) -> [[f32; 3]; 3] {
    // a[r][c] = m[c][r]
    let a = |r: usize, c: usize| m[c][r];
    let mut out = [[0.0; 3]; 3];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            *v = a(r1, c1) * a(r2, c2) - a(r1, c2) * a(r2, c1);
        }
    }
    out
}

fn mat3_mul(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

fn normalize3(v: [f32; 3]) -> [f32; 3] {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if l > 1e-20 && l.is_finite() {
        [v[0] / l, v[1] / l, v[2] / l]
    } else {
        [0.0, 0.0, 1.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_compose_in_gltf_order() {
        // Translate by (1, 0, 0) after scaling by 2.
        let t = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0, 1.0],
        ];
        let s = [
            [2.0, 0.0, 0.0, 0.0],
            [0.0, 2.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let m = mat_mul(&t, &s);
        assert_eq!(transform_point(&m, [1.0, 1.0, 0.0]), [3.0, 2.0, 0.0]);
        assert!((det3(&m) - 8.0).abs() < 1e-6);
        let n = normalize3(mat3_mul(&normal_matrix(&m), [0.0, 0.0, 1.0]));
        assert!((n[2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn strips_and_fans_become_lists() {
        use gltf::mesh::Mode;
        assert_eq!(
            triangle_list(Mode::TriangleStrip, &[0, 1, 2, 3]),
            vec![0, 1, 2, 2, 1, 3]
        );
        assert_eq!(
            triangle_list(Mode::TriangleFan, &[0, 1, 2, 3]),
            vec![0, 1, 2, 0, 2, 3]
        );
    }
}
