//! `FacePlugin`: the deformable face mesh, driven by the displayed (telemetry) pose.

use super::link::DisplayPose;
use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use facetwin_rig::FaceMesh;
use facetwin_rig::deform::Deformer;
use facetwin_rig::face::Face;
use facetwin_rig::rig::Rig;
use std::path::Path;

/// The face and its rig, loaded before the app starts so errors reach the user as text.
#[derive(Debug, Clone)]
pub struct FaceAssets {
    pub face: Face,
    pub rig: Rig,
}

impl FaceAssets {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let face = match path {
            Some(p) => facetwin_rig::face::load_face(p)?,
            None => facetwin_rig::face::default_face()?,
        };
        let rig = Rig::default_rig();
        Ok(Self { face, rig })
    }

    pub fn deformer(&self) -> anyhow::Result<Deformer> {
        Ok(Deformer::new(
            &self.face.mesh,
            &self.face.landmarks,
            &self.rig,
        )?)
    }
}

/// The deformation state owned by the app.
#[derive(Resource)]
pub struct FaceRig {
    pub assets: FaceAssets,
    pub deformer: Deformer,
    pub deformed: FaceMesh,
    pub mesh: Handle<Mesh>,
    /// Pose last applied, to skip work when nothing moved.
    applied: Vec<f32>,
    pub show_muscles: bool,
    /// The deformed mesh changed and the GPU copy has not been updated yet.
    dirty: bool,
}

/// Marks the face mesh entity.
#[derive(Component)]
pub struct FaceSkin;

/// Marks muscle overlay entities.
#[derive(Component)]
pub struct MuscleLine;

pub struct FacePlugin {
    pub assets: FaceAssets,
}

impl Plugin for FacePlugin {
    fn build(&self, app: &mut App) {
        let assets = self.assets.clone();
        app.add_systems(
            PostStartup,
            move |mut commands: Commands,
                  meshes: Option<ResMut<Assets<Mesh>>>,
                  materials: Option<ResMut<Assets<StandardMaterial>>>,
                  head: Query<Entity, With<super::parts::HeadBody>>| {
                let visuals = meshes.zip(materials);
                spawn_face(&mut commands, visuals, assets.clone(), head.iter().next());
            },
        )
        .add_systems(Update, (deform_face, upload_mesh, toggle_muscles).chain());
    }
}

pub fn to_bevy_mesh(m: &FaceMesh) -> Mesh {
    let mut mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    );
    mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, m.positions.clone());
    mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, m.normals.clone());
    mesh.insert_attribute(Mesh::ATTRIBUTE_UV_0, m.uvs.clone());
    if let Some(c) = &m.colors {
        mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, c.clone());
    }
    mesh.insert_indices(Indices::U32(m.indices.clone()));
    mesh
}

/// The mesh and material stores, present only when rendering is.
type Visuals<'w> = (
    ResMut<'w, Assets<Mesh>>,
    ResMut<'w, Assets<StandardMaterial>>,
);

/// Creates the rig resource and, when rendering is present, the face mesh and muscle overlay.
fn spawn_face(
    commands: &mut Commands,
    visuals: Option<Visuals<'_>>,
    assets: FaceAssets,
    head: Option<Entity>,
) {
    let deformer = match assets.deformer() {
        Ok(d) => d,
        Err(e) => {
            error!("face cannot be rigged: {e:#}");
            return;
        }
    };
    let deformed = assets.face.mesh.clone();
    let Some((mut meshes, mut materials)) = visuals else {
        // Headless: deformation only.
        commands.insert_resource(FaceRig {
            assets,
            deformer,
            deformed,
            mesh: Handle::default(),
            applied: Vec::new(),
            show_muscles: false,
            dirty: false,
        });
        return;
    };
    let mesh = meshes.add(to_bevy_mesh(&deformed));
    let skin = materials.add(StandardMaterial {
        base_color: Color::WHITE,
        perceptual_roughness: 0.55,
        reflectance: 0.35,
        ..default()
    });
    let face = commands
        .spawn((
            FaceSkin,
            Mesh3d(mesh.clone()),
            MeshMaterial3d(skin),
            Transform::default(),
        ))
        .id();
    // Muscle overlay: a thin bar from origin to insertion for each linear muscle.
    let bar = meshes.add(Cuboid::new(0.0015, 0.0015, 1.0));
    let red = materials.add(StandardMaterial {
        base_color: Color::srgb(0.9, 0.15, 0.1),
        unlit: true,
        ..default()
    });
    let mut overlay = Vec::new();
    for (_, a, b) in deformer.muscle_lines() {
        let a = Vec3::from(a);
        let b = Vec3::from(b);
        let len = a.distance(b).max(1e-4);
        let t = Transform::from_translation((a + b) / 2.0)
            .looking_at(b, Vec3::Y)
            .with_scale(Vec3::new(1.0, 1.0, len));
        overlay.push(
            commands
                .spawn((
                    MuscleLine,
                    Mesh3d(bar.clone()),
                    MeshMaterial3d(red.clone()),
                    t,
                    Visibility::Hidden,
                ))
                .id(),
        );
    }
    if let Some(head) = head {
        commands.entity(head).add_child(face);
        for o in overlay {
            commands.entity(head).add_child(o);
        }
    }
    commands.insert_resource(FaceRig {
        assets,
        deformer,
        deformed,
        mesh,
        applied: Vec::new(),
        show_muscles: false,
        dirty: false,
    });
}

fn deform_face(pose: Res<DisplayPose>, rig: Option<ResMut<FaceRig>>) {
    let Some(mut rig) = rig else { return };
    if pose.positions.is_empty() || rig.applied == pose.positions {
        return;
    }
    let rig = &mut *rig;
    rig.deformer.apply(&pose.positions, &mut rig.deformed);
    rig.applied.clone_from(&pose.positions);
    rig.dirty = true;
}

fn upload_mesh(rig: Option<ResMut<FaceRig>>, meshes: Option<ResMut<Assets<Mesh>>>) {
    let (Some(mut rig), Some(mut meshes)) = (rig, meshes) else {
        return;
    };
    if !rig.dirty {
        return;
    }
    rig.dirty = false;
    if let Some(mut mesh) = meshes.get_mut(&rig.mesh) {
        mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, rig.deformed.positions.clone());
        mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, rig.deformed.normals.clone());
    }
}

fn toggle_muscles(rig: Option<Res<FaceRig>>, mut q: Query<&mut Visibility, With<MuscleLine>>) {
    let Some(rig) = rig else { return };
    if !rig.is_changed() {
        return;
    }
    let v = if rig.show_muscles {
        Visibility::Visible
    } else {
        Visibility::Hidden
    };
    for mut vis in &mut q {
        *vis = v;
    }
}
