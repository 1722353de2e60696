//! `CameraPlugin`: an orbit camera that ignores the pointer while it is over an egui panel,
//! and the lighting.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

/// Set by the UI each frame: the pointer belongs to egui.
#[derive(Resource, Default)]
pub struct PointerOverUi(pub bool);

#[derive(Component, Debug)]
pub struct Orbit {
    pub target: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
}

impl Orbit {
    pub fn transform(&self) -> Transform {
        let rot = Quat::from_euler(EulerRot::YXZ, self.yaw, self.pitch, 0.0);
        Transform::from_translation(self.target + rot * Vec3::new(0.0, 0.0, self.distance))
            .looking_at(self.target, Vec3::Y)
    }
}

pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PointerOverUi>()
            .insert_resource(GlobalAmbientLight {
                color: Color::srgb(0.85, 0.88, 1.0),
                brightness: 350.0,
                ..default()
            })
            .add_systems(Startup, setup)
            .add_systems(Update, orbit);
    }
}

pub fn setup(mut commands: Commands) {
    // With the panels shown the face sits left of centre, between them.
    let x = if super::ui::is_hidden() { 0.0 } else { -0.035 };
    let orbit = Orbit {
        target: Vec3::new(x, -0.01, 0.0),
        yaw: 0.32,
        pitch: -0.05,
        distance: 0.62,
    };
    commands.spawn((Camera3d::default(), orbit.transform(), orbit));
    // Key light (warm, upper left), fill (cool, right), rim (behind).
    commands.spawn((
        DirectionalLight {
            illuminance: 9_000.0,
            color: Color::srgb(1.0, 0.95, 0.88),
            ..default()
        },
        Transform::from_xyz(0.6, 0.8, 1.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 3_000.0,
            color: Color::srgb(0.8, 0.88, 1.0),
            ..default()
        },
        Transform::from_xyz(-1.0, 0.1, 0.6).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 2_500.0,
            ..default()
        },
        Transform::from_xyz(0.0, 0.5, -1.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn orbit(
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    over_ui: Res<PointerOverUi>,
    mut q: Query<(&mut Orbit, &mut Transform)>,
) {
    if over_ui.0 {
        return;
    }
    let Ok((mut o, mut t)) = q.single_mut() else {
        return;
    };
    let mut changed = false;
    if buttons.pressed(MouseButton::Left) && motion.delta != Vec2::ZERO {
        o.yaw -= motion.delta.x * 0.008;
        o.pitch = (o.pitch - motion.delta.y * 0.008).clamp(-1.4, 1.4);
        changed = true;
    }
    if buttons.pressed(MouseButton::Right) && motion.delta != Vec2::ZERO {
        let right = t.right();
        let up = t.up();
        let k = o.distance * 0.0015;
        o.target += (-right * motion.delta.x + up * motion.delta.y) * k;
        changed = true;
    }
    if scroll.delta.y != 0.0 {
        o.distance = (o.distance * (1.0 - scroll.delta.y * 0.1)).clamp(0.15, 3.0);
        changed = true;
    }
    if changed {
        *t = o.transform();
    }
}
