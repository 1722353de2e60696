//! The designer's workbench at view-model level (no window): playback on the link's command
//! clock, edit → undo → redo, clip files, feasibility marks, expressions.

#![allow(clippy::unwrap_used)]

use facetwin::app::authoring::{
    ClipPlayer, Workbench, asset_dir, load_clip_file, play_length_ms, save_clip_file,
};
use facetwin_authoring::{Clip, Interpolation, Key, KeyId, Track, TrackTarget};
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::{HostConfig, HostCore, LinkState, Player, SharedHead, Transport};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scratch directory for this test (removed first).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("facetwin-workbench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A workbench on the shipped expressions that writes only into a scratch directory.
fn workbench(name: &str) -> (Workbench, PathBuf) {
    let dir = scratch(name);
    let wb = Workbench::new(asset_dir("expressions"), dir.join("clips"));
    (wb, dir)
}

fn channel(name: &str) -> usize {
    HeadConfig::default_head().channel_index(name).unwrap()
}

/// (time since playback started, pose) of every sample.
type Samples = Vec<(Duration, Vec<f32>)>;

/// Records every sample the link takes of the wrapped player.
struct Recorder {
    inner: ClipPlayer,
    samples: Arc<Mutex<Samples>>,
}

impl Player for Recorder {
    fn sample(&mut self, t: Duration, out: &mut Vec<f32>) -> bool {
        let playing = self.inner.sample(t, out);
        self.samples.lock().unwrap().push((t, out.clone()));
        playing
    }
}

/// Host and virtual head in lockstep, 1 ms steps, commands at the core's rate.
fn run(
    shared: &SharedHead,
    core: &mut HostCore,
    t: &mut Duration,
    ms: u64,
    mut each_ms: impl FnMut(Duration, &HostCore),
) {
    let period = 1000 / u64::from(core.config().command_rate_hz);
    for _ in 0..ms {
        shared.advance(0.001);
        *t += Duration::from_millis(1);
        core.poll(*t);
        if (t.as_millis() as u64).is_multiple_of(period) {
            core.command_tick(*t);
        }
        each_ms(*t, core);
    }
}

struct Playback {
    /// Link samples: (time since start, pose).
    samples: Vec<(Duration, Vec<f32>)>,
    /// Measured position of the channel, per ms since playback started.
    measured: Vec<(f32, f32)>,
    ended_at_ms: Option<f32>,
}

fn play_on_lockstep(player: ClipPlayer, ch: usize, ms: u64) -> Playback {
    let config = HostConfig {
        command_rate_hz: 200,
        ..HostConfig::default()
    };
    let shared = SharedHead::new(VirtualHead::new(HeadConfig::default_head()));
    let s = shared.clone();
    let mut core = HostCore::new(
        Box::new(move || Ok(Box::new(s.transport()) as Box<dyn Transport>)),
        config,
    );
    let mut t = Duration::ZERO;
    run(&shared, &mut core, &mut t, 300, |_, _| {});
    assert_eq!(core.view().state, LinkState::Connected);
    assert!(!core.view().handing_over, "handover done before playing");
    let samples = Arc::new(Mutex::new(Vec::new()));
    core.play(
        Box::new(Recorder {
            inner: player,
            samples: Arc::clone(&samples),
        }),
        t,
    );
    let start = t;
    let mut measured = Vec::new();
    let mut ended_at_ms = None;
    run(&shared, &mut core, &mut t, ms, |now, core| {
        let since = (now - start).as_secs_f32() * 1000.0;
        if let Some(p) = core.view().positions_norm() {
            measured.push((since, p[ch]));
        }
        if ended_at_ms.is_none() && core.view().playhead.is_none() {
            ended_at_ms = Some(since);
        }
    });
    let samples = samples.lock().unwrap().clone();
    Playback {
        samples,
        measured,
        ended_at_ms,
    }
}

fn peak(points: &[(f32, f32)]) -> (f32, f32) {
    points.iter().copied().fold(
        (0.0, f32::MIN),
        |best, p| if p.1 > best.1 { p } else { best },
    )
}

#[test]
fn clip_player_plays_a_120_ms_micro_expression_on_the_command_clock() {
    let (wb, _dir) = workbench("player");
    // The workbench opens a 40 / 40 / 40 ms duchenne-smile micro-expression.
    assert_eq!(wb.editor.clip.name, "duchenne_smile_micro");
    assert_eq!(play_length_ms(&wb.editor.clip), 120.0);
    let zyg = channel("zygomaticus_major_l");
    let apex = wb.library.get("duchenne_smile").unwrap().pose(&wb.table)[zyg];
    assert!(apex > 0.5, "authored apex {apex}");

    let pb = play_on_lockstep(wb.player(), zyg, 600);
    // Sampled at every 5 ms command tick of the link's own clock over 120 ms, then it ends.
    let n = pb.samples.len();
    assert!((24..=26).contains(&n), "{n} samples for 120 ms at 200 Hz");
    for w in pb.samples.windows(2) {
        assert_eq!(
            w[1].0 - w[0].0,
            Duration::from_millis(5),
            "one sample per command tick"
        );
    }
    let ended = pb.ended_at_ms.expect("playback ended");
    assert!(
        (115.0..=135.0).contains(&ended),
        "ended {ended} ms after start"
    );
    // What was sent reaches the authored apex during the hold (40..80 ms) and returns to neutral.
    let sent: Vec<(f32, f32)> = pb
        .samples
        .iter()
        .map(|(t, p)| (t.as_secs_f32() * 1000.0, p[zyg]))
        .collect();
    for &(t, v) in &sent {
        if (40.0..=80.0).contains(&t) {
            assert!((v - apex).abs() < 1e-4, "held apex at {t} ms: {v}");
        }
    }
    assert!(sent.last().unwrap().1.abs() < 1e-4, "back to neutral");
    // The measured channel (telemetry) peaks where the motor model says the authored apex
    // arrives: 40 ms onsets are beyond these motors (the workbench flags them), so the apex
    // comes late and low, but exactly as simulated for a 200 Hz stream.
    let (t_peak, v_peak) = peak(&pb.measured);
    let sim = simulate(&wb.editor.clip, zyg);
    let (sim_t, sim_v) = (sim.measured_apex_ms().unwrap(), sim.measured_peak());
    eprintln!("telemetry apex {v_peak:.3} at {t_peak} ms; simulated {sim_v:.3} at {sim_t} ms");
    assert!(
        (t_peak - sim_t).abs() <= 10.0,
        "telemetry apex at {t_peak} ms, simulated {sim_t} ms"
    );
    assert!(
        (v_peak - sim_v).abs() <= 0.05,
        "telemetry apex {v_peak}, simulated {sim_v}"
    );
    assert!(
        wb.marks.contains_key(&KeyId::new(0, 0)),
        "the too-fast onset is marked"
    );
    let last = pb.measured.last().unwrap().1;
    assert!(last.abs() < 0.05, "measured back to {last}");

    // Half speed: twice the samples, played like the clip stretched to twice its length.
    let mut slow = wb.player();
    slow.speed = 0.5;
    let pb2 = play_on_lockstep(slow, zyg, 800);
    let n2 = pb2.samples.len();
    assert!((48..=50).contains(&n2), "{n2} samples at half speed");
    let (t2, v2) = peak(&pb2.measured);
    let sim2 = simulate(&stretched(&wb.editor.clip, 2), zyg);
    let (sim2_t, sim2_v) = (sim2.measured_apex_ms().unwrap(), sim2.measured_peak());
    eprintln!(
        "half speed: telemetry apex {v2:.3} at {t2} ms; simulated {sim2_v:.3} at {sim2_t} ms"
    );
    assert!(
        (t2 - sim2_t).abs() <= 10.0,
        "half speed: apex at {t2} ms, simulated {sim2_t} ms"
    );
    assert!(
        (v2 - sim2_v).abs() <= 0.05,
        "half speed: apex {v2}, simulated {sim2_v}"
    );
    assert!(
        t2 > t_peak + 40.0 && v2 > v_peak + 0.05,
        "slower is later and higher"
    );
}

/// The motor model's playback of one channel of a clip, streamed at 200 Hz.
fn simulate(clip: &Clip, ch: usize) -> facetwin_authoring::ChannelTrace {
    let opts = facetwin_authoring::PlaybackOptions {
        stream_hz: 200.0,
        tail_ms: 400.0,
        ..Default::default()
    };
    facetwin_authoring::simulate_clip_channel(
        clip,
        &facetwin_authoring::AuTable::builtin(),
        &HeadConfig::default_head(),
        ch,
        &opts,
    )
}

/// The clip with every time (keys, handles, duration) multiplied by `k`.
fn stretched(clip: &Clip, k: u32) -> Clip {
    let mut c = clip.clone();
    c.duration_ms *= k;
    for t in &mut c.tracks {
        for key in &mut t.keys {
            key.time_ms *= k;
            key.in_handle.dt_ms *= k as f32;
            key.out_handle.dt_ms *= k as f32;
        }
    }
    c
}

#[test]
fn looping_player_never_ends_and_wraps() {
    let (wb, _dir) = workbench("loop");
    let mut p = wb.player();
    p.looping = true;
    let mut out = Vec::new();
    assert!(p.sample(Duration::from_millis(60), &mut out));
    let a = out.clone();
    assert!(
        p.sample(Duration::from_millis(180), &mut out),
        "looping goes on"
    );
    for (x, y) in a.iter().zip(&out) {
        assert!(
            (x - y).abs() < 1e-5,
            "60 ms and 180 ms are the same pose in a 120 ms loop"
        );
    }
    p.looping = false;
    assert!(
        !p.sample(Duration::from_millis(180), &mut out),
        "ends past the clip"
    );
}

#[test]
fn edits_undo_and_redo_through_the_workbench() {
    let (mut wb, _dir) = workbench("edit");
    let original = wb.editor.clip.clone();
    assert!(!wb.editor.can_undo());
    let track = 0;
    let key = KeyId::new(track, 40);
    assert!(wb.editor.clip.tracks[track].key_at(40).is_some());

    // Select the onset key and drag it 10 ms later and 0.05 down: one edit, selection follows.
    wb.selection = [key].into();
    assert!(wb.move_selected(10, -0.05));
    assert_eq!(
        wb.selection.iter().copied().collect::<Vec<_>>(),
        vec![KeyId::new(track, 50)]
    );
    let k = wb.editor.clip.tracks[track].keys[wb.editor.clip.tracks[track].key_at(50).unwrap()];
    let v0 = original.tracks[track].keys[1].value;
    assert!((k.value - (v0 - 0.05)).abs() < 1e-6);

    // Step interpolation on it.
    assert!(wb.set_interpolation(Interpolation::Step));
    // A key on every track at the playhead: one undo step for all tracks.
    wb.playhead_ms = 100.0;
    let mut desired = vec![0.0; 25];
    wb.scrub(100.0, &mut desired);
    let undo_before = wb.editor.undo.len();
    assert!(wb.key_all(&desired));
    assert_eq!(
        wb.editor.undo.len(),
        undo_before + 1,
        "key all is one undo step"
    );
    for t in &wb.editor.clip.tracks {
        assert!(t.key_at(100).is_some(), "{:?} keyed", t.target);
    }
    // Keys made Bezier get ease handles, in the same undo step.
    wb.selection = [KeyId::new(track, 100)].into();
    let undo_before = wb.editor.undo.len();
    wb.set_interpolation(Interpolation::Linear);
    assert!(wb.set_interpolation(Interpolation::Bezier));
    assert_eq!(wb.editor.undo.len(), undo_before + 2);
    let t0 = &wb.editor.clip.tracks[track];
    let k = t0.keys[t0.key_at(100).unwrap()];
    assert_eq!(k.interp, Interpolation::Bezier);
    assert!(k.out_handle.dt_ms > 0.0, "ease handle {k:?}");
    // Copy / paste at the playhead on another track.
    assert_eq!(wb.copy_selected(), 1);
    wb.active_track = 1;
    wb.playhead_ms = 110.0;
    assert!(wb.paste_at_playhead());
    assert!(wb.editor.clip.tracks[1].key_at(110).is_some());
    // Delete it.
    assert!(wb.delete_selected());
    assert!(wb.editor.clip.tracks[1].key_at(110).is_none());
    let edited = wb.editor.clip.clone();

    // Undo everything back to the template, redo everything back to the edit.
    let steps = wb.editor.undo.len();
    assert_eq!(steps, 7);
    for _ in 0..steps {
        assert!(wb.undo());
    }
    assert!(!wb.undo());
    assert_eq!(
        wb.editor.clip, original,
        "undo restores the clip bit for bit"
    );
    for _ in 0..steps {
        assert!(wb.redo());
    }
    assert!(!wb.redo());
    assert_eq!(wb.editor.clip, edited, "redo re-applies every edit");
    // Selections never point at keys that are gone.
    for id in &wb.selection {
        assert!(wb.editor.clip.tracks[id.track].key_at(id.time_ms).is_some());
    }
}

#[test]
fn clip_files_round_trip_and_bad_files_name_line_and_column() {
    let (mut wb, dir) = workbench("files");
    // Save through the workbench: the directory is created, `.clip.ron` appended.
    let target = dir.join("nested/dir/my_take");
    wb.clip_path = target.display().to_string();
    let path = wb.save_clip().unwrap();
    assert_eq!(path, dir.join("nested/dir/my_take.clip.ron"));
    let saved = wb.editor.clip.clone();
    // Edit, then load the file back: the saved clip returns.
    wb.selection = [KeyId::new(0, 40)].into();
    assert!(wb.delete_selected());
    assert_ne!(wb.editor.clip, saved);
    assert_eq!(wb.load_clip().unwrap(), path);
    assert_eq!(wb.editor.clip, saved);
    // Plain helpers too.
    let p2 = dir.join("plain.clip.ron");
    save_clip_file(&saved, &p2).unwrap();
    assert_eq!(load_clip_file(&p2, &wb.table).unwrap(), saved);

    // A syntax error on line 4.
    let bad = dir.join("bad.clip.ron");
    std::fs::write(
        &bad,
        "(\n    name: \"bad\",\n    duration_ms: 100,\n    tracks: [ (target: Au(\"AU12\"), keys: [(time_ms: x)]) ],\n)\n",
    )
    .unwrap();
    wb.clip_path = bad.display().to_string();
    let before = wb.editor.clip.clone();
    let e = wb.load_clip().unwrap_err();
    let at = format!("{}:4:", bad.display());
    assert!(e.starts_with(&at), "{e}");
    let col: usize = e[at.len()..].split(':').next().unwrap().parse().unwrap();
    assert!(col > 1, "{e}");
    assert_eq!(wb.editor.clip, before, "a bad file changes nothing");
    // An unknown action unit, located at its name.
    std::fs::write(
        &bad,
        "(\n    name: \"bad\",\n    duration_ms: 100,\n    tracks: [\n        (target: Au(\"AU99\"), keys: []),\n    ],\n)\n",
    )
    .unwrap();
    let e = wb.load_clip().unwrap_err();
    assert!(
        e.contains(&format!("{}:5:", bad.display())) && e.contains("AU99"),
        "{e}"
    );
    // A missing file names the file.
    wb.clip_path = dir.join("missing.clip.ron").display().to_string();
    let e = wb.load_clip().unwrap_err();
    assert!(e.contains("missing.clip.ron"), "{e}");
}

#[test]
fn feasibility_marks_an_impossible_key_pair() {
    let (mut wb, _dir) = workbench("feasibility");
    // 0 → 1 in 5 ms on the jaw: far beyond the motor's velocity limit.
    let mut clip = Clip::new("too_fast", 300);
    clip.tracks.push(Track {
        target: TrackTarget::Channel("jaw".into()),
        keys: vec![Key::new(50, 0.0), Key::new(55, 1.0)],
    });
    wb.open_clip(clip);
    let marks = wb
        .marks
        .get(&KeyId::new(0, 50))
        .expect("the key starting the fast segment is marked");
    assert!(
        marks
            .iter()
            .any(|m| m.contains("TooFast") && m.contains("needs")),
        "{marks:?}"
    );
    assert!(!wb.marks.contains_key(&KeyId::new(0, 55)), "{:?}", wb.marks);
    let err = wb.track_errors[0].unwrap();
    assert!(err > 0.5, "tracking error {err}");

    // Slow the second key down through edits: the mark goes away with the re-check.
    wb.selection = [KeyId::new(0, 55)].into();
    assert!(wb.move_selected(195, 0.0));
    assert!(wb.editor.clip.tracks[0].key_at(250).is_some());
    // 0 → 1 in 200 ms (5 travel/s) is still too fast for the jaw; 0 → 0.5 is not.
    assert!(wb.marks.contains_key(&KeyId::new(0, 50)));
    assert!(wb.move_selected(0, -0.5));
    assert!(
        !wb.marks.contains_key(&KeyId::new(0, 50)),
        "gentle now: {:?}",
        wb.marks
    );
    assert!(wb.track_errors[0].unwrap() < 0.5 * err);
    // Undo brings the mark back.
    wb.undo();
    wb.undo();
    assert!(wb.marks.contains_key(&KeyId::new(0, 50)));
}

#[test]
fn au_sliders_expressions_mirror_and_save() {
    let (mut wb, dir) = workbench("expressions");
    let mut desired = vec![0.0; 25];
    let zl = channel("zygomaticus_major_l");
    let zr = channel("zygomaticus_major_r");
    let jaw = channel("jaw");
    // A motor-slider offset on the jaw survives AU slider moves.
    desired[jaw] = 0.2;
    let au12l = wb.table.index("AU12L").unwrap();
    wb.set_au(au12l, 0.8, &mut desired);
    assert!(desired[zl] > 0.5 && desired[zr].abs() < 1e-6, "{desired:?}");
    assert!((desired[jaw] - 0.2).abs() < 1e-6);
    // Mirror: the left smile becomes a right smile; the AU slider moves to AU12R.
    let left = desired[zl];
    wb.mirror_pose(&mut desired);
    assert!((desired[zr] - left).abs() < 1e-6 && desired[zl].abs() < 1e-6);
    assert_eq!(wb.au[au12l], 0.0);
    assert!((wb.au[wb.table.index("AU12R").unwrap()] - 0.8).abs() < 1e-6);
    // Zeroing the AUs keeps the jaw offset.
    wb.zero_aus(&mut desired);
    assert!(desired[zr].abs() < 1e-6 && (desired[jaw] - 0.2).abs() < 1e-6);

    // Apply, blend.
    wb.apply_expression("duchenne_smile", &mut desired).unwrap();
    let smile = wb.library.get("duchenne_smile").unwrap().pose(&wb.table);
    assert_eq!(&desired[..25], &smile[..]);
    wb.blend_expressions("neutral", "duchenne_smile", 0.5, &mut desired)
        .unwrap();
    assert!((desired[zl] - 0.5 * smile[zl]).abs() < 1e-5);
    assert!(wb.apply_expression("no_such_face", &mut desired).is_err());

    // Save the pose (AUs + a channel offset) into a scratch library and read it back.
    wb.library_dir = dir.join("expressions");
    wb.apply_expression("duchenne_smile", &mut desired).unwrap();
    desired[jaw] += 0.1;
    let path = wb.save_expression("my_smile", &desired).unwrap();
    assert!(path.starts_with(&wb.library_dir));
    let back = facetwin_authoring::ExpressionLibrary::load_dir(&wb.library_dir).unwrap();
    let pose = back.get("my_smile").unwrap().pose(&wb.table);
    for (a, b) in pose.iter().zip(&desired) {
        assert!((a - b).abs() < 1e-5, "{pose:?} vs {desired:?}");
    }
    assert!(
        wb.save_expression("my_smile", &desired)
            .unwrap_err()
            .contains("exists")
    );
    assert!(wb.save_expression("bad name!", &desired).is_err());
    assert!(wb.save_expression("", &desired).is_err());
}

#[test]
fn micro_expression_template_and_livelink_import() {
    let (mut wb, _dir) = workbench("micro");
    wb.micro_expression = "surprise".into();
    wb.onset_ms = 30;
    wb.apex_ms = 100;
    wb.offset_ms = 70;
    wb.new_micro_expression().unwrap();
    assert_eq!(wb.editor.clip.name, "surprise_micro");
    assert_eq!(play_length_ms(&wb.editor.clip), 200.0);
    assert!(!wb.editor.can_undo(), "a new document");
    wb.micro_expression = "neutral".into();
    assert!(wb.new_micro_expression().unwrap_err().contains("neutral"));

    wb.csv_path = asset_dir("captures")
        .join("synthetic_take.csv")
        .display()
        .to_string();
    wb.import_csv().unwrap();
    assert_eq!(wb.editor.clip.name, "synthetic_take");
    assert!(!wb.editor.clip.tracks.is_empty());
    wb.csv_path = "no/such/take.csv".into();
    assert!(wb.import_csv().unwrap_err().contains("take.csv"));
}

// ---------------------------------------------------------------------------------------------
// The timeline's egui code driven with synthetic pointer and key events (no window).
// ---------------------------------------------------------------------------------------------

use bevy_egui::egui;
use facetwin::app::authoring::{Effects, shortcuts, timeline_ui};

struct Harness {
    ctx: egui::Context,
    wb: Workbench,
    desired: Vec<f32>,
    fx: Effects,
    time: f64,
    /// Also draw a text field and give it the keyboard focus.
    focus_text: bool,
    text: String,
}

impl Harness {
    fn new(wb: Workbench) -> Self {
        let ctx = egui::Context::default();
        ctx.options_mut(|o| o.max_passes = std::num::NonZeroUsize::MIN);
        let mut h = Self {
            ctx,
            wb,
            desired: vec![0.0; 25],
            fx: Effects::default(),
            time: 0.0,
            focus_text: false,
            text: String::new(),
        };
        h.frame(vec![]);
        h.frame(vec![]);
        h
    }

    fn frame(&mut self, events: Vec<egui::Event>) {
        self.time += 0.05;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1500.0, 600.0),
            )),
            time: Some(self.time),
            events,
            ..Default::default()
        };
        self.fx = Effects::default();
        let Self {
            ctx,
            wb,
            desired,
            fx,
            focus_text,
            text,
            ..
        } = self;
        let out = ctx.run_ui(input, |ui| {
            if *focus_text {
                ui.text_edit_singleline(text).request_focus();
            }
            timeline_ui(ui, wb, desired, fx);
            shortcuts(ui.ctx(), wb);
        });
        out.drop_without_applying_deltas();
    }

    fn key_pos(&self, track: usize, time_ms: u32) -> egui::Pos2 {
        let axis = self.wb.layout.axis.unwrap();
        let va = self.wb.layout.lanes[track];
        let t = &self.wb.editor.clip.tracks[track];
        let k = t.keys[t.key_at(time_ms).unwrap()];
        egui::pos2(axis.x(time_ms as f32), va.y(k.value))
    }

    fn press(&mut self, pos: egui::Pos2, pressed: bool) {
        self.frame(vec![egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        }]);
    }

    fn drag(&mut self, from: egui::Pos2, to: egui::Pos2) {
        self.frame(vec![egui::Event::PointerMoved(from)]);
        self.press(from, true);
        for i in 1..=4 {
            let p = from + (to - from) * (i as f32 / 4.0);
            self.frame(vec![egui::Event::PointerMoved(p)]);
        }
        self.press(to, false);
        self.frame(vec![]);
    }

    fn click(&mut self, pos: egui::Pos2) {
        self.frame(vec![egui::Event::PointerMoved(pos)]);
        self.press(pos, true);
        self.press(pos, false);
    }

    fn key(&mut self, key: egui::Key, modifiers: egui::Modifiers) {
        let ev = |pressed| egui::Event::Key {
            key,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers,
        };
        self.frame(vec![ev(true), ev(false)]);
    }
}

