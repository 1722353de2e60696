//! `UiPlugin`: the motor panel, the link panel and the emergency stop.
//!
//! Each panel first computes a plain view-model from the resources, then draws it in a `*_ui`
//! function.

use super::camera::{PointerOverUi, SceneArea};
use super::face::FaceRig;
use super::link::{DisplayPose, Link, LinkRequest, Source};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use facetwin_link::LinkState;
use std::sync::atomic::{AtomicBool, Ordering};

static HIDDEN: AtomicBool = AtomicBool::new(false);

/// Hides all panels (for clean renders).
pub fn set_hidden(hidden: bool) {
    HIDDEN.store(hidden, Ordering::Relaxed);
}

pub fn is_hidden() -> bool {
    HIDDEN.load(Ordering::Relaxed)
}

/// The key that triggers the emergency stop.
pub const ESTOP_KEY: KeyCode = KeyCode::Escape;

pub struct UiPlugin;

/// Room kept free at the window's left and bottom edges for other plugins' panels (the
/// authoring workbench), logical pixels; the motor and link panels lay out in the rest. Written
/// by those plugins in systems ordered before [`panels`].
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct ReservedEdges {
    pub left: f32,
    pub bottom: f32,
}

/// What the bottom dock shows: the designer's timeline or the engineer's mirror (one at a
/// time, full width, so neither covers the other or the face).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DockTab {
    #[default]
    Timeline,
    Mirror,
}

/// The bottom dock's tab, and whether the mirror wants attention (a shadow alarm) while the
/// timeline is shown.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dock {
    pub tab: DockTab,
    pub mirror_alert: bool,
}

impl Default for Dock {
    /// The timeline, or the mirror when `FACETWIN_MIRROR_TAB` asks for one of its tabs.
    fn default() -> Self {
        let mirror = std::env::var("FACETWIN_MIRROR_TAB").is_ok_and(|t| !t.trim().is_empty());
        Self {
            tab: if mirror {
                DockTab::Mirror
            } else {
                DockTab::Timeline
            },
            mirror_alert: false,
        }
    }
}

/// Systems drawing the bottom dock; they run before the side panels take their share.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockSet;

/// A background `Ui` over `rect` for panels to take their share of (each panel system lays
/// out in the part of the window the others left it).
pub fn root_ui(ctx: &egui::Context, id: &'static str, rect: egui::Rect) -> egui::Ui {
    egui::Ui::new(
        ctx.clone(),
        id.into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(rect),
    )
}

/// The dock's tab strip, drawn at the top of whichever dock panel is showing.
pub fn dock_tabs(ui: &mut egui::Ui, dock: &mut Dock) {
    ui.horizontal(|ui| {
        ui.selectable_value(
            &mut dock.tab,
            DockTab::Timeline,
            egui::RichText::new("Timeline").strong(),
        );
        let mirror = if dock.mirror_alert && dock.tab != DockTab::Mirror {
            egui::RichText::new("Engineer's mirror — ALARM")
                .strong()
                .color(egui::Color32::from_rgb(255, 90, 80))
        } else {
            egui::RichText::new("Engineer's mirror").strong()
        };
        ui.selectable_value(&mut dock.tab, DockTab::Mirror, mirror);
    });
    ui.separator();
}

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LinkPanelState>()
            .init_resource::<ReservedEdges>()
            .init_resource::<Dock>()
            .add_systems(EguiPrimaryContextPass, panels.after(DockSet))
            .add_systems(Update, estop_key);
    }
}

/// Channel groups by face region, by channel name prefix.
pub const REGIONS: [(&str, &[&str]); 6] = [
    ("Brows", &["frontalis", "corrugator"]),
    ("Eyes", &["levator_palpebrae", "orbicularis_oculi", "eyes_"]),
    ("Cheeks", &["levator_labii", "zygomaticus"]),
    (
        "Mouth",
        &["risorius", "depressor", "mentalis", "orbicularis_oris"],
    ),
    ("Jaw", &["jaw"]),
    ("Neck", &["neck"]),
];

