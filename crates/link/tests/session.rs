//! The host session against the virtual head: in lockstep virtual time, and over a real
//! pseudo-terminal that disappears mid-stream.

use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::pty::{PtyHead, PtyOptions};
use facetwin_link::*;
use facetwin_protocol::{Decoder, HeadInfo, MAX_WIRE_FRAME, Message, encode_frame};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn lockstep(head: VirtualHead, config: HostConfig) -> (SharedHead, HostCore) {
    let shared = SharedHead::new(head);
    let s = shared.clone();
    let core = HostCore::new(
        Box::new(move || Ok(Box::new(s.transport()) as Box<dyn Transport>)),
        config,
    );
    (shared, core)
}

/// Runs host and head together in 1 ms virtual steps for `ms`, commands at the core's rate.
fn run(shared: &SharedHead, core: &mut HostCore, t: &mut Duration, ms: u64) {
    let period = 1000 / u64::from(core.config().command_rate_hz);
    for _ in 0..ms {
        shared.advance(0.001);
        *t += Duration::from_millis(1);
        core.poll(*t);
        if (t.as_millis() as u64).is_multiple_of(period) {
            core.command_tick(*t);
        }
    }
}

#[test]
fn handshake_reads_channels_and_streams_targets() {
    let (shared, mut core) = lockstep(
        VirtualHead::new(HeadConfig::default_head()),
        HostConfig::default(),
    );
    let mut t = Duration::ZERO;
    let mut pose = vec![0.0; 25];
    pose[12] = 0.7;
    core.set_desired(&pose);
    run(&shared, &mut core, &mut t, 50);
    let v = core.view();
    assert_eq!(v.state, LinkState::Connected);
    assert_eq!(v.channels.len(), 25);
    assert_eq!(v.channels[12].name, "zygomaticus_major_l");
    assert_eq!(v.channels[21].min_norm, 0.0);
    run(&shared, &mut core, &mut t, 1500);
    let p = core.view().positions_norm().expect("telemetry")[12];
    assert!((p - 0.7).abs() < 0.05, "measured {p}");
    let s = &core.view().stats;
    assert!(
        s.telemetry_frames > 250,
        "telemetry at 200 Hz: {}",
        s.telemetry_frames
    );
    assert_eq!(s.decoder.errors(), 0);
}

#[test]
fn handover_ramps_from_the_measured_pose_by_at_most_one_percent_per_step() {
    // The head is somewhere (torque-on pose held from before); the designer wants another pose.
    let mut head = VirtualHead::new(HeadConfig::default_head());
    let mut start = vec![0.0; 25];
    start[12] = 0.6;
    start[21] = 0.5;
    head.set_positions(&start);
    let (shared, mut core) = lockstep(head, HostConfig::default());
    let mut desired = vec![0.0; 25];
    desired[12] = 0.1;
    desired[0] = 0.4;
    core.set_desired(&desired);
    let mut t = Duration::ZERO;
    let mut last: Option<Vec<f32>> = None;
    let mut max_step = 0.0f32;
    let mut first_sent = None;
    for _ in 0..2000 {
        run(&shared, &mut core, &mut t, 1);
        let v = core.view();
        if v.state != LinkState::Connected || v.sent_norm.is_empty() {
            continue;
        }
        if first_sent.is_none() {
            first_sent = Some(v.sent_norm.clone());
        }
        if let Some(l) = &last {
            for (a, b) in l.iter().zip(&v.sent_norm) {
                max_step = max_step.max((a - b).abs());
            }
        }
        last = Some(v.sent_norm.clone());
    }
    let first = first_sent.expect("connected");
    assert!(
        (first[12] - 0.6).abs() < 0.02,
        "handover starts at the measured pose, got {}",
        first[12]
    );
    assert!((first[21] - 0.5).abs() < 0.02);
    assert!(max_step <= 0.01 + 1e-6, "largest command step {max_step}");
    let end = last.expect("sent");
    assert!(
        (end[12] - 0.1).abs() < 1e-5 && (end[0] - 0.4).abs() < 1e-5,
        "reached the designer's pose"
    );
    assert!(
        core.view()
            .events
            .iter()
            .any(|e| matches!(e, LinkEvent::HandoverDone { .. }))
    );
}

