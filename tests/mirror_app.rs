//! The engineer's mirror headless (`MinimalPlugins`, the simulated head on the link thread in
//! real time): the tap feeds the plots' history and the packet monitor, a recording made
//! through the mirror reads back and replays on the face, shadow mode raises the torn-tendon
//! alarm on the injected channel and nowhere else, calibration files map the designer's pose.

use bevy::prelude::*;
use facetwin::app::face::FaceAssets;
use facetwin::app::headless_app;
use facetwin::app::link::{DisplayPose, Link, ReplayPose, Source};
use facetwin::app::mirror::{
    self, DirectionFilter, History, MirrorRequest, MirrorState, PacketFilter, Severity,
    export_packets, filtered_rows, plots_view,
};
use facetwin_link::LinkState;
use facetwin_mirror::{Calibration, ChannelCalibration, Direction, Recording, TappedFrame};
use facetwin_protocol::{FaultKind, Message, MsgType, Targets};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ZYG_L: usize = 12;

/// The tests run a real-time head each; one at a time, so they don't starve each other's link
/// threads on a small machine.
static REAL_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    REAL_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn app(pose: Vec<f32>) -> App {
    let assets = FaceAssets::load(None).expect("default face and rig");
    headless_app(assets, Source::Simulated, 100, pose)
}

fn neutral() -> Vec<f32> {
    vec![0.0; 25]
}

fn with(channel: usize, value: f32) -> Vec<f32> {
    let mut p = neutral();
    p[channel] = value;
    p
}

