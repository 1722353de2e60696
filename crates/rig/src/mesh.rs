//! The triangle mesh of a face, as plain arrays (what glTF and Bevy both take).

/// An indexed triangle mesh in head space (metres, +Y up, +Z forward).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceMesh {
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    pub uvs: Vec<[f32; 2]>,
    /// Optional per-vertex linear RGBA colour (e.g. lips, mouth interior darker).
    pub colors: Option<Vec<[f32; 4]>>,
    /// Triangle list, counter-clockwise front faces.
    pub indices: Vec<u32>,
}

impl FaceMesh {
    pub fn vertex_count(&self) -> usize {
        self.positions.len()
    }

    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }
}
