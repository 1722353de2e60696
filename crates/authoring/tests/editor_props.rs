//! Property: any sequence of edits (with undo/redo interleaved) is undone
//! exactly, and redone exactly.

#![allow(clippy::unwrap_used)]

use facetwin_authoring::{
    ChannelLayout, Clip, EditCommand, Editor, Handle, Interpolation, Key, KeyId, Track, TrackTarget,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add {
        track: usize,
        time: u32,
        value: f32,
        interp: u8,
        handle: (f32, f32),
    },
    Delete(Vec<(usize, usize)>),
    Move(Vec<(usize, usize)>, i64, f32),
    Interp(Vec<(usize, usize)>, u8),
    Handles((usize, usize), (f32, f32), (f32, f32)),
    Copy(Vec<(usize, usize)>),
    Paste(usize, u32),
    AddTrack(usize, bool, Option<usize>),
    RemoveTrack(usize),
    Duration(u32),
    Undo,
    Redo,
}

fn interp(i: u8) -> Interpolation {
    match i % 3 {
        0 => Interpolation::Step,
        1 => Interpolation::Linear,
        _ => Interpolation::Bezier,
    }
}

fn sel() -> impl Strategy<Value = (usize, usize)> {
    (0usize..6, 0usize..8)
}

fn op() -> impl Strategy<Value = Op> {
    let h = (-60.0f32..60.0, -1.0f32..1.0);
    prop_oneof![
        (0usize..6, 0u32..40, -1.2f32..1.2, any::<u8>(), h.clone()).prop_map(
            |(track, t, value, interp, handle)| Op::Add {
                track,
                time: t * 10,
                value,
                interp,
                handle
            }
        ),
        prop::collection::vec(sel(), 0..4).prop_map(Op::Delete),
        (
            prop::collection::vec(sel(), 0..4),
            -300i64..300,
            -0.5f32..0.5
        )
            .prop_map(|(s, dt, dv)| Op::Move(s, dt, dv)),
        (prop::collection::vec(sel(), 0..4), any::<u8>()).prop_map(|(s, i)| Op::Interp(s, i)),
        (sel(), h.clone(), h).prop_map(|(s, a, b)| Op::Handles(s, a, b)),
        prop::collection::vec(sel(), 0..4).prop_map(Op::Copy),
        (0usize..6, 0u32..60).prop_map(|(t, ms)| Op::Paste(t, ms * 10)),
        (0usize..25, any::<bool>(), proptest::option::of(0usize..6))
            .prop_map(|(i, au, at)| Op::AddTrack(i, au, at)),
        (0usize..6).prop_map(Op::RemoveTrack),
        (0u32..3000).prop_map(Op::Duration),
        Just(Op::Undo),
        Just(Op::Redo),
    ]
}

fn start_clip() -> Clip {
    let mut clip = Clip::new("prop", 1000);
    clip.tracks.push(Track {
        target: TrackTarget::Channel("jaw".into()),
        keys: vec![
            Key::new(0, 0.0),
            Key::ease(100, 0.5, 30.0),
            Key::new(300, 0.1),
        ],
    });
    clip.tracks.push(Track {
        target: TrackTarget::Au("AU12".into()),
        keys: vec![
            Key::with_interp(50, 0.2, Interpolation::Step),
            Key::new(200, 0.9),
        ],
    });
    clip.tracks
        .push(Track::new(TrackTarget::Channel("eyes_yaw".into())));
    clip
}

/// Resolves a (track, ordinal) selector against the current clip.
fn key_id(clip: &Clip, (t, k): (usize, usize)) -> KeyId {
    let n = clip.tracks.len();
    let track = if n == 0 { t } else { t % (n + 1) }; // n = an invalid track
    let time = clip
        .tracks
        .get(track)
        .filter(|tr| !tr.keys.is_empty())
        .map_or(k as u32 * 7 + 1, |tr| tr.keys[k % tr.keys.len()].time_ms);
    KeyId::new(track, time)
}