/// One row of the motor panel.
#[derive(Debug, Clone, PartialEq)]
pub struct MotorRow {
    pub index: usize,
    pub name: String,
    pub commanded: f32,
    pub measured: Option<f32>,
    pub current_ma: Option<i16>,
    pub temperature_c: Option<f32>,
    pub faults: u8,
    pub limits: (f32, f32),
}

/// The motor panel's view-model.
pub fn motor_rows(link: &Link) -> Vec<MotorRow> {
    let tel = link.view.telemetry;
    link.channel_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let c = tel.and_then(|t| t.channels().get(i).copied());
            MotorRow {
                index: i,
                name: name.clone(),
                commanded: link.desired.get(i).copied().unwrap_or(0.0),
                measured: c.map(|c| c.position_norm()),
                current_ma: c.map(|c| c.current_ma),
                temperature_c: c.map(|c| c.temperature_c()),
                faults: c.map_or(0, |c| c.faults),
                limits: link.limits.get(i).copied().unwrap_or((-1.0, 1.0)),
            }
        })
        .collect()
}

#[derive(Resource, Default)]
pub struct LinkPanelState {
    ports: Vec<String>,
    port: String,
    baud: u32,
    refreshed: bool,
}

/// The motor and link panels (public so other panels can be ordered before it).
#[allow(clippy::too_many_arguments)]
pub fn panels(
    mut contexts: EguiContexts,
    mut link: ResMut<Link>,
    mut requests: MessageWriter<LinkRequest>,
    mut panel: ResMut<LinkPanelState>,
    mut over_ui: ResMut<PointerOverUi>,
    pose: Res<DisplayPose>,
    rig: Option<ResMut<FaceRig>>,
    diagnostics: Res<Time>,
    reserved: Res<ReservedEdges>,
    mut scene: ResMut<SceneArea>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if HIDDEN.load(Ordering::Relaxed) {
        over_ui.0 = false;
        scene.set_if_neq(SceneArea(None));
        return Ok(());
    }
    let rows = motor_rows(&link);
    let mut changed = false;
    let mut area = ctx.viewport_rect();
    area.min.x = (area.min.x + reserved.left.max(0.0)).min(area.max.x);
    area.max.y = (area.max.y - reserved.bottom.max(0.0)).max(area.min.y);
    let mut root = root_ui(ctx, "facetwin-root", area);
    egui::Panel::left("motors")
        .default_size(360.0)
        .show(&mut root, |ui| {
            changed = motor_panel_ui(ui, &rows, &mut link.desired);
            ui.separator();
            ui.horizontal(|ui| {
                if ui.button("Neutral").clicked() {
                    requests.write(LinkRequest::Neutral);
                }
                let torque = link.torque;
                if ui
                    .button(if torque {
                        "Relax all (torque off)"
                    } else {
                        "Torque on"
                    })
                    .clicked()
                {
                    requests.write(LinkRequest::Torque(!torque));
                }
            });
        });
    if changed {
        let d = link.desired.clone();
        link.link.set_desired(&d);
    }
    egui::Panel::right("link")
        .default_size(300.0)
        .show(&mut root, |ui| {
            link_panel_ui(
                ui,
                &link,
                &mut panel,
                &mut requests,
                &pose,
                diagnostics.delta_secs(),
            );
            ui.separator();
            if let Some(mut rig) = rig {
                let mut show = rig.show_muscles;
                if ui.checkbox(&mut show, "Show muscles").changed() {
                    rig.show_muscles = show;
                }
            }
        });
    // What the panels left is the 3D view's.
    let free = root.available_rect_before_wrap();
    scene.set_if_neq(SceneArea(Some(Rect::new(
        free.min.x, free.min.y, free.max.x, free.max.y,
    ))));
    over_ui.0 = ctx.is_pointer_over_egui() || ctx.egui_wants_pointer_input();
    Ok(())
}