#[test]
fn host_side_limits_clamp_and_report() {
    let (shared, mut core) = lockstep(
        VirtualHead::new(HeadConfig::default_head()),
        HostConfig::default(),
    );
    let mut desired = vec![0.0; 25];
    desired[21] = 1.7; // jaw beyond its travel
    desired[6] = f32::NAN;
    core.set_desired(&desired);
    let mut t = Duration::ZERO;
    run(&shared, &mut core, &mut t, 400);
    let v = core.view();
    assert!(v.sent_norm[21] <= 1.0);
    assert!(v.sent_norm[6].is_finite());
    assert!(
        v.events
            .iter()
            .any(|e| matches!(e, LinkEvent::Clamped { channel: 21, .. }))
    );
    assert_eq!(
        shared.lock().head.stats().clamped,
        0,
        "the head never saw an out-of-range target"
    );
}

#[test]
fn a_link_with_one_percent_corruption_keeps_running() {
    let (shared, mut core) = lockstep(
        VirtualHead::new(HeadConfig::default_head()),
        HostConfig::default(),
    );
    shared.lock().corrupt_fraction = 0.01;
    let mut pose = vec![0.0; 25];
    pose[13] = 0.5;
    core.set_desired(&pose);
    let mut t = Duration::ZERO;
    run(&shared, &mut core, &mut t, 3000);
    let v = core.view();
    assert!(v.stats.decoder.errors() > 10);
    assert_eq!(
        v.stats.reconnects, 1,
        "a noisy line is degraded, not disconnected"
    );
    assert_eq!(v.state, LinkState::Connected);
    let pipe = shared.lock();
    assert!(pipe.corrupted_bytes > 100);
    // A 240-byte telemetry frame survives 1 % byte corruption only ~9 % of the time; the
    // commands (60 bytes, ~55 %) still get through and the head tracks.
    let p = pipe
        .head
        .channel(13)
        .map(|c| c.state().position_norm)
        .unwrap_or(f32::NAN);
    assert!((p - 0.5).abs() < 0.08, "tracked through corruption: {p}");
    assert!(pipe.head.decoder_stats().errors() > 10);
}

/// A transport that plays a head speaking another protocol version, recording what it is sent.
struct OtherVersionHead {
    sent: Arc<Mutex<Vec<Message>>>,
    decoder: Decoder,
    reply: Vec<u8>,
}

impl Transport for OtherVersionHead {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut got = Vec::new();
        self.decoder.feed(bytes, |r| {
            if let Ok(f) = r {
                got.push(f.message);
            }
        });
        for m in got {
            if let Message::Hello { nonce } = m {
                let mut buf = [0u8; MAX_WIRE_FRAME];
                let info = HeadInfo {
                    protocol_version: 2,
                    firmware: [9, 9, 9],
                    channel_count: 25,
                    capabilities: 0,
                    max_frame: 320,
                    head_id: 1,
                    nonce,
                };
                let n = encode_frame(0, &Message::HelloReply(info), &mut buf).expect("encode");
                self.reply.extend_from_slice(&buf[..n]);
            }
            self.sent.lock().expect("lock").push(m);
        }
        Ok(())
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let n = buf.len().min(self.reply.len());
        buf[..n].copy_from_slice(&self.reply[..n]);
        self.reply.drain(..n);
        Ok(n)
    }
    fn describe(&self) -> String {
        "v2 head".into()
    }
}

#[test]
fn commands_are_never_sent_to_a_head_of_another_protocol_version() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&sent);
    let mut core = HostCore::new(
        Box::new(move || {
            Ok(Box::new(OtherVersionHead {
                sent: Arc::clone(&s),
                decoder: Decoder::new(),
                reply: Vec::new(),
            }) as Box<dyn Transport>)
        }),
        HostConfig::default(),
    );
    core.set_desired(&[0.5; 25]);
    for ms in 0..500u64 {
        let t = Duration::from_millis(ms);
        core.poll(t);
        core.command_tick(t);
    }
    let sent = sent.lock().expect("lock");
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|m| matches!(m, Message::Hello { .. })),
        "only hellos: {sent:?}"
    );
    match &core.view().state {
        LinkState::Disconnected { reason } => assert!(reason.contains("protocol v2"), "{reason}"),
        other => panic!("state {other:?}"),
    }
}

fn serve_in_thread(
    link: std::path::PathBuf,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
    std::sync::mpsc::Receiver<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let st = Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        let mut pty = PtyHead::open(Some(&link)).expect("pty");
        tx.send(()).expect("ready");
        let mut head = VirtualHead::new(HeadConfig::default_head());
        let _ = pty.serve(&mut head, &PtyOptions::default(), &st);
        // `pty` drops here: the pseudo-terminal disappears.
    });
    (stop, h, rx)
}