/// Steps the app until `done` or the limit; true when done.
fn run_until(app: &mut App, limit: Duration, mut done: impl FnMut(&mut App) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        app.update();
        if done(app) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn run_for(app: &mut App, d: Duration) {
    run_until(app, d, |_| false);
}

fn connected(app: &mut App) -> bool {
    app.world().resource::<Link>().view.state == LinkState::Connected
}

fn measured(app: &App, channel: usize) -> f32 {
    app.world()
        .resource::<Link>()
        .view
        .positions_norm()
        .and_then(|p| p.get(channel).copied())
        .unwrap_or(f32::NAN)
}

fn set_desired(app: &mut App, pose: &[f32]) {
    let mut link = app.world_mut().resource_mut::<Link>();
    link.desired = pose.to_vec();
    link.link.set_desired(pose);
}

fn request(app: &mut App, r: MirrorRequest) {
    app.world_mut().write_message(r);
}

fn state(app: &App) -> &MirrorState {
    app.world().resource::<MirrorState>()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("facetwin-mirror-app-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn the_tap_feeds_commanded_and_measured_series() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.6));
    assert!(
        run_until(&mut app, Duration::from_secs(5), connected),
        "simulated head connects"
    );
    run_for(&mut app, Duration::from_secs(1));
    let s = state(&app);
    let h = &s.history;
    assert!(
        h.telemetry.len() > 50,
        "telemetry frames: {}",
        h.telemetry.len()
    );
    assert!(
        h.commands.len() > 30,
        "SetTargets frames: {}",
        h.commands.len()
    );
    let link = app.world().resource::<Link>();
    let view = plots_view(h, &link.channel_names, &link.limits, &[ZYG_L], 10.0, &[]);
    assert_eq!(view.sparklines.len(), 25, "a sparkline per channel");
    let zyg = view.series.first().expect("the selected channel's series");
    assert_eq!(zyg.name, "zygomaticus_major_l");
    assert!(!zyg.commanded.is_empty() && !zyg.position.is_empty());
    assert!(
        !zyg.velocity.is_empty() && !zyg.current_ma.is_empty() && !zyg.temperature_c.is_empty()
    );
    // Commanded: what the host sent (the handover ramp, then the designer's 0.6).
    let last_cmd = zyg.commanded.last().map(|p| p.y).unwrap_or(f64::NAN);
    assert!((last_cmd - 0.6).abs() < 0.01, "last commanded {last_cmd}");
    // Measured: the telemetry, which lags behind but follows.
    let last_meas = zyg.position.last().map(|p| p.y).unwrap_or(f64::NAN);
    assert!(last_meas > 0.3, "measured follows the command: {last_meas}");
    assert!(
        zyg.position.iter().all(|p| p.x <= 0.0 && p.x >= -10.0),
        "x is seconds before now"
    );
    // An idle channel is commanded at 0 and stays there.
    let spark = &view.sparklines[0];
    assert!(
        spark.latest.is_some_and(|p| p.abs() < 0.05),
        "{:?}",
        spark.latest
    );
    assert!(!spark.measured.is_empty());
}

fn frame(t_s: f64, direction: Direction, seq: u8, message: Message) -> TappedFrame {
    TappedFrame {
        t: Duration::from_secs_f64(t_s),
        direction,
        seq,
        message,
    }
}

#[test]
fn history_keeps_thirty_seconds_and_marks_faults_when_they_appear() {
    let mut h = History::default();
    let mut tel = facetwin_protocol::Telemetry {
        head_time_us: 0,
        torque_mask: 0,
        status: 0,
        count: 25,
        channels: [Default::default(); facetwin_protocol::MAX_CHANNELS],
    };
    for k in 0..=400 {
        let t = f64::from(k) * 0.1; // 40 s at 10 Hz
        tel.channels[3].faults = if (200..250).contains(&k) {
            facetwin_protocol::fault::STALL
        } else {
            0
        };
        h.push(&frame(
            t,
            Direction::FromHead,
            k as u8,
            Message::Telemetry(tel),
        ));
        h.push(&frame(
            t,
            Direction::ToHead,
            k as u8,
            Message::SetTargets(Targets::from_norm(&[0.25; 25], 0)),
        ));
        // Other messages are not kept.
        h.push(&frame(
            t,
            Direction::FromHead,
            0,
            Message::Pong {
                token: 1,
                head_time_us: 0,
            },
        ));
    }
    assert!(
        h.span_s() <= mirror::HISTORY_S + 1e-9,
        "span {}",
        h.span_s()
    );
    assert!(h.span_s() >= mirror::HISTORY_S - 0.2, "span {}", h.span_s());
    assert!(h.telemetry.len() <= 302 && h.commands.len() <= 302);
    let s = mirror::channel_series(&h, 3, "x", 40.0, 30.0, 100);
    assert!(s.position.len() <= 101, "decimated: {}", s.position.len());
    assert_eq!(s.fault_marks.len(), 1, "{:?}", s.fault_marks);
    assert!(
        (s.fault_marks[0].t - (20.0 - 40.0)).abs() < 1e-6,
        "{:?}",
        s.fault_marks
    );
    assert!(s.commanded.iter().all(|p| (p.y - 0.25).abs() < 1e-3));
}

#[test]
fn paused_packet_monitor_holds_new_frames_and_shows_them_on_resume() {
    let mut m = mirror::PacketMonitor::default();
    let ping = |k: u32| {
        frame(
            f64::from(k) * 0.01,
            Direction::ToHead,
            k as u8,
            Message::Ping { token: k },
        )
    };
    for k in 0..10 {
        m.push(&ping(k));
    }
    m.set_paused(true);
    for k in 10..25 {
        m.push(&ping(k));
    }
    // The rows stand still for reading; nothing is lost.
    assert_eq!(m.rows.len(), 10);
    assert_eq!(m.held(), 15);
    assert_eq!(m.skipped, 0);
    m.set_paused(false);
    assert_eq!(m.rows.len(), 25);
    assert_eq!(m.held(), 0);
    let order: Vec<u64> = m.rows.iter().map(|r| r.index).collect();
    assert_eq!(order, (0..25).collect::<Vec<u64>>());
    // A pause longer than the monitor holds keeps the newest frames and counts the rest.
    m.set_paused(true);
    for k in 0..(mirror::MAX_PACKETS as u32 + 7) {
        m.push(&ping(k));
    }
    assert_eq!(m.held(), mirror::MAX_PACKETS);
    assert_eq!(m.skipped, 7);
    m.set_paused(false);
    assert_eq!(m.rows.len(), mirror::MAX_PACKETS);
    assert_eq!(m.total(), 25 + mirror::MAX_PACKETS as u64 + 7);
    m.clear();
    assert!(m.rows.is_empty() && m.held() == 0);
}

#[test]
fn packet_monitor_rows_both_ways_with_sequence_numbers_filters_and_export() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.3));
    assert!(run_until(&mut app, Duration::from_secs(5), connected));
    run_for(&mut app, Duration::from_millis(700));
    let s = state(&app);
    let all = filtered_rows(&s.packets, &PacketFilter::default());
    assert!(
        all.iter()
            .any(|r| r.msg_type == MsgType::Telemetry && r.direction == Direction::FromHead)
    );
    assert!(
        all.iter()
            .any(|r| r.msg_type == MsgType::SetTargets && r.direction == Direction::ToHead)
    );
    assert!(
        all.iter().any(|r| r.msg_type == MsgType::HelloReply),
        "the handshake is in the monitor"
    );
    // Every host frame goes through the tap: the host's sequence numbers have no gaps.
    let host: Vec<u8> = all
        .iter()
        .filter(|r| r.direction == Direction::ToHead)
        .map(|r| r.seq)
        .collect();
    assert!(host.len() > 40, "{}", host.len());
    assert!(
        host.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "host sequence numbers: {host:?}"
    );
    let targets = all
        .iter()
        .find(|r| r.msg_type == MsgType::SetTargets)
        .expect("a SetTargets row");
    assert!(targets.summary.contains("n=25"), "{}", targets.summary);
    assert!(
        all.iter()
            .filter(|r| r.msg_type == MsgType::Ack)
            .all(|r| r.severity == Severity::Normal),
        "no error acks on a healthy link"
    );

    // Filters: direction + type, text, nothing.
    let only_targets = PacketFilter {
        direction: DirectionFilter::ToHead,
        msg_type: Some(MsgType::SetTargets),
        text: String::new(),
    };
    let rows = filtered_rows(&s.packets, &only_targets);
    assert!(!rows.is_empty() && rows.len() < all.len());
    assert!(
        rows.iter()
            .all(|r| r.msg_type == MsgType::SetTargets && r.direction == Direction::ToHead)
    );
    let wrong_way = PacketFilter {
        direction: DirectionFilter::FromHead,
        msg_type: Some(MsgType::SetTargets),
        text: String::new(),
    };
    assert!(filtered_rows(&s.packets, &wrong_way).is_empty());
    let text = PacketFilter {
        text: "12:+0.30".into(),
        ..PacketFilter::default()
    };
    let by_text = filtered_rows(&s.packets, &text);
    assert!(!by_text.is_empty());
    assert!(
        by_text.iter().all(|r| r.msg_type == MsgType::SetTargets),
        "text matches the decoded targets"
    );
    let none = PacketFilter {
        text: "no such packet".into(),
        ..PacketFilter::default()
    };
    assert!(filtered_rows(&s.packets, &none).is_empty());

    // Export the filtered rows: one line each, raw hex and decoded fields.
    let dir = temp_dir("export");
    let path = dir.join("sub/targets.txt");
    let n = export_packets(&rows, &path).expect("export");
    assert_eq!(n, rows.len());
    let text = std::fs::read_to_string(&path).expect("exported file");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), rows.len());
    assert!(
        lines.iter().all(|l| l.contains("host->head")
            && l.contains("hex=01 02 ")
            && l.contains("SetTargets")),
        "{}",
        lines[0]
    );
    // A path that cannot be written is an error, not a panic.
    let blocked = path.join("under-a-file.txt");
    assert!(export_packets(&rows, &blocked).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn recording_through_the_mirror_reads_back_and_replays_on_the_face() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.6));
    assert!(run_until(&mut app, Duration::from_secs(5), connected));
    assert!(run_until(&mut app, Duration::from_secs(5), |a| measured(
        a, ZYG_L
    ) > 0.55));
    let dir = temp_dir("record");
    let prefix = dir.join("session");
    request(&mut app, MirrorRequest::StartRecording(prefix.clone()));
    run_for(&mut app, Duration::from_millis(1500));
    assert!(
        state(&app).recording.is_recording(),
        "{:?}",
        state(&app).recording.status
    );
    request(&mut app, MirrorRequest::StopRecording);
    app.update();
    let s = state(&app);
    assert!(!s.recording.is_recording());
    assert!(
        matches!(s.recording.status, Some(Ok(_))),
        "{:?}",
        s.recording.status
    );
    let rec = Recording::open(&prefix).expect("a readable recording");
    let telemetry = rec.telemetry().count();
    let commands = rec.commands().count();
    assert!(
        telemetry > 150,
        "telemetry frames in 1.5 s at 200 Hz: {telemetry}"
    );
    assert!(commands > 75, "commands in 1.5 s at 100 Hz: {commands}");
    assert!(!rec.segments.is_empty() && rec.ignored.is_empty());
    let (t0, t1) = rec.time_range_ns().expect("records");
    let secs = (t1 - t0) as f64 * 1e-9;
    assert!((1.2..2.5).contains(&secs), "recorded {secs} s");
    assert!(
        rec.telemetry()
            .all(|(_, _, t)| (t.channels()[ZYG_L].position_norm() - 0.6).abs() < 0.08)
    );

    // A second recording at the same prefix is refused (recordings are never overwritten).
    request(&mut app, MirrorRequest::StartRecording(prefix.clone()));
    app.update();
    assert!(!state(&app).recording.is_recording());
    assert!(matches!(state(&app).recording.status, Some(Err(_))));

    // Live head back to neutral; the replay shows the recorded smile on the face.
    set_desired(&mut app, &neutral());
    assert!(run_until(&mut app, Duration::from_secs(5), |a| measured(
        a, ZYG_L
    ) < 0.05));
    // An empty path says what to enter.
    request(&mut app, MirrorRequest::OpenReplay(PathBuf::new()));
    app.update();
    assert!(
        matches!(&state(&app).replay.status, Some(Err(e)) if e.contains("enter a recording")),
        "{:?}",
        state(&app).replay.status
    );
    request(&mut app, MirrorRequest::OpenReplay(prefix.clone()));
    request(&mut app, MirrorRequest::Seek(Duration::from_millis(700)));
    app.update();
    app.update();
    // The recording's events become marks on the replay's overview.
    let marks = &state(&app).replay.marks;
    assert!(
        marks
            .iter()
            .any(|m| m.kind == "session" && m.t_s < 0.2 && m.text.contains("recording started")),
        "{marks:?}"
    );
    let shown = app
        .world()
        .resource::<ReplayPose>()
        .0
        .clone()
        .expect("replay pose");
    assert!(
        (shown[ZYG_L] - 0.6).abs() < 0.08,
        "replay pose {}",
        shown[ZYG_L]
    );
    let face = app.world().resource::<DisplayPose>().positions.clone();
    assert!(
        (face[ZYG_L] - 0.6).abs() < 0.08,
        "the face shows the replay: {}",
        face[ZYG_L]
    );
    assert!(
        measured(&app, ZYG_L) < 0.05,
        "while the live head stays at neutral"
    );
    // Closing the replay gives the face back to the live head.
    request(&mut app, MirrorRequest::CloseReplay);
    assert!(run_until(&mut app, Duration::from_secs(3), |a| {
        a.world().resource::<DisplayPose>().positions[ZYG_L] < 0.05
    }));
    assert!(app.world().resource::<ReplayPose>().0.is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shadow_mode_flags_a_torn_tendon_on_its_channel_only() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.7));
    assert!(run_until(&mut app, Duration::from_secs(5), connected));
    request(&mut app, MirrorRequest::Shadow(true));
    assert!(run_until(&mut app, Duration::from_secs(5), |a| measured(
        a, ZYG_L
    ) > 0.67));
    run_for(&mut app, Duration::from_millis(600));
    assert!(state(&app).shadow.shadow.is_some());
    assert!(
        state(&app).alarmed().is_empty(),
        "a healthy head raises no alarm: {:?}",
        state(&app).alarmed()
    );
    let rows = {
        let link = app.world().resource::<Link>();
        mirror::shadow_rows(
            state(&app).shadow.shadow.as_ref().expect("shadow"),
            &link.channel_names,
        )
    };
    assert_eq!(rows.len(), 25);
    assert!(
        rows[ZYG_L].current_ratio.is_some_and(|r| r > 0.6),
        "{:?}",
        rows[ZYG_L]
    );

    request(
        &mut app,
        MirrorRequest::InjectFault {
            channel: ZYG_L as u8,
            kind: FaultKind::TornTendon,
            active: true,
        },
    );
    let t0 = Instant::now();
    let raised = run_until(&mut app, Duration::from_secs(2), |a| {
        !state(a).alarmed().is_empty()
    });
    let after = t0.elapsed();
    assert!(raised, "an alarm within 2 s");
    assert!(
        after <= Duration::from_millis(1000),
        "alarm {after:?} after the injection"
    );
    assert!(
        matches!(state(&app).inject_status, Some(Ok(_))),
        "{:?}",
        state(&app).inject_status
    );
    run_for(&mut app, Duration::from_millis(400));
    assert_eq!(
        state(&app).alarmed(),
        vec![ZYG_L],
        "the alarm is on channel 12 and nowhere else"
    );
    let banner = {
        let link = app.world().resource::<Link>();
        mirror::alarm_banner(
            state(&app).shadow.shadow.as_ref().expect("shadow"),
            &link.channel_names,
        )
    };
    assert_eq!(
        banner,
        vec!["ALARM: channel 12 (zygomaticus_major_l) — low current (torn tendon?)".to_owned()]
    );
    let header = {
        let link = app.world().resource::<Link>();
        mirror::header_view(state(&app), link)
    };
    assert_eq!(header.alarms, banner);
    assert!(
        state(&app)
            .shadow
            .log
            .iter()
            .any(|e| e.channel == ZYG_L && e.raised)
    );
    // The injection went over the wire.
    assert!(state(&app).packets.rows.iter().any(|r| matches!(
        r.message,
        Message::InjectFault {
            channel: 12,
            kind: FaultKind::TornTendon,
            active: true
        }
    )));
    // Shadow off: no comparison, no alarms.
    request(&mut app, MirrorRequest::Shadow(false));
    app.update();
    assert!(state(&app).alarmed().is_empty());
}

