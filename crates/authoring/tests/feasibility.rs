//! Feasibility against the motor model, and timing fidelity of playback.

#![allow(clippy::unwrap_used)]

use facetwin_authoring::feasibility::{FeasibilityOptions, IssueKind, check_clip};
use facetwin_authoring::playback::{PlaybackOptions, measure_lag_ms, simulate_clip_channel};
use facetwin_authoring::{AuTable, Clip, Key, Track, TrackTarget};
use facetwin_head::HeadConfig;

fn channel_clip(channel: &str, keys: Vec<Key>, duration_ms: u32) -> Clip {
    let mut clip = Clip::new("t", duration_ms);
    clip.tracks.push(Track {
        target: TrackTarget::Channel(channel.into()),
        keys,
    });
    clip
}

#[test]
fn impossible_key_pair_is_flagged_too_fast() {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    // 0 → 1 in 5 ms: 200 norm/s against a 4 norm/s motor.
    let clip = channel_clip("jaw", vec![Key::new(50, 0.0), Key::new(55, 1.0)], 300);
    let report = check_clip(&clip, &table, &head, &FeasibilityOptions::default());
    let fast: Vec<_> = report
        .issues
        .iter()
        .filter(|i| matches!(i.kind, IssueKind::TooFast { .. }))
        .collect();
    assert_eq!(fast.len(), 1, "{:?}", report.issues);
    let issue = fast[0];
    assert_eq!(issue.channel, "jaw");
    assert_eq!(
        (issue.track, issue.key_index, issue.time_ms),
        (Some(0), Some(0), 50)
    );
    match issue.kind {
        IssueKind::TooFast { needed, max } => {
            assert!((needed - 200.0).abs() < 1.0, "{needed}");
            assert_eq!(max, 4.0);
        }
        _ => unreachable!(),
    }
    // The simulated motor could not follow: a large tracking error.
    assert!(issue.tracking_error_norm > 0.5, "{issue:?}");
    let jaw = report.channel("jaw").unwrap();
    assert!(jaw.max_tracking_error_norm > 0.5);
    assert_eq!(
        report.channels.len(),
        1,
        "only channels with keys are simulated"
    );
}

#[test]
fn gentle_motion_passes() {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    let clip = channel_clip(
        "zygomaticus_major_l",
        vec![
            Key::ease(0, 0.0, 150.0),
            Key::ease(500, 0.6, 150.0),
            Key::ease(1000, 0.0, 150.0),
        ],
        1000,
    );
    let report = check_clip(&clip, &table, &head, &FeasibilityOptions::default());
    assert!(report.is_feasible(), "{:?}", report.issues);
    let ch = report.channel("zygomaticus_major_l").unwrap();
    assert!(ch.max_tracking_error_norm < 0.02, "{ch:?}");
    assert!(ch.peak_current_a < 0.9 * ch.current_limit_a, "{ch:?}");
    assert!(ch.peak_speed_needed < ch.max_velocity_norm_s);
}

#[test]
fn keys_beyond_travel_are_flagged_through_au_sums() {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    let mut clip = Clip::new("sum", 1000);
    // AU9 and AU10 both pull levator labii: 0.7 + 0.9 at full intensity.
    for au in ["AU9", "AU10"] {
        clip.tracks.push(Track {
            target: TrackTarget::Au(au.into()),
            keys: vec![Key::ease(0, 0.0, 150.0), Key::ease(600, 1.0, 150.0)],
        });
    }
    // A channel key beyond its own limit.
    clip.tracks.push(Track {
        target: TrackTarget::Channel("jaw".into()),
        keys: vec![Key::new(0, 0.0), Key::new(800, 1.4)],
    });
    let report = check_clip(&clip, &table, &head, &FeasibilityOptions::default());
    let beyond: Vec<(&str, u32)> = report
        .issues
        .iter()
        .filter(|i| matches!(i.kind, IssueKind::BeyondTravel { .. }))
        .map(|i| (i.channel.as_str(), i.time_ms))
        .collect();
    assert!(beyond.contains(&("levator_labii_l", 600)), "{beyond:?}");
    assert!(beyond.contains(&("levator_labii_r", 600)), "{beyond:?}");
    assert!(beyond.contains(&("jaw", 800)), "{beyond:?}");
    assert!(!beyond.iter().any(|(c, _)| c.starts_with("corrugator")));
}

/// The 80 ms micro-expression of the timing check: zygomaticus_major_l to
/// `amplitude`, onset 40 ms, no hold, offset 40 ms (apex authored at 40 ms).
fn micro(amplitude: f32) -> (Clip, usize) {
    let table = AuTable::builtin();
    let ch = table.layout().index("zygomaticus_major_l").unwrap();
    let mut pose = vec![0.0; 25];
    pose[ch] = amplitude;
    (Clip::micro_expression("micro", &pose, 40, 0, 40), ch)
}

