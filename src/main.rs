use bevy::prelude::*;
fn main() { let _ = App::new(); let _ = bevy_egui::EguiPlugin::default(); let _ = bevy_rapier3d::prelude::RapierPhysicsPlugin::<bevy_rapier3d::prelude::NoUserData>::default(); }