#[test]
fn commands_are_withheld_without_a_connected_head() {
    let _serial = serial();
    let assets = FaceAssets::load(None).expect("default face and rig");
    let mut app = headless_app(assets, Source::Offline, 100, neutral());
    run_for(&mut app, Duration::from_millis(200));
    request(
        &mut app,
        MirrorRequest::InjectFault {
            channel: 3,
            kind: FaultKind::Jam,
            active: true,
        },
    );
    request(&mut app, MirrorRequest::StartCalibration(3));
    app.update();
    let s = state(&app);
    assert!(
        matches!(&s.inject_status, Some(Err(e)) if e.contains("not connected")),
        "{:?}",
        s.inject_status
    );
    assert!(s.calibration.calibrator.is_none());
    assert!(
        matches!(&s.calibration.status, Some(Err(e)) if e.contains("not connected")),
        "{:?}",
        s.calibration.status
    );
    let header = mirror::header_view(s, app.world().resource::<Link>());
    assert!(header.link.0.contains("disconnected"), "{}", header.link.0);
}

/// Plays one pose for as long as it is asked.
struct Hold(Vec<f32>);

impl facetwin_link::Player for Hold {
    fn sample(&mut self, _t: Duration, out: &mut Vec<f32>) -> bool {
        out.clone_from(&self.0);
        true
    }
}

