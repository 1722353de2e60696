//! `PartsPlugin`: the rigid parts — neck (the head body), eyes, eyelids, jaw — as rapier bodies
//! whose joint motors follow the motors' measured positions.

use super::face::FaceRig;
use super::link::{DisplayPose, Link};
use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy_rapier3d::prelude::*;

/// The head: a kinematic body pitched by the neck motor; the face mesh is its child.
#[derive(Component)]
pub struct HeadBody {
    pivot: Vec3,
}

/// Which channel drives a jointed part, and how a position maps to joint angles.
#[derive(Component, Debug, Clone, Copy)]
pub enum Part {
    /// Eyes: yaw and pitch channels, both eyes together.
    Eye,
    /// Upper eyelid of one side, driven by levator_palpebrae.
    Lid {
        channel: usize,
    },
    Jaw,
}

/// Joint motor stiffness/damping (acceleration-based: independent of the part's mass).
const STIFFNESS: f32 = 2500.0;
const DAMPING: f32 = 90.0;
pub const JAW_MAX_RAD: f32 = 25.0 * std::f32::consts::PI / 180.0;
pub const EYE_YAW_RAD: f32 = 30.0 * std::f32::consts::PI / 180.0;
pub const EYE_PITCH_RAD: f32 = 25.0 * std::f32::consts::PI / 180.0;
pub const NECK_RAD: f32 = 20.0 * std::f32::consts::PI / 180.0;
pub const LID_CLOSE_RAD: f32 = 48.0 * std::f32::consts::PI / 180.0;
pub const LID_WIDE_RAD: f32 = 15.0 * std::f32::consts::PI / 180.0;

pub struct PartsPlugin;

impl Plugin for PartsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_head).add_systems(
            Update,
            (spawn_parts.run_if(resource_added::<FaceRig>), drive_parts).chain(),
        );
    }
}

fn channel(link: &Link, name: &str) -> Option<usize> {
    link.channel_names.iter().position(|n| n == name)
}

fn spawn_head(mut commands: Commands) {
    commands.spawn((
        HeadBody {
            pivot: Vec3::new(0.0, -0.12, -0.01),
        },
        RigidBody::KinematicPositionBased,
        Transform::default(),
        Visibility::default(),
    ));
}

/// A patch of a sphere between latitudes (radians, 0 = equator, +up) over the front half.
pub fn sphere_patch(
    radius: f32,
    lat0: f32,
    lat1: f32,
    lon_half: f32,
    color: impl Fn(Vec3) -> [f32; 4],
) -> Mesh {
    let (nu, nv) = (48u32, 24u32);
    let mut positions = Vec::new();
    let mut normals = Vec::new();
    let mut colors = Vec::new();
    let mut uvs = Vec::new();
    for j in 0..=nv {
        let lat = lat0 + (lat1 - lat0) * j as f32 / nv as f32;
        for i in 0..=nu {
            let lon = -lon_half + 2.0 * lon_half * i as f32 / nu as f32;
            let n = Vec3::new(lat.cos() * lon.sin(), lat.sin(), lat.cos() * lon.cos());
            positions.push((n * radius).to_array());
            normals.push(n.to_array());
            colors.push(color(n));
            uvs.push([i as f32 / nu as f32, j as f32 / nv as f32]);
        }
    }
    let mut indices = Vec::new();
    for j in 0..nv {
        for i in 0..nu {
            let a = j * (nu + 1) + i;
            let b = a + nu + 1;
            // Counter-clockwise seen from outside.
            indices.extend_from_slice(&[a, a + 1, b, a + 1, b + 1, b]);
        }
    }
    let mut m = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    );
    m.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions);
    m.insert_attribute(Mesh::ATTRIBUTE_NORMAL, normals);
    m.insert_attribute(Mesh::ATTRIBUTE_UV_0, uvs);
    m.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors);
    m.insert_indices(Indices::U32(indices));
    m
}

fn eye_color(n: Vec3) -> [f32; 4] {
    // Pupil, iris (blue-grey with a darker limbal ring), sclera.
    let c = n.z;
    if c > 0.975 {
        [0.01, 0.01, 0.012, 1.0]
    } else if c > 0.9 {
        let t = (c - 0.9) / 0.075;
        [0.10 + 0.12 * t, 0.18 + 0.16 * t, 0.25 + 0.15 * t, 1.0]
    } else if c > 0.885 {
        [0.05, 0.07, 0.09, 1.0]
    } else {
        [0.93, 0.91, 0.88, 1.0]
    }
}