#[test]
fn micro_expression_apex_timing_with_lead() {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    // A micro-expression amplitude the motor can reach in 40 ms (eased onset
    // peaks at 1.5 × 0.1 / 40 ms = 3.75 norm/s < 4).
    let (clip, ch) = micro(0.1);
    assert!(
        check_clip(&clip, &table, &head, &FeasibilityOptions::default()).is_feasible(),
        "the timing clip itself must be feasible"
    );
    let stream = PlaybackOptions {
        stream_hz: 200.0,
        time_to_target_ms: None, // one period, 5 ms
        tail_ms: 150.0,
        ..PlaybackOptions::default()
    };
    let raw = simulate_clip_channel(&clip, &table, &head, ch, &stream);
    assert_eq!(raw.authored_apex_ms(), Some(40.0));
    let raw_apex = raw.measured_apex_ms().unwrap();
    let lag = measure_lag_ms(&head, ch, &stream);
    let led = simulate_clip_channel(
        &clip,
        &table,
        &head,
        ch,
        &PlaybackOptions {
            lead_ms: lag,
            ..stream
        },
    );
    let led_apex = led.measured_apex_ms().unwrap();
    println!(
        "80 ms micro-expression to 0.1 at 200 Hz: channel lag {lag:.1} ms; apex raw {raw_apex:.1} ms \
         ({:+.1}), with lead {led_apex:.1} ms ({:+.1}); peak {:.3}",
        raw_apex - 40.0,
        led_apex - 40.0,
        led.measured_peak()
    );
    // The raw motor lags by more than one stream period (time-to-target +
    // servo lag): the lead is needed.
    assert!(lag > 5.0 && lag < 15.0, "lag {lag}");
    assert!(raw_apex > 40.0, "raw playback is late: {raw_apex}");
    assert!(
        (led_apex - 40.0).abs() <= 5.0,
        "apex with lead at {led_apex} ms"
    );
    assert!(led.measured_peak() > 0.08, "reaches most of the amplitude");
}

#[test]
fn micro_expression_beyond_the_velocity_limit_is_flagged_and_late() {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    // 0 → 0.8 → 0 in 80 ms needs ~30 norm/s; the motor allows 4.
    let (clip, ch) = micro(0.8);
    let report = check_clip(&clip, &table, &head, &FeasibilityOptions::default());
    assert!(
        report.issues.iter().any(|i| i.time_ms == 0
            && matches!(i.kind, IssueKind::TooFast { needed, .. } if needed > 25.0)),
        "{:?}",
        report.issues
    );
    let stream = PlaybackOptions {
        stream_hz: 200.0,
        tail_ms: 150.0,
        ..PlaybackOptions::default()
    };
    let lag = measure_lag_ms(&head, ch, &stream);
    let raw = simulate_clip_channel(&clip, &table, &head, ch, &stream);
    let led = simulate_clip_channel(
        &clip,
        &table,
        &head,
        ch,
        &PlaybackOptions {
            lead_ms: lag,
            ..stream
        },
    );
    println!(
        "80 ms micro-expression to 0.8 at 200 Hz: apex raw {:.1} ms, with lead {:.1} ms; peak {:.3} of 0.8",
        raw.measured_apex_ms().unwrap(),
        led.measured_apex_ms().unwrap(),
        raw.measured_peak()
    );
    // Velocity-limited: the motor reaches a fraction of the amplitude, late.
    assert!(raw.measured_peak() < 0.3);
    assert!(led.measured_apex_ms().unwrap() > 45.0);
}

#[test]
fn cache_resimulates_only_edited_channels() {
    use facetwin_authoring::feasibility::FeasibilityCache;
    use facetwin_authoring::{EditCommand, Editor, KeyId};
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    let mut clip = Clip::new("c", 1000);
    for name in ["jaw", "mentalis", "zygomaticus_major_l"] {
        clip.tracks.push(Track {
            target: TrackTarget::Channel(name.into()),
            keys: vec![Key::ease(0, 0.0, 100.0), Key::ease(600, 0.4, 100.0)],
        });
    }
    clip.tracks.push(Track {
        target: TrackTarget::Au("AU12".into()),
        keys: vec![Key::new(0, 0.0), Key::new(800, 0.3)],
    });
    let mut editor = Editor::new(clip);
    let opts = FeasibilityOptions::default();
    let mut cache = FeasibilityCache::new();
    let first = cache.check(&editor.clip, &table, &head, &opts);
    assert_eq!(
        cache.last_simulated, 4,
        "jaw, mentalis, zygomaticus l and r"
    );
    assert_eq!(first, check_clip(&editor.clip, &table, &head, &opts));
    assert!(first.is_feasible());
    let again = cache.check(&editor.clip, &table, &head, &opts);
    assert_eq!(cache.last_simulated, 0);
    assert_eq!(again, first);
    // Make the jaw impossible: only the jaw is simulated again.
    editor
        .apply(EditCommand::MoveKeys {
            keys: vec![KeyId::new(0, 600)],
            dt_ms: -590,
            dvalue: 0.5,
        })
        .unwrap();
    let edited = cache.check(&editor.clip, &table, &head, &opts);
    assert_eq!(cache.last_simulated, 1);
    assert_eq!(edited, check_clip(&editor.clip, &table, &head, &opts));
    assert!(edited.issues.iter().any(|i| i.channel == "jaw"));
    // The AU track moves both zygomatici.
    editor
        .apply(EditCommand::AddKey {
            track: 3,
            key: Key::new(900, 0.5),
        })
        .unwrap();
    cache.check(&editor.clip, &table, &head, &opts);
    assert_eq!(cache.last_simulated, 2);
}