/// Draws the 25 sliders grouped by region. Returns whether the designer moved one.
pub fn motor_panel_ui(ui: &mut egui::Ui, rows: &[MotorRow], desired: &mut [f32]) -> bool {
    let mut changed = false;
    ui.heading("Motors");
    ui.label("slider = commanded · bar = measured (telemetry)");
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 40.0)
        .show(ui, |ui| {
            for (region, prefixes) in REGIONS {
                egui::CollapsingHeader::new(region)
                    .default_open(true)
                    .show(ui, |ui| {
                        for row in rows
                            .iter()
                            .filter(|r| prefixes.iter().any(|p| r.name.starts_with(p)))
                        {
                            let Some(value) = desired.get_mut(row.index) else {
                                continue;
                            };
                            ui.horizontal(|ui| {
                                let label = row.name.replace('_', " ");
                                ui.add_sized(
                                    [150.0, 16.0],
                                    egui::Label::new(egui::RichText::new(label).small()).truncate(),
                                );
                                let r = ui.add(
                                    egui::Slider::new(value, row.limits.0..=row.limits.1)
                                        .show_value(false),
                                );
                                changed |= r.changed();
                            });
                            ui.horizontal(|ui| {
                                ui.add_space(150.0);
                                let m = row.measured.unwrap_or(0.0);
                                let span = (row.limits.1 - row.limits.0).max(1e-3);
                                let frac = ((m - row.limits.0) / span).clamp(0.0, 1.0);
                                ui.add(
                                    egui::ProgressBar::new(frac)
                                        .desired_width(110.0)
                                        .desired_height(6.0),
                                );
                                let faults = if row.faults != 0 {
                                    format!(" ⚠{:#04x}", row.faults)
                                } else {
                                    String::new()
                                };
                                let text = format!(
                                    "{:+.2} {:>4}mA {:>4.0}°C{faults}",
                                    m,
                                    row.current_ma.unwrap_or(0),
                                    row.temperature_c.unwrap_or(0.0)
                                );
                                let color = if row.faults != 0 {
                                    egui::Color32::LIGHT_RED
                                } else {
                                    egui::Color32::GRAY
                                };
                                ui.label(
                                    egui::RichText::new(text).small().monospace().color(color),
                                );
                            });
                        }
                    });
            }
        });
    changed
}