/// Render handles for the parts, absent in headless apps.
struct PartVisuals {
    eye: Handle<Mesh>,
    upper_lid: Handle<Mesh>,
    lower_lid: Handle<Mesh>,
    tongue: Handle<Mesh>,
    teeth: Handle<Mesh>,
    shiny: Handle<StandardMaterial>,
    skin: Handle<StandardMaterial>,
    tongue_mat: Handle<StandardMaterial>,
    teeth_mat: Handle<StandardMaterial>,
}

fn part_visuals(
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    r: f32,
) -> PartVisuals {
    let lid_color = |_: Vec3| [0.80, 0.58, 0.47, 1.0];
    PartVisuals {
        eye: meshes.add(sphere_patch(
            r,
            -1.5,
            1.5,
            std::f32::consts::PI * 0.999,
            eye_color,
        )),
        upper_lid: meshes.add(sphere_patch(r * 1.07, 0.30, 1.45, 1.25, lid_color)),
        lower_lid: meshes.add(sphere_patch(r * 1.06, -1.45, -0.42, 1.25, lid_color)),
        tongue: meshes.add(Sphere::new(1.0).mesh().uv(24, 12)),
        teeth: meshes.add(Cuboid::new(0.026, 0.005, 0.008)),
        shiny: materials.add(StandardMaterial {
            base_color: Color::WHITE,
            perceptual_roughness: 0.15,
            reflectance: 0.6,
            ..default()
        }),
        skin: materials.add(StandardMaterial {
            base_color: Color::WHITE,
            perceptual_roughness: 0.6,
            ..default()
        }),
        tongue_mat: materials.add(StandardMaterial {
            base_color: Color::srgb(0.55, 0.16, 0.18),
            perceptual_roughness: 0.4,
            ..default()
        }),
        teeth_mat: materials.add(StandardMaterial {
            base_color: Color::srgb(0.92, 0.9, 0.84),
            perceptual_roughness: 0.3,
            ..default()
        }),
    }
}

