//! `LinkPlugin`: which head the twin talks to, live switching without a jump, and the pose the
//! face shows (always from telemetry, never from commands).

use super::TwinArgs;
use bevy::prelude::*;
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::{
    Connector, HeadView, HostConfig, HostLink, LinkState, PoseMap, SerialTransport, Transport,
    VirtualTransport,
};
use facetwin_mirror::Tap;
use std::sync::Arc;

/// Where the twin's commands go and its telemetry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No head: the session stays idle (after "Disconnect").
    Offline,
    Simulated,
    Serial {
        port: String,
        baud: u32,
    },
    /// Follow a head's telemetry, send nothing.
    Mirror {
        port: String,
        baud: u32,
    },
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Self::Offline => "no head".into(),
            Self::Simulated => "simulated head".into(),
            Self::Serial { port, baud } => format!("serial {port} @ {baud}"),
            Self::Mirror { port, baud } => format!("mirror {port} @ {baud}"),
        }
    }
}

pub fn initial_source(args: &TwinArgs) -> Source {
    match (&args.port, &args.mirror) {
        (Some(port), _) => Source::Serial {
            port: port.clone(),
            baud: args.baud,
        },
        (None, Some(port)) => Source::Mirror {
            port: port.clone(),
            baud: args.baud,
        },
        _ => Source::Simulated,
    }
}

/// Parses `NAME=VALUE` motor arguments against the default head's channel names.
pub fn parse_motor_args(args: &[String]) -> anyhow::Result<Vec<f32>> {
    let config = HeadConfig::default_head();
    let mut pose: Vec<f32> = config.channels.iter().map(|c| c.neutral_norm).collect();
    for a in args {
        let (name, value) = a
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--motor {a}: expected NAME=VALUE"))?;
        let i = config.channel_index(name).ok_or_else(|| {
            let names: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
            anyhow::anyhow!(
                "--motor {a}: no channel '{name}'; channels are {}",
                names.join(", ")
            )
        })?;
        let v: f32 = value
            .parse()
            .map_err(|e| anyhow::anyhow!("--motor {a}: '{value}' is not a number: {e}"))?;
        pose[i] = v;
    }
    Ok(pose)
}

/// The live link and what the designer asks of it.
#[derive(Resource)]
pub struct Link {
    pub source: Source,
    pub link: HostLink,
    pub rate_hz: u32,
    /// The designer's pose, normalised travel per channel.
    pub desired: Vec<f32>,
    pub channel_names: Vec<String>,
    pub limits: Vec<(f32, f32)>,
    /// Latest copy of the session's view, refreshed every frame.
    pub view: HeadView,
    /// A message for the user (failed open, vanished port...).
    pub warning: Option<String>,
    pub torque: bool,
    /// The host-side pose map (a calibration) every session of this link applies; kept here
    /// so a source switch hands it to the new session.
    pose_map: Option<Arc<dyn PoseMap>>,
}

impl Link {
    /// Maps every outgoing pose through `map` on the link's thread, from the next command tick,
    /// on this session and every later one.
    pub fn set_pose_map(&mut self, map: Option<Arc<dyn PoseMap>>) {
        self.link.set_pose_map(map.clone());
        self.pose_map = map;
    }
}

/// The pose the face shows: telemetry positions, rate-limited only while a source switch
/// converges so nothing on the face jumps.
#[derive(Resource, Debug, Clone, Default)]
pub struct DisplayPose {
    pub positions: Vec<f32>,
    /// True until the displayed pose has caught up with the new source after a switch.
    pub converging: bool,
    /// Largest per-frame change of any channel during the last switch (normalised travel).
    pub max_switch_step: f32,
}

/// Every frame the host sends and receives, on every session: each connector's transport is
/// wrapped in this one [`Tap`] (time-stamped on the tap's clock), so the engineer's mirror
/// (`MirrorPlugin`) sees the wire across source switches. Whoever drains it owns the frames;
/// undrained frames are bounded ([`TAP_CAPACITY`], oldest dropped and counted).
#[derive(Resource, Debug, Clone)]
pub struct LinkTap(pub Tap);

/// Undrained frames the [`LinkTap`] keeps (about a minute of a 100 Hz / 200 Hz session).
pub const TAP_CAPACITY: usize = 16_384;

/// A pose to show on the face instead of the telemetry (a replay being scrubbed or played).
/// `update_display_pose` shows it as is while it is `Some`; the live head is untouched.
#[derive(Resource, Debug, Clone, Default)]
pub struct ReplayPose(pub Option<Vec<f32>>);

/// Largest change of any displayed channel per frame while converging after a switch.
pub const SWITCH_STEP_NORM: f32 = 0.01;

/// Requests from the UI.
#[derive(Message, Debug, Clone)]
pub enum LinkRequest {
    Switch(Source),
    EmergencyStop,
    ClearFaults,
    Torque(bool),
    Neutral,
}

pub struct LinkPlugin {
    pub initial: Source,
    pub rate_hz: u32,
    pub pose: Vec<f32>,
}

impl Plugin for LinkPlugin {
    fn build(&self, app: &mut App) {
        let config = HeadConfig::default_head();
        let names: Vec<String> = config.channels.iter().map(|c| c.name.clone()).collect();
        let limits = config
            .channels
            .iter()
            .map(|c| (c.min_norm, c.max_norm))
            .collect();
        let tap = Tap::new();
        tap.set_capacity(TAP_CAPACITY);
        let link = start(&self.initial, self.rate_hz, None, &tap);
        link.set_desired(&self.pose);
        app.insert_resource(Link {
            source: self.initial.clone(),
            link,
            rate_hz: self.rate_hz,
            desired: self.pose.clone(),
            channel_names: names,
            limits,
            view: HeadView::default(),
            warning: None,
            torque: true,
            pose_map: None,
        })
        .insert_resource(DisplayPose {
            positions: vec![0.0; config.channels.len()],
            ..default()
        })
        .insert_resource(LinkTap(tap))
        .init_resource::<ReplayPose>()
        .add_message::<LinkRequest>()
        .add_systems(
            PreUpdate,
            (handle_requests, refresh_view, update_display_pose).chain(),
        );
    }
}