#[test]
fn vanished_pty_is_detected_within_100_ms_and_the_host_reconnects() {
    let link = std::env::temp_dir().join(format!("facetwin-test-unplug-{}", std::process::id()));
    let (stop, handle, ready) = serve_in_thread(link.clone());
    ready.recv().expect("server ready");
    let port = link.display().to_string();
    let host = HostLink::start(
        Box::new(move || {
            SerialTransport::open(&port, 1_000_000).map(|t| Box::new(t) as Box<dyn Transport>)
        }),
        HostConfig::default(),
    );
    let wait = |what: &str, f: &dyn Fn(&HeadView) -> bool, limit: Duration| -> Duration {
        let start = Instant::now();
        while !host.with_view(f) {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}: {:?}",
                host.view().state
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        start.elapsed()
    };
    wait(
        "connect",
        &|v| v.state == LinkState::Connected,
        Duration::from_secs(5),
    );
    host.set_desired(&[0.2; 25]);
    std::thread::sleep(Duration::from_millis(200));
    // Unplug.
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("server thread");
    let detected = wait(
        "disconnect",
        &|v| matches!(v.state, LinkState::Disconnected { .. }),
        Duration::from_secs(2),
    );
    assert!(
        detected <= Duration::from_millis(100),
        "disconnect noticed after {detected:?}"
    );
    assert!(host.is_running(), "the session survives");
    // The head comes back on a new pseudo-terminal behind the same link.
    let (stop2, handle2, ready2) = serve_in_thread(link.clone());
    ready2.recv().expect("server ready");
    wait(
        "reconnect",
        &|v| v.state == LinkState::Connected,
        Duration::from_secs(5),
    );
    assert!(host.view().stats.reconnects >= 2);
    host.stop();
    stop2.store(true, Ordering::Relaxed);
    handle2.join().expect("server thread");
}

/// Counts how often it is sampled and ramps channel 12.
struct Ramp {
    calls: Arc<Mutex<Vec<Duration>>>,
}

impl Player for Ramp {
    fn sample(&mut self, t: Duration, out: &mut Vec<f32>) -> bool {
        self.calls.lock().expect("lock").push(t);
        out.resize(25, 0.0);
        out[12] = (t.as_secs_f32() * 0.5).min(0.5);
        t < Duration::from_millis(1500)
    }
}

#[test]
fn playback_is_sampled_on_the_command_clock() {
    let config = HostConfig {
        command_rate_hz: 200,
        ..HostConfig::default()
    };
    let (shared, mut core) = lockstep(VirtualHead::new(HeadConfig::default_head()), config);
    let mut t = Duration::ZERO;
    run(&shared, &mut core, &mut t, 100);
    assert_eq!(core.view().state, LinkState::Connected);
    let calls = Arc::new(Mutex::new(Vec::new()));
    core.play(
        Box::new(Ramp {
            calls: Arc::clone(&calls),
        }),
        t,
    );
    run(&shared, &mut core, &mut t, 1000);
    let n = calls.lock().expect("lock").len();
    assert!((195..=205).contains(&n), "{n} samples in 1 s at 200 Hz");
    assert!(core.view().playhead.is_some());
    run(&shared, &mut core, &mut t, 1000);
    assert!(core.view().playhead.is_none(), "playback ended");
    let p = core.view().positions_norm().expect("telemetry")[12];
    assert!((p - 0.5).abs() < 0.05, "followed the ramp to {p}");
}