fn spawn_parts(
    mut commands: Commands,
    meshes: Option<ResMut<Assets<Mesh>>>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
    rig: Option<Res<FaceRig>>,
    head: Query<Entity, With<HeadBody>>,
) {
    let Some(rig) = rig else { return };
    let Ok(head) = head.single() else { return };
    let lm = &rig.assets.face.landmarks;
    let get = |n: &str| lm.get(n).map(Vec3::from);
    let r = lm.eye_radius_m;
    let vis = meshes
        .zip(materials)
        .map(|(mut m, mut mat)| part_visuals(&mut m, &mut mat, r));
    if let Some(neck) = get("neck_base") {
        commands.entity(head).insert(HeadBody { pivot: neck });
    }
    for (side, lid_channel) in [("eye_l", 6usize), ("eye_r", 7usize)] {
        let Some(c) = get(side) else { continue };
        let eye_joint = GenericJointBuilder::new(JointAxesMask::LIN_AXES | JointAxesMask::ANG_Z)
            .local_anchor1(c)
            .local_anchor2(Vec3::ZERO)
            .motor_position(JointAxis::AngX, 0.0, STIFFNESS, DAMPING)
            .motor_position(JointAxis::AngY, 0.0, STIFFNESS, DAMPING)
            .build();
        let eye = commands
            .spawn((
                Part::Eye,
                RigidBody::Dynamic,
                AdditionalMassProperties::MassProperties(MassProperties {
                    mass: 0.007,
                    principal_inertia: Vec3::splat(4e-7),
                    ..default()
                }),
                GravityScale(0.0),
                Transform::from_translation(c),
                ImpulseJoint::new(head, TypedJoint::GenericJoint(eye_joint)),
            ))
            .id();
        let lid_joint = RevoluteJointBuilder::new(Vec3::X)
            .local_anchor1(c)
            .local_anchor2(Vec3::ZERO)
            .motor_position(0.0, STIFFNESS, DAMPING);
        let lid = commands
            .spawn((
                Part::Lid {
                    channel: lid_channel,
                },
                RigidBody::Dynamic,
                AdditionalMassProperties::MassProperties(MassProperties {
                    mass: 0.002,
                    principal_inertia: Vec3::splat(2e-7),
                    ..default()
                }),
                GravityScale(0.0),
                Transform::from_translation(c),
                ImpulseJoint::new(head, lid_joint),
            ))
            .id();
        if let Some(v) = &vis {
            commands
                .entity(eye)
                .insert((Mesh3d(v.eye.clone()), MeshMaterial3d(v.shiny.clone())));
            commands
                .entity(lid)
                .insert((Mesh3d(v.upper_lid.clone()), MeshMaterial3d(v.skin.clone())));
            let lower = commands
                .spawn((
                    Mesh3d(v.lower_lid.clone()),
                    MeshMaterial3d(v.skin.clone()),
                    Transform::from_translation(c),
                ))
                .id();
            commands.entity(head).add_child(lower);
        }
    }
    // Jaw: mouth interior (tongue, lower teeth) hinged at the temporomandibular joints; it
    // carries its own weight (gravity on) against its joint motor.
    if let (Some(pl), Some(pr), Some(mouth)) =
        (get("jaw_pivot_l"), get("jaw_pivot_r"), get("mouth_center"))
    {
        let pivot = (pl + pr) / 2.0;
        let rel = mouth - pivot;
        let jaw_joint = RevoluteJointBuilder::new(Vec3::X)
            .local_anchor1(pivot)
            .local_anchor2(Vec3::ZERO)
            .motor_position(0.0, STIFFNESS, DAMPING);
        let jaw = commands
            .spawn((
                Part::Jaw,
                RigidBody::Dynamic,
                AdditionalMassProperties::MassProperties(MassProperties {
                    mass: 0.15,
                    principal_inertia: Vec3::splat(2e-4),
                    ..default()
                }),
                Transform::from_translation(pivot),
                Visibility::default(),
                ImpulseJoint::new(head, jaw_joint),
            ))
            .id();
        if let Some(v) = &vis {
            commands.entity(jaw).with_children(|j| {
                j.spawn((
                    Mesh3d(v.tongue.clone()),
                    MeshMaterial3d(v.tongue_mat.clone()),
                    Transform::from_translation(rel + Vec3::new(0.0, -0.012, -0.026))
                        .with_scale(Vec3::new(0.019, 0.007, 0.028)),
                ));
                j.spawn((
                    Mesh3d(v.teeth.clone()),
                    MeshMaterial3d(v.teeth_mat.clone()),
                    Transform::from_translation(rel + Vec3::new(0.0, -0.007, -0.012)),
                ));
            });
        }
    }
}

/// Maps the displayed pose onto joint motor targets and the neck's kinematic pose.
fn drive_parts(
    pose: Res<DisplayPose>,
    link: Res<Link>,
    mut head: Query<(&HeadBody, &mut Transform)>,
    mut parts: Query<(&Part, &mut ImpulseJoint)>,
) {
    let p = |name: &str| {
        channel(&link, name)
            .and_then(|i| pose.positions.get(i).copied())
            .unwrap_or(0.0)
    };
    if let Ok((hb, mut t)) = head.single_mut() {
        // Chin up for positive neck_pitch: rotate about +X by a negative angle around the pivot.
        let rot = Quat::from_rotation_x(-p("neck_pitch") * NECK_RAD);
        let new = Transform::from_translation(hb.pivot + rot * -hb.pivot).with_rotation(rot);
        if *t != new {
            *t = new;
        }
    }
    for (part, mut joint) in &mut parts {
        let j = joint.data.as_mut();
        match part {
            Part::Eye => {
                j.set_motor_position(
                    JointAxis::AngY,
                    p("eyes_yaw") * EYE_YAW_RAD,
                    STIFFNESS,
                    DAMPING,
                );
                j.set_motor_position(
                    JointAxis::AngX,
                    -p("eyes_pitch") * EYE_PITCH_RAD,
                    STIFFNESS,
                    DAMPING,
                );
            }
            Part::Lid { channel } => {
                let v = pose.positions.get(*channel).copied().unwrap_or(0.0);
                let angle = if v < 0.0 {
                    -v * LID_CLOSE_RAD
                } else {
                    -v / 0.3 * LID_WIDE_RAD
                };
                j.set_motor_position(JointAxis::AngX, angle, STIFFNESS, DAMPING);
            }
            Part::Jaw => {
                j.set_motor_position(JointAxis::AngX, p("jaw") * JAW_MAX_RAD, STIFFNESS, DAMPING);
            }
        }
    }
}