fn to_command(clip: &Clip, op: &Op) -> Option<EditCommand> {
    let ids = |s: &Vec<(usize, usize)>| s.iter().map(|x| key_id(clip, *x)).collect::<Vec<_>>();
    let track = |t: usize| t % (clip.tracks.len() + 1);
    Some(match op {
        Op::Add {
            track: t,
            time,
            value,
            interp: i,
            handle,
        } => EditCommand::AddKey {
            track: track(*t),
            key: Key {
                time_ms: *time,
                value: *value,
                interp: interp(*i),
                in_handle: Handle::new(-handle.0.abs(), handle.1),
                out_handle: Handle::new(handle.0.abs(), -handle.1),
            },
        },
        Op::Delete(s) => EditCommand::DeleteKeys { keys: ids(s) },
        Op::Move(s, dt, dv) => EditCommand::MoveKeys {
            keys: ids(s),
            dt_ms: *dt,
            dvalue: *dv,
        },
        Op::Interp(s, i) => EditCommand::SetInterpolation {
            keys: ids(s),
            interp: interp(*i),
        },
        Op::Handles(s, a, b) => EditCommand::SetHandles {
            key: key_id(clip, *s),
            in_handle: Handle::new(a.0, a.1),
            out_handle: Handle::new(b.0, b.1),
        },
        Op::Paste(t, ms) => EditCommand::PasteKeys {
            track: track(*t),
            time_ms: *ms,
        },
        Op::AddTrack(i, au, at) => EditCommand::AddTrack {
            target: if *au {
                TrackTarget::Au(format!("AU{}", [1, 2, 4, 5, 6, 12, 15, 26][i % 8]))
            } else {
                TrackTarget::Channel(ChannelLayout::default_head().name(*i).to_owned())
            },
            index: *at,
        },
        Op::RemoveTrack(t) => EditCommand::RemoveTrack { track: track(*t) },
        Op::Duration(d) => EditCommand::SetDuration { duration_ms: *d },
        Op::Copy(_) | Op::Undo | Op::Redo => return None,
    })
}

fn keys_sorted(clip: &Clip) -> bool {
    clip.tracks
        .iter()
        .all(|t| t.keys.windows(2).all(|w| w[0].time_ms < w[1].time_ms))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn undo_all_restores_the_original(ops in prop::collection::vec(op(), 1..40)) {
        let original = start_clip();
        let mut e = Editor::new(original.clone());
        let mut applied = 0;
        for op in &ops {
            match op {
                Op::Undo => { e.undo(); }
                Op::Redo => { e.redo(); }
                Op::Copy(s) => {
                    let ids: Vec<KeyId> = s.iter().map(|x| key_id(&e.clip, *x)).collect();
                    let before = e.clip.clone();
                    let _ = e.copy(&ids);
                    prop_assert_eq!(&e.clip, &before, "copy is not an edit");
                }
                _ => {
                    let Some(cmd) = to_command(&e.clip, op) else { continue };
                    let before = e.clip.clone();
                    match e.apply(cmd.clone()) {
                        Ok(true) => {
                            applied += 1;
                            prop_assert!(keys_sorted(&e.clip), "{:?} unsorted keys", cmd);
                            // Each edit on its own undoes and redoes exactly.
                            let after = e.clip.clone();
                            prop_assert!(e.undo());
                            prop_assert_eq!(&e.clip, &before, "undo of {:?}", cmd);
                            prop_assert!(e.redo());
                            prop_assert_eq!(&e.clip, &after, "redo of {:?}", cmd);
                        }
                        Ok(false) | Err(_) => prop_assert_eq!(&e.clip, &before, "{:?}", cmd),
                    }
                }
            }
        }
        // Where redoing everything still pending leads.
        let mut ahead = e.clone();
        while ahead.redo() {}
        while e.undo() {}
        prop_assert_eq!(&e.clip, &original, "after {} edits", applied);
        while e.redo() {}
        prop_assert_eq!(&e.clip, &ahead.clip);
    }
}