/// The session's connector for `source`, every transport it opens wrapped in `tap`.
fn connector(source: &Source, start_pose: Option<Vec<f32>>, tap: &Tap) -> Connector {
    let mut open = untapped_connector(source, start_pose);
    let tap = tap.clone();
    Box::new(move || open().map(|t| Box::new(tap.wrap(t)) as Box<dyn Transport>))
}

fn untapped_connector(source: &Source, start_pose: Option<Vec<f32>>) -> Connector {
    match source.clone() {
        Source::Offline => Box::new(|| {
            Err(facetwin_link::LinkError::Disconnected(
                "disconnected by the user".into(),
            ))
        }),
        Source::Simulated => {
            let mut pending = start_pose;
            Box::new(move || {
                let mut head = VirtualHead::new(HeadConfig::default_head());
                if let Some(p) = pending.take() {
                    // Continue from where the face is, so switching to the simulation is seamless.
                    head.set_positions(&p);
                }
                Ok(Box::new(VirtualTransport::new(head)) as Box<dyn Transport>)
            })
        }
        Source::Serial { port, baud } | Source::Mirror { port, baud } => Box::new(move || {
            SerialTransport::open(&port, baud).map(|t| Box::new(t) as Box<dyn Transport>)
        }),
    }
}

/// Starts a session on `source`; every frame either way goes through `tap`.
pub fn start(source: &Source, rate_hz: u32, start_pose: Option<Vec<f32>>, tap: &Tap) -> HostLink {
    let config = HostConfig {
        command_rate_hz: rate_hz.clamp(10, 1000),
        passive: matches!(source, Source::Mirror { .. }),
        ..HostConfig::default()
    };
    HostLink::start(connector(source, start_pose, tap), config)
}

fn handle_requests(
    mut requests: MessageReader<LinkRequest>,
    mut link: ResMut<Link>,
    mut display: ResMut<DisplayPose>,
    tap: Res<LinkTap>,
) {
    for r in requests.read() {
        match r {
            LinkRequest::Switch(source) => {
                // The new head starts from the pose the face shows now.
                let pose = display.positions.clone();
                let new = start(source, link.rate_hz, Some(pose), &tap.0);
                new.set_desired(&link.desired);
                new.set_torque(link.torque);
                new.set_pose_map(link.pose_map.clone());
                let old = std::mem::replace(&mut link.link, new);
                // Dropping the old session sends torque-off to the old head before closing.
                drop(old);
                link.source = source.clone();
                link.warning = None;
                display.converging = true;
                display.max_switch_step = 0.0;
            }
            LinkRequest::EmergencyStop => {
                link.link.emergency_stop();
                link.torque = false;
            }
            LinkRequest::ClearFaults => link
                .link
                .queue(facetwin_protocol::Message::ClearFaults { mask: u32::MAX }),
            LinkRequest::Torque(on) => {
                link.torque = *on;
                link.link.set_torque(*on);
            }
            LinkRequest::Neutral => {
                for p in &mut link.desired {
                    *p = 0.0;
                }
                let d = link.desired.clone();
                link.link.set_desired(&d);
            }
        }
    }
}

fn refresh_view(mut link: ResMut<Link>) {
    let view = link.link.view();
    if let LinkState::Disconnected { reason } = &view.state
        && link.view.state.is_connected()
    {
        link.warning = Some(format!(
            "{} lost: {reason}. Head safe (torque off on its watchdog); reconnecting…",
            link.source.label()
        ));
    }
    if view.state.is_connected() && link.warning.as_deref().is_some_and(|w| w.contains("lost")) {
        link.warning = None;
    }
    if !view.channels.is_empty() && view.channels.iter().all(|c| !c.name.starts_with("ch")) {
        link.limits = view
            .channels
            .iter()
            .map(|c| (c.min_norm, c.max_norm))
            .collect();
    }
    link.view = view;
}

fn update_display_pose(
    link: Res<Link>,
    mut display: ResMut<DisplayPose>,
    replay: Option<Res<ReplayPose>>,
) {
    // A replay being scrubbed or played takes the face over (its recorded telemetry).
    if let Some(pose) = replay.as_ref().and_then(|r| r.0.as_ref()) {
        display.positions.clone_from(pose);
        return;
    }
    let Some(measured) = link.view.positions_norm() else {
        return;
    };
    let display = &mut *display;
    if display.positions.len() != measured.len() {
        display.positions = measured;
        return;
    }
    let mut max_gap = 0.0f32;
    for (shown, &m) in display.positions.iter_mut().zip(&measured) {
        if display.converging {
            let step = (m - *shown).clamp(-SWITCH_STEP_NORM, SWITCH_STEP_NORM);
            *shown += step;
            display.max_switch_step = display.max_switch_step.max(step.abs());
            max_gap = max_gap.max((m - *shown).abs());
        } else {
            *shown = m;
        }
    }
    // The face stays rate-limited until the new session has finished its own handover ramp and
    // the shown pose has caught up with the measured one.
    let settled = link.view.state.is_connected() && !link.view.handing_over;
    if display.converging && settled && max_gap < 1e-3 {
        display.converging = false;
    }
}