#[test]
fn timeline_drag_click_double_click_and_shortcuts() {
    let (wb, _dir) = workbench("timeline-ui");
    let mut h = Harness::new(wb);
    let axis = h.wb.layout.axis.expect("the timeline was laid out");
    assert_eq!(h.wb.layout.lanes.len(), 3, "AU6, AU12, AU25");
    let original = h.wb.editor.clip.clone();

    // Click the AU12 apex key: selected.
    let p = h.key_pos(1, 40);
    h.click(p);
    assert_eq!(
        h.wb.selection.iter().copied().collect::<Vec<_>>(),
        vec![KeyId::new(1, 40)]
    );
    assert!(!h.wb.editor.can_undo(), "a click edits nothing");

    // Drag it 20 ms later (horizontally only): one MoveKeys edit on release.
    let dx = 20.0 * axis.px_per_ms();
    h.drag(p, p + egui::vec2(dx, 0.0));
    assert_eq!(
        h.wb.editor.undo.len(),
        1,
        "one undo step for the whole drag"
    );
    let t1 = &h.wb.editor.clip.tracks[1];
    assert!(
        t1.key_at(40).is_none() && t1.key_at(60).is_some(),
        "{:?}",
        t1.keys
    );
    assert_eq!(
        t1.keys[t1.key_at(60).unwrap()].value,
        original.tracks[1].keys[1].value
    );
    assert_eq!(
        h.wb.selection.iter().copied().collect::<Vec<_>>(),
        vec![KeyId::new(1, 60)]
    );

    // Its out handle (Bezier key): drag it up; one SetHandles edit.
    let k = t1.keys[t1.key_at(60).unwrap()];
    let next = t1.keys[t1.key_at(60).unwrap() + 1];
    let pts = facetwin_authoring::timeline::bezier_points(&k, &next);
    let va = h.wb.layout.lanes[1];
    let hp = egui::pos2(axis.x(pts[1].0), va.y(pts[1].1));
    h.drag(hp, hp + egui::vec2(0.0, -10.0));
    assert_eq!(h.wb.editor.undo.len(), 2);
    let t1 = &h.wb.editor.clip.tracks[1];
    let k2 = t1.keys[t1.key_at(60).unwrap()];
    assert!(
        k2.out_handle.dvalue > 0.05,
        "handle raised: {:?}",
        k2.out_handle
    );
    assert_eq!(k2.time_ms, 60);

    // Scrub: click the ruler at 100 ms; the pose follows the clip there.
    let ruler = h.wb.layout.ruler.unwrap();
    h.click(egui::pos2(axis.x(100.0), ruler.center().y));
    assert!(
        (h.wb.playhead_ms - 100.0).abs() < 1.0,
        "playhead {}",
        h.wb.playhead_ms
    );
    let expected = h.wb.editor.clip.sample(&h.wb.table, h.wb.playhead_ms);
    assert_eq!(&h.desired[..25], &expected[..]);

    // Double-click the AU25 lane at 90 ms: a key there with the current value.
    let va = h.wb.layout.lanes[2];
    let lane_pt = egui::pos2(axis.x(90.0), (va.top + va.bottom) * 0.5);
    h.time += 1.0; // not a triple click with the ruler click
    h.click(lane_pt);
    h.click(lane_pt);
    let t2 = &h.wb.editor.clip.tracks[2];
    assert!(
        t2.key_at(90).is_some(),
        "double-click added a key: {:?}",
        t2.keys
    );
    assert_eq!(h.wb.editor.undo.len(), 3);

    // Delete removes the selected key; Ctrl+Z brings it back, Ctrl+Shift+Z removes it again.
    h.key(egui::Key::Delete, egui::Modifiers::NONE);
    assert!(h.wb.editor.clip.tracks[2].key_at(90).is_none());
    h.key(egui::Key::Z, egui::Modifiers::COMMAND);
    assert!(h.wb.editor.clip.tracks[2].key_at(90).is_some());
    h.key(
        egui::Key::Z,
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
    );
    assert!(h.wb.editor.clip.tracks[2].key_at(90).is_none());

    // While a text field has the focus, Ctrl+Z belongs to the text.
    h.focus_text = true;
    h.frame(vec![]);
    let undo = h.wb.editor.undo.len();
    h.key(egui::Key::Z, egui::Modifiers::COMMAND);
    assert_eq!(h.wb.editor.undo.len(), undo, "no undo while typing");
    h.focus_text = false;
    h.frame(vec![]);
    h.key(egui::Key::Z, egui::Modifiers::COMMAND);
    assert_eq!(h.wb.editor.undo.len(), undo - 1);
}