#[test]
fn hosts_can_come_and_go_on_a_long_running_pty_head() {
    let link = std::env::temp_dir().join(format!("facetwin-test-hosts-{}", std::process::id()));
    let (stop, handle, ready) = serve_in_thread(link.clone());
    ready.recv().expect("server ready");
    // The head has been idle for a while before the first host arrives.
    std::thread::sleep(Duration::from_millis(600));
    for round in 0..2 {
        let port = link.display().to_string();
        let host = HostLink::start(
            Box::new(move || {
                SerialTransport::open(&port, 1_000_000).map(|t| Box::new(t) as Box<dyn Transport>)
            }),
            HostConfig::default(),
        );
        let start = Instant::now();
        while host.view().state != LinkState::Connected {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "host {round} could not connect: {:?}",
                host.view().state
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        host.stop();
        std::thread::sleep(Duration::from_millis(400));
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("server thread");
}

#[test]
fn a_head_that_went_safe_while_the_cable_was_out_says_so_on_reconnect() {
    let (shared, mut core) = lockstep(
        VirtualHead::new(HeadConfig::default_head()),
        HostConfig::default(),
    );
    let mut t = Duration::ZERO;
    core.set_desired(&[0.3; 25]);
    run(&shared, &mut core, &mut t, 400);
    assert_eq!(core.view().state, LinkState::Connected);
    let watchdog_event = |core: &HostCore| {
        core.view().events.iter().any(|e| {
            matches!(e, LinkEvent::Fault { channel: 0xFF, faults, .. }
                if *faults & facetwin_protocol::fault::WATCHDOG != 0)
        })
    };
    assert!(!watchdog_event(&core));
    // Cable out for longer than the watchdog: the head goes safe, its FaultEvent is lost.
    shared.lock().plugged = false;
    run(&shared, &mut core, &mut t, 600);
    assert!(matches!(core.view().state, LinkState::Disconnected { .. }));
    assert!(shared.lock().head.watchdog_tripped());
    shared.lock().plugged = true;
    let mut reconnected = false;
    for _ in 0..3000 {
        run(&shared, &mut core, &mut t, 1);
        if core.view().state == LinkState::Connected {
            reconnected = true;
            break;
        }
    }
    assert!(reconnected, "{:?}", core.view().state);
    run(&shared, &mut core, &mut t, 50);
    // The new session re-armed the watchdog, yet it learns the head went safe meanwhile.
    assert!(!shared.lock().head.watchdog_tripped());
    assert!(watchdog_event(&core), "{:?}", core.view().events);
    let reported = core
        .view()
        .events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Fault { channel: 0xFF, .. }))
        .count();
    run(&shared, &mut core, &mut t, 200);
    assert_eq!(
        core.view()
            .events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Fault { channel: 0xFF, .. }))
            .count(),
        reported,
        "reported once per session, not at the telemetry rate"
    );
    // Acknowledged with a head-wide ClearFaults: the latch goes.
    core.queue(Message::ClearFaults { mask: 1 << 31 });
    run(&shared, &mut core, &mut t, 50);
    let status = core.view().telemetry.map_or(0, |t| t.status);
    assert_eq!(status & facetwin_protocol::status::SAFE_STOP_LATCHED, 0);
}

/// Moves channel 12 to 0.5, pings, and finishes once the pong came back.
struct PingAfterMove {
    pong: Arc<Mutex<Option<u32>>>,
    steps: u32,
}

impl Procedure for PingAfterMove {
    fn on_message(&mut self, msg: &Message) {
        // The session pings too: only this procedure's token counts.
        if let Message::Pong {
            token: 0xC0FFEE, ..
        } = msg
        {
            *self.pong.lock().expect("lock") = Some(0xC0FFEE);
        }
    }

    fn step(&mut self, _now: Duration, view: &HeadView) -> Vec<Message> {
        self.steps += 1;
        let mut pose = vec![0.0; view.channels.len().max(25)];
        pose[12] = 0.5;
        let mut out = vec![Message::SetTargets(facetwin_protocol::Targets::from_norm(
            &pose, 0,
        ))];
        if self.steps == 20 {
            out.push(Message::Ping { token: 0xC0FFEE });
        }
        out
    }

    fn is_done(&self) -> bool {
        self.pong.lock().expect("lock").is_some()
    }
}

#[test]
fn a_procedure_runs_on_the_command_clock_and_ends_when_done() {
    let (shared, mut core) = lockstep(
        VirtualHead::new(HeadConfig::default_head()),
        HostConfig::default(),
    );
    let mut t = Duration::ZERO;
    run(&shared, &mut core, &mut t, 300);
    let pong = Arc::new(Mutex::new(None));
    core.run_procedure(Some(Box::new(PingAfterMove {
        pong: Arc::clone(&pong),
        steps: 0,
    })));
    assert!(core.view().procedure);
    run(&shared, &mut core, &mut t, 600);
    // Its SetTargets became the desired pose (sent with the host's limits); its ping went out
    // and the head's pong came back to it; then the session dropped it.
    assert_eq!(*pong.lock().expect("lock"), Some(0xC0FFEE));
    assert!(!core.view().procedure);
    assert!((core.view().sent_norm[12] - 0.5).abs() < 1e-3);
    let measured = core.view().positions_norm().expect("telemetry")[12];
    assert!(measured > 0.3, "the head moved: {measured}");
}