#[test]
fn apply_calibration_maps_the_designers_pose_on_the_host() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.3));
    assert!(run_until(&mut app, Duration::from_secs(5), connected));
    assert!(run_until(&mut app, Duration::from_secs(5), |a| (measured(
        a, ZYG_L
    ) - 0.3)
        .abs()
        < 0.03));
    // A calibration whose neutral for channel 12 sits at +0.2: the designer's 0.3 becomes 0.5.
    let dir = temp_dir("calib");
    let path = dir.join("cal.ron");
    let mut cal = Calibration::from_view(&app.world().resource::<Link>().view);
    assert_eq!(cal.channels.len(), 25);
    cal.set(
        ZYG_L,
        ChannelCalibration {
            name: "zygomaticus_major_l".into(),
            min_norm: -0.1,
            max_norm: 1.0,
            neutral_norm: 0.2,
            direction: 1,
        },
    );
    cal.save(&path).expect("save");
    request(&mut app, MirrorRequest::LoadCalibration(path.clone()));
    request(&mut app, MirrorRequest::ApplyCalibration(true));
    let sent = |a: &App| {
        a.world()
            .resource::<Link>()
            .view
            .sent_norm
            .get(ZYG_L)
            .copied()
            .unwrap_or(f32::NAN)
    };
    // The host sends the mapped pose (not the designer's 0.3) and the head gets there.
    assert!(
        run_until(&mut app, Duration::from_secs(5), |a| {
            (sent(a) - 0.5).abs() < 1e-3 && (measured(a, ZYG_L) - 0.5).abs() < 0.03
        }),
        "mapped pose reaches the head: sent {} measured {}",
        sent(&app),
        measured(&app, ZYG_L)
    );
    assert!(
        (app.world().resource::<Link>().desired[ZYG_L] - 0.3).abs() < 1e-6,
        "the designer's pose is untouched"
    );
    // Playback on the link's own clock (a timeline, a replay) goes through the same map.
    app.world()
        .resource::<Link>()
        .link
        .play(Box::new(Hold(with(ZYG_L, 0.1))));
    assert!(
        run_until(&mut app, Duration::from_secs(5), |a| (sent(a) - 0.3).abs()
            < 1e-3),
        "played pose mapped: sent {}",
        sent(&app)
    );
    app.world().resource::<Link>().link.stop_playback();
    // A source switch hands the map to the new session: a pose set after the switch (only
    // the new session can send it) goes out mapped.
    app.world_mut()
        .write_message(facetwin::app::link::LinkRequest::Switch(Source::Simulated));
    app.update();
    app.world()
        .resource::<Link>()
        .link
        .set_desired(&with(ZYG_L, 0.1));
    assert!(
        run_until(&mut app, Duration::from_secs(8), |a| connected(a)
            && (sent(a) - 0.3).abs() < 1e-3),
        "mapped after the switch: sent {}",
        sent(&app)
    );
    app.world()
        .resource::<Link>()
        .link
        .set_desired(&with(ZYG_L, 0.3));
    // Off again: the raw pose.
    request(&mut app, MirrorRequest::ApplyCalibration(false));
    assert!(run_until(&mut app, Duration::from_secs(5), |a| (measured(
        a, ZYG_L
    ) - 0.3)
        .abs()
        < 0.03));
    // Saving what the mirror holds writes a file that loads back.
    let out = dir.join("saved.ron");
    request(&mut app, MirrorRequest::SaveCalibration(out.clone()));
    app.update();
    let back = Calibration::load(&out).expect("saved calibration loads");
    assert_eq!(back.channels[ZYG_L].neutral_norm, 0.2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn guided_calibration_runs_from_the_mirror_and_restores_the_pose() {
    let _serial = serial();
    let mut app = app(with(ZYG_L, 0.2));
    assert!(run_until(&mut app, Duration::from_secs(5), connected));
    assert!(run_until(&mut app, Duration::from_secs(5), |a| (measured(
        a, ZYG_L
    ) - 0.2)
        .abs()
        < 0.03));
    request(&mut app, MirrorRequest::StartCalibration(ZYG_L));
    app.update();
    assert!(
        state(&app).calibration.calibrator.is_some(),
        "{:?}",
        state(&app).calibration.status
    );
    // Frames as slow as a CPU renderer's (4 per second): the calibration runs on the link's
    // command clock, so it neither slows down nor changes its result with the frame rate.
    let mut saw_progress = false;
    let start = Instant::now();
    let mut done = false;
    while start.elapsed() < Duration::from_secs(60) {
        app.update();
        let c = &state(&app).calibration;
        saw_progress |= c.progress > 0.2 && c.progress < 1.0;
        if c.calibrator.is_none() {
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(done, "calibration finishes");
    assert!(saw_progress, "progress is reported while it runs");
    let (ch, result) = state(&app).calibration.last.clone().expect("a result");
    assert_eq!(ch, ZYG_L);
    let c = result.expect("calibration succeeds on the simulated head");
    assert_eq!(c.direction, 1);
    // The ends found at the lowered current limit, on the link's clock in real time: the
    // same as with fast frames (max 1.0, min ≈ -0.10 on the default head); the crate's lockstep
    // tests check the precise values.
    assert!(
        c.max_norm > 0.9 && c.min_norm < -0.05 && c.min_norm > -0.15,
        "{c:?}"
    );
    assert!(state(&app).calibration.calibrated.contains(&ZYG_L));
    // Back at the designer's pose.
    assert!(run_until(&mut app, Duration::from_secs(5), |a| (measured(
        a, ZYG_L
    ) - 0.2)
        .abs()
        < 0.03));
}
