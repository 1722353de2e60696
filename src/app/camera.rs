//! `CameraPlugin`: an orbit camera that ignores the pointer while it is over an egui panel,
//! and the lighting.

use bevy::camera::SubCameraView;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

/// Set by the UI each frame: the pointer belongs to egui.
#[derive(Resource, Default)]
pub struct PointerOverUi(pub bool);

/// The part of the window the panels leave free, logical pixels (`min`, `max`), written by the
/// UI after it laid out its panels; `None` = the whole window (no panels). The 3D view renders
/// into exactly this area, so the face stays centred and whole however the panels are sized.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub struct SceneArea(pub Option<Rect>);

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
            .init_resource::<SceneArea>()
            .insert_resource(GlobalAmbientLight {
                color: Color::srgb(0.85, 0.88, 1.0),
                brightness: 350.0,
                ..default()
            })
            .add_systems(Startup, setup)
            .add_systems(Update, orbit)
            .add_systems(PostUpdate, fit_viewport);
    }
}

pub fn setup(mut commands: Commands) {
    // The view fills the area the panels leave free (see `fit_viewport`): the face is centred.
    let orbit = Orbit {
        target: Vec3::new(0.0, -0.01, 0.0),
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

/// A sub-view that puts the projection's centre and vertical field of view on the free area
/// (logical pixels) while the camera still renders the whole window (egui draws through the
/// same camera, so the camera's viewport must stay the window): the window is rendered as a
/// region of a virtual image the size of the free area. `None` when the area is absent or too
/// small to frame anything (the plain projection then).
pub fn sub_view_for(area: Option<Rect>, scale: f32, window: UVec2) -> Option<SubCameraView> {
    let area = area?;
    let win = window.as_vec2();
    let min = (area.min * scale).clamp(Vec2::ZERO, win);
    let max = (area.max * scale).clamp(Vec2::ZERO, win);
    let size = (max - min).round();
    (size.x >= 16.0 && size.y >= 16.0 && window.x > 0 && window.y > 0).then(|| SubCameraView {
        full_size: size.as_uvec2(),
        offset: -min.round(),
        size: window,
    })
}

/// Frames the 3D view on the [`SceneArea`].
fn fit_viewport(
    area: Res<SceneArea>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<Orbit>>,
) {
    let Ok(window) = windows.single() else {
        return;
    };
    let size = UVec2::new(window.physical_width(), window.physical_height());
    let sub = sub_view_for(area.0, window.scale_factor(), size);
    for mut camera in &mut cameras {
        if camera.sub_camera_view != sub {
            camera.sub_camera_view = sub;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_view_centres_the_projection_on_the_free_area() {
        let area = Rect::new(250.0, 0.0, 1300.0, 700.0);
        let v = sub_view_for(Some(area), 2.0, UVec2::new(3200, 2000)).expect("sub view");
        assert_eq!(v.full_size, UVec2::new(2100, 1400));
        assert_eq!(v.offset, Vec2::new(-500.0, 0.0));
        assert_eq!(v.size, UVec2::new(3200, 2000));
        // Beyond the window: clamped to it.
        let v = sub_view_for(
            Some(Rect::new(-10.0, -10.0, 5000.0, 5000.0)),
            1.0,
            UVec2::new(800, 600),
        )
        .expect("sub view");
        assert_eq!(v.full_size, UVec2::new(800, 600));
        assert_eq!(v.offset, Vec2::ZERO);
        // Panels that leave nothing: the plain projection.
        let sliver = Rect::new(10.0, 10.0, 12.0, 500.0);
        assert!(sub_view_for(Some(sliver), 1.0, UVec2::new(800, 600)).is_none());
        assert!(sub_view_for(None, 1.0, UVec2::new(800, 600)).is_none());
    }
}