#[test]
fn the_selected_key_takes_typed_numbers_one_undo_step_each() {
    let (wb, _dir) = workbench("key-fields");
    let mut h = Harness::new(wb);
    let p = h.key_pos(1, 40);
    h.click(p);
    h.frame(vec![]);
    let (time_field, value_field) = h.wb.layout.key_fields.expect("key fields shown");
    // Click the value, type a number, Enter.
    h.click(value_field.center());
    h.frame(vec![]);
    h.key(egui::Key::A, egui::Modifiers::COMMAND);
    h.frame(vec![egui::Event::Text("0.125".into())]);
    h.key(egui::Key::Enter, egui::Modifiers::NONE);
    h.frame(vec![]);
    let t1 = &h.wb.editor.clip.tracks[1];
    let k = t1.keys[t1.key_at(40).expect("key stays at 40 ms")];
    assert!((k.value - 0.125).abs() < 1e-6, "value {}", k.value);
    let steps = h.wb.editor.undo.len();
    assert!(steps >= 1);
    // The time field moves the key (the selection follows it).
    let (time_field, _) = h.wb.layout.key_fields.unwrap_or((time_field, value_field));
    h.click(time_field.center());
    h.frame(vec![]);
    h.key(egui::Key::A, egui::Modifiers::COMMAND);
    h.frame(vec![egui::Event::Text("50".into())]);
    h.key(egui::Key::Enter, egui::Modifiers::NONE);
    h.frame(vec![]);
    let t1 = &h.wb.editor.clip.tracks[1];
    assert!(
        t1.key_at(40).is_none() && t1.key_at(50).is_some(),
        "{:?}",
        t1.keys
    );
    assert_eq!(
        h.wb.selection.iter().copied().collect::<Vec<_>>(),
        vec![KeyId::new(1, 50)]
    );
    // Undo takes the edits back.
    while h.wb.editor.can_undo() {
        h.wb.undo();
    }
    let t1 = &h.wb.editor.clip.tracks[1];
    assert!(t1.key_at(40).is_some());
}