fn link_panel_ui(
    ui: &mut egui::Ui,
    link: &Link,
    panel: &mut LinkPanelState,
    requests: &mut MessageWriter<LinkRequest>,
    pose: &DisplayPose,
    frame_s: f32,
) {
    ui.heading("Link");
    let big = egui::Button::new(
        egui::RichText::new("EMERGENCY STOP  (Esc)")
            .strong()
            .size(18.0)
            .color(egui::Color32::WHITE),
    )
    .fill(egui::Color32::from_rgb(190, 20, 20))
    .min_size(egui::vec2(ui.available_width(), 40.0));
    if ui.add(big).clicked() {
        requests.write(LinkRequest::EmergencyStop);
    }
    if ui.button("Clear faults / release e-stop").clicked() {
        requests.write(LinkRequest::ClearFaults);
    }
    ui.separator();
    ui.label(format!("source: {}", link.source.label()));
    let (text, color) = match &link.view.state {
        LinkState::Connected => ("connected".to_string(), egui::Color32::LIGHT_GREEN),
        LinkState::Disconnected { reason } => {
            (format!("disconnected: {reason}"), egui::Color32::LIGHT_RED)
        }
        other => (format!("{other:?}"), egui::Color32::YELLOW),
    };
    ui.colored_label(color, text);
    if let Some(w) = &link.warning {
        ui.colored_label(egui::Color32::from_rgb(255, 170, 60), format!("⚠ {w}"));
    }
    let status = link.view.telemetry.map_or(0, |t| t.status);
    if status & facetwin_protocol::status::SAFE_STOP_LATCHED != 0 {
        ui.colored_label(
            egui::Color32::from_rgb(255, 170, 60),
            "⚠ the head's watchdog put it in its safe state (torque off, neutral) since the \
             last clear, e.g. while the link was down; Clear faults acknowledges",
        );
    }
    if link.view.handing_over || pose.converging {
        ui.label("handover: ramping at ≤ 1 % of travel per step");
    }
    if !panel.refreshed {
        panel.refreshed = true;
        panel.baud = 1_000_000;
        panel.ports = list_ports();
        if panel.port.is_empty() {
            panel.port = panel
                .ports
                .first()
                .cloned()
                .unwrap_or_else(|| "/tmp/facetwin-head".into());
        }
    }
    ui.horizontal(|ui| {
        if ui.button("Simulated head").clicked() {
            requests.write(LinkRequest::Switch(Source::Simulated));
        }
        if ui
            .button("Disconnect")
            .on_hover_text("torque off on the current head, then idle")
            .clicked()
        {
            requests.write(LinkRequest::Switch(Source::Offline));
        }
    });
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("port")
            .selected_text(panel.port.clone())
            .width(170.0)
            .show_ui(ui, |ui| {
                for p in panel.ports.clone() {
                    ui.selectable_value(&mut panel.port, p.clone(), p);
                }
            });
        if ui
            .button("⟳")
            .on_hover_text("refresh the port list")
            .clicked()
        {
            panel.ports = list_ports();
        }
    });
    ui.horizontal(|ui| {
        ui.label("path");
        ui.text_edit_singleline(&mut panel.port);
    });
    ui.horizontal(|ui| {
        ui.label("baud");
        ui.add(egui::DragValue::new(&mut panel.baud).range(9600..=4_000_000));
    });
    ui.horizontal(|ui| {
        if ui.button("Connect serial").clicked() {
            requests.write(LinkRequest::Switch(Source::Serial {
                port: panel.port.clone(),
                baud: panel.baud,
            }));
        }
        if ui
            .button("Mirror")
            .on_hover_text("follow the head's telemetry, send nothing")
            .clicked()
        {
            requests.write(LinkRequest::Switch(Source::Mirror {
                port: panel.port.clone(),
                baud: panel.baud,
            }));
        }
    });
    ui.separator();
    let s = &link.view.stats;
    egui::Grid::new("stats").num_columns(2).show(ui, |ui| {
        ui.label("frames out/s");
        ui.label(format!("{:.0}", s.out_per_s));
        ui.end_row();
        ui.label("telemetry/s");
        ui.label(format!("{:.0}", s.telemetry_per_s));
        ui.end_row();
        ui.label("decode errors");
        ui.label(format!("{} (crc {})", s.decoder.errors(), s.decoder.crc));
        ui.end_row();
        ui.label("rejected / clamped");
        ui.label(format!("{} / {}", s.rejected, s.clamped));
        ui.end_row();
        ui.label("round trip p50/p99");
        let p = |q| {
            s.rtt_percentile_us(q)
                .map_or("-".into(), |u| format!("{:.2}", f64::from(u) / 1e3))
        };
        ui.label(format!("{} / {} ms", p(50.0), p(99.0)));
        ui.end_row();
        ui.label("frame time");
        ui.label(format!("{:.1} ms", frame_s * 1e3));
        ui.end_row();
    });
    if let Some(info) = link.view.info {
        ui.label(format!(
            "head {:#010x} fw {}.{}.{} · {} channels",
            info.head_id, info.firmware[0], info.firmware[1], info.firmware[2], info.channel_count
        ));
    }
}

fn list_ports() -> Vec<String> {
    let mut v: Vec<String> = facetwin_link::list_ports()
        .map(|p| p.into_iter().map(|i| i.port_name).collect())
        .unwrap_or_default();
    if std::path::Path::new("/tmp/facetwin-head").exists() {
        v.insert(0, "/tmp/facetwin-head".into());
    }
    v
}

fn estop_key(keys: Res<ButtonInput<KeyCode>>, mut requests: MessageWriter<LinkRequest>) {
    if keys.just_pressed(ESTOP_KEY) {
        requests.write(LinkRequest::EmergencyStop);
    }
}