#[test]
fn the_shipped_fixed_micro_expression_is_feasible_and_120_ms() {
    // The clip the designer's walkthrough saved (README): the 120 ms Duchenne template with
    // its apex brought within what the motors can follow.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/clips/duchenne_micro_fixed.clip.ron");
    let clip = facetwin_authoring::Clip::load(&path).expect("shipped clip loads");
    assert_eq!(clip.duration_ms, 120);
    let report = facetwin_authoring::check_clip(
        &clip,
        &facetwin_authoring::AuTable::builtin(),
        &facetwin_head::HeadConfig::default_head(),
        &facetwin_authoring::FeasibilityOptions::default(),
    );
    assert!(report.is_feasible(), "{:?}", report.issues);
    // The unfixed template at the same timing is not.
    let (wb, _dir) = workbench("template-infeasible");
    let template = wb.editor.clip.clone();
    let report = facetwin_authoring::check_clip(
        &template,
        &facetwin_authoring::AuTable::builtin(),
        &facetwin_head::HeadConfig::default_head(),
        &facetwin_authoring::FeasibilityOptions::default(),
    );
    assert!(!report.is_feasible());
}

#[test]
fn fit_values_scales_a_small_micro_expression_to_its_lane() {
    let (mut wb, _dir) = workbench("fit-values");
    // The shipped feasible micro-expression: apex 0.1 on an AU lane that spans 0..1.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/clips/duchenne_micro_fixed.clip.ron");
    wb.open_clip(facetwin_authoring::Clip::load(&path).expect("clip"));
    let mut h = Harness::new(wb);
    let lane = h.wb.layout.lanes[1];
    let travel = |h: &Harness| (h.key_pos(1, 0).y - h.key_pos(1, 40).y).abs();
    let whole = travel(&h);
    assert!(
        whole < 0.15 * (lane.bottom - lane.top),
        "0.1 of 0..1: {whole}"
    );
    h.wb.fit_values = true;
    h.frame(vec![]);
    let lane = h.wb.layout.lanes[1];
    let fitted = travel(&h);
    assert!(
        fitted > 0.75 * (lane.bottom - lane.top),
        "fitted: {fitted} of {}",
        lane.bottom - lane.top
    );
    // Dragging a key by the same pixels now moves it by a finer step.
    let p = h.key_pos(1, 40);
    h.drag(p, p + egui::vec2(0.0, 10.0));
    let t1 = &h.wb.editor.clip.tracks[1];
    let v = t1.keys[t1.key_at(40).expect("key")].value;
    assert!(v < 0.1 && v > 0.05, "10 px down on a fitted lane: {v}");
}

#[test]
fn the_timeline_says_why_the_head_will_not_move() {
    use facetwin::app::authoring::head_blocked;
    use facetwin_protocol::{Telemetry, status};
    let mut view = facetwin_link::HeadView::default();
    assert!(head_blocked(&view, false).is_some_and(|w| w.contains("no head")));
    view.state = LinkState::Connected;
    let mut t = Telemetry {
        head_time_us: 0,
        torque_mask: (1 << 25) - 1,
        status: status::HOST_CONNECTED,
        count: 25,
        channels: [Default::default(); facetwin_protocol::MAX_CHANNELS],
    };
    view.telemetry = Some(t);
    assert_eq!(
        head_blocked(&view, false),
        None,
        "connected, torque on: plays"
    );
    t.status |= status::ESTOP;
    t.torque_mask = 0;
    view.telemetry = Some(t);
    assert!(head_blocked(&view, false).is_some_and(|w| w.contains("emergency stop")));
    t.status = status::HOST_CONNECTED;
    view.telemetry = Some(t);
    assert!(head_blocked(&view, false).is_some_and(|w| w.contains("torque is off")));
    assert!(head_blocked(&view, true).is_some_and(|w| w.contains("mirror mode")));
}
