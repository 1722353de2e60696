//! Clip editing through commands, with undo and redo for every edit.
//!
//! [`Editor::apply`] turns an [`EditCommand`] into an [`Edit`]: the list of
//! [`EditOp`]s it performed, each holding the state before and after (the
//! keys of one track, a whole inserted/removed track, the duration). Undo
//! applies the ops' "before" side in reverse order, redo the "after" side,
//! so both restore the clip bit for bit. A new edit clears the redo stack;
//! a command that changes nothing (or fails) records nothing.
//!
//! Keys are addressed by `(track index, time_ms)` ([`KeyId`]): a track holds
//! at most one key per millisecond, so the pair is stable under edits of
//! other keys.

use crate::clip::Clip;
use crate::layout::ChannelLayout;
use crate::timeline::{Handle, Interpolation, Key, Track, TrackTarget};
use std::collections::BTreeMap;

/// A key by track index and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    pub track: usize,
    pub time_ms: u32,
}

impl KeyId {
    pub const fn new(track: usize, time_ms: u32) -> Self {
        Self { track, time_ms }
    }
}

/// One key on the clipboard: track relative to the first copied track, time
/// relative to the earliest copied key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipboardKey {
    pub track_offset: usize,
    pub rel_ms: u32,
    pub key: Key,
}

/// Copied keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clipboard {
    pub keys: Vec<ClipboardKey>,
}

/// What the designer asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum EditCommand {
    /// Adds a key (replacing a key at the same time).
    AddKey { track: usize, key: Key },
    /// Deletes keys.
    DeleteKeys { keys: Vec<KeyId> },
    /// Moves keys in time (ms, clamped so no key goes below 0) and value.
    /// Moved keys replace unselected keys at their destination times.
    MoveKeys {
        keys: Vec<KeyId>,
        dt_ms: i64,
        dvalue: f32,
    },
    /// Sets the interpolation of the segments starting at these keys.
    SetInterpolation {
        keys: Vec<KeyId>,
        interp: Interpolation,
    },
    /// Sets a key's tangent handles.
    SetHandles {
        key: KeyId,
        in_handle: Handle,
        out_handle: Handle,
    },
    /// Pastes the clipboard with its earliest key at `time_ms` and its first
    /// track at `track` (keys landing past the last track are dropped).
    PasteKeys { track: usize, time_ms: u32 },
    /// Adds a track at `index` (None = at the end).
    AddTrack {
        target: TrackTarget,
        index: Option<usize>,
    },
    /// Removes a track with its keys.
    RemoveTrack { track: usize },
    /// Sets the clip duration.
    SetDuration { duration_ms: u32 },
}

/// One reversible change.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOp {
    Keys {
        track: usize,
        before: Vec<Key>,
        after: Vec<Key>,
    },
    InsertTrack {
        index: usize,
        track: Track,
    },
    RemoveTrack {
        index: usize,
        track: Track,
    },
    Duration {
        before: u32,
        after: u32,
    },
}

/// A recorded edit: what was asked and what it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub command: EditCommand,
    pub ops: Vec<EditOp>,
}

/// Why a command was refused (the clip is unchanged).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("no track {0}")]
    NoTrack(usize),
    #[error("no key at {time_ms} ms on track {track}", time_ms = .0.time_ms, track = .0.track)]
    NoKey(KeyId),
    #[error("value or handle is not finite")]
    NotFinite,
    #[error("the clipboard is empty")]
    EmptyClipboard,
    #[error("unknown channel \"{0}\"")]
    UnknownChannel(String),
    #[error("a track for {0:?} exists already")]
    DuplicateTrack(TrackTarget),
}

/// A clip under edit, with undo and redo stacks and a clipboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Editor {
    pub clip: Clip,
    pub undo: Vec<Edit>,
    pub redo: Vec<Edit>,
    pub clipboard: Clipboard,
}

impl Editor {
    pub fn new(clip: Clip) -> Self {
        Self {
            clip,
            undo: Vec::new(),
            redo: Vec::new(),
            clipboard: Clipboard::default(),
        }
    }

    /// Performs a command and records it for undo. Returns whether anything
    /// changed; on error nothing changed.
    pub fn apply(&mut self, command: EditCommand) -> Result<bool, EditError> {
        let ops = self.plan(&command)?;
        if ops.is_empty() {
            return Ok(false);
        }
        for op in &ops {
            forward(&mut self.clip, op);
        }
        self.undo.push(Edit { command, ops });
        self.redo.clear();
        Ok(true)
    }

    /// Reverts the last edit; false when there is none.
    pub fn undo(&mut self) -> bool {
        let Some(edit) = self.undo.pop() else {
            return false;
        };
        for op in edit.ops.iter().rev() {
            backward(&mut self.clip, op);
        }
        self.redo.push(edit);
        true
    }

    /// Re-applies the last undone edit; false when there is none.
    pub fn redo(&mut self) -> bool {
        let Some(edit) = self.redo.pop() else {
            return false;
        };
        for op in &edit.ops {
            forward(&mut self.clip, op);
        }
        self.undo.push(edit);
        true
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Copies keys to the clipboard (not an edit: the clip is unchanged).
    /// Returns how many keys were copied.
    pub fn copy(&mut self, keys: &[KeyId]) -> Result<usize, EditError> {
        let mut found = Vec::with_capacity(keys.len());
        for id in keys {
            found.push((id.track, self.key(*id)?));
        }
        let Some(first_track) = found.iter().map(|(t, _)| *t).min() else {
            return Ok(0);
        };
        let t0 = found.iter().map(|(_, k)| k.time_ms).min().unwrap_or(0);
        found.sort_by_key(|(t, k)| (*t, k.time_ms));
        found.dedup_by_key(|(t, k)| (*t, k.time_ms));
        self.clipboard.keys = found
            .into_iter()
            .map(|(t, k)| ClipboardKey {
                track_offset: t - first_track,
                rel_ms: k.time_ms - t0,
                key: k,
            })
            .collect();
        Ok(self.clipboard.keys.len())
    }

    fn track(&self, i: usize) -> Result<&Track, EditError> {
        self.clip.tracks.get(i).ok_or(EditError::NoTrack(i))
    }

    fn key(&self, id: KeyId) -> Result<Key, EditError> {
        let t = self.track(id.track)?;
        t.key_at(id.time_ms)
            .map(|i| t.keys[i])
            .ok_or(EditError::NoKey(id))
    }

    /// Groups key ids by track, checking that every key exists.
    fn by_track(&self, keys: &[KeyId]) -> Result<BTreeMap<usize, Vec<u32>>, EditError> {
        let mut map: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for id in keys {
            self.key(*id)?;
            map.entry(id.track).or_default().push(id.time_ms);
        }
        for times in map.values_mut() {
            times.sort_unstable();
            times.dedup();
        }
        Ok(map)
    }

    /// The ops a command would perform (nothing is changed yet).
    fn plan(&self, command: &EditCommand) -> Result<Vec<EditOp>, EditError> {
        let mut ops = Vec::new();
        let mut keys_op = |track: usize, before: &[Key], after: Vec<Key>| {
            if before != after.as_slice() {
                ops.push(EditOp::Keys {
                    track,
                    before: before.to_vec(),
                    after,
                });
            }
        };
        match command {
            EditCommand::AddKey { track, key } => {
                if !finite(key) {
                    return Err(EditError::NotFinite);
                }
                let t = self.track(*track)?;
                let mut after = t.clone();
                after.insert_key(*key);
                keys_op(*track, &t.keys, after.keys);
            }
            EditCommand::DeleteKeys { keys } => {
                for (track, times) in self.by_track(keys)? {
                    let t = &self.clip.tracks[track];
                    let after = t
                        .keys
                        .iter()
                        .filter(|k| times.binary_search(&k.time_ms).is_err())
                        .copied()
                        .collect();
                    keys_op(track, &t.keys, after);
                }
            }
            EditCommand::MoveKeys {
                keys,
                dt_ms,
                dvalue,
            } => {
                if !dvalue.is_finite() {
                    return Err(EditError::NotFinite);
                }
                let groups = self.by_track(keys)?;
                // One shift for all keys, clamped so the earliest stays ≥ 0
                // and the latest fits in u32.
                let earliest = groups.values().filter_map(|v| v.first()).min().copied();
                let latest = groups.values().filter_map(|v| v.last()).max().copied();
                let (Some(earliest), Some(latest)) = (earliest, latest) else {
                    return Ok(ops);
                };
                let dt = (*dt_ms).clamp(
                    -i64::from(earliest),
                    i64::from(u32::MAX) - i64::from(latest),
                );
                for (track, times) in groups {
                    let t = &self.clip.tracks[track];
                    let (moved, rest): (Vec<Key>, Vec<Key>) = t
                        .keys
                        .iter()
                        .partition(|k| times.binary_search(&k.time_ms).is_ok());
                    let moved: Vec<Key> = moved
                        .into_iter()
                        .map(|mut k| {
                            k.time_ms = (i64::from(k.time_ms) + dt) as u32;
                            k.value += dvalue;
                            k
                        })
                        .collect();
                    let mut after: Vec<Key> = rest
                        .into_iter()
                        .filter(|k| !moved.iter().any(|m| m.time_ms == k.time_ms))
                        .collect();
                    after.extend(moved);
                    after.sort_by_key(|k| k.time_ms);
                    keys_op(track, &t.keys, after);
                }
            }
            EditCommand::SetInterpolation { keys, interp } => {
                for (track, times) in self.by_track(keys)? {
                    let t = &self.clip.tracks[track];
                    let after = t
                        .keys
                        .iter()
                        .map(|k| {
                            let mut k = *k;
                            if times.binary_search(&k.time_ms).is_ok() {
                                k.interp = *interp;
                            }
                            k
                        })
                        .collect();
                    keys_op(track, &t.keys, after);
                }
            }
            EditCommand::SetHandles {
                key,
                in_handle,
                out_handle,
            } => {
                let all = [
                    in_handle.dt_ms,
                    in_handle.dvalue,
                    out_handle.dt_ms,
                    out_handle.dvalue,
                ];
                if !all.iter().all(|v| v.is_finite()) {
                    return Err(EditError::NotFinite);
                }
                self.key(*key)?;
                let t = &self.clip.tracks[key.track];
                let mut after = t.keys.clone();
                if let Some(i) = t.key_at(key.time_ms) {
                    after[i].in_handle = *in_handle;
                    after[i].out_handle = *out_handle;
                }
                keys_op(key.track, &t.keys, after);
            }
            EditCommand::PasteKeys { track, time_ms } => {
                if self.clipboard.keys.is_empty() {
                    return Err(EditError::EmptyClipboard);
                }
                self.track(*track)?;
                let mut touched: BTreeMap<usize, Track> = BTreeMap::new();
                for ck in &self.clipboard.keys {
                    let dest = track + ck.track_offset;
                    let Some(t) = self.clip.tracks.get(dest) else {
                        continue;
                    };
                    let mut key = ck.key;
                    key.time_ms = time_ms.saturating_add(ck.rel_ms);
                    touched
                        .entry(dest)
                        .or_insert_with(|| t.clone())
                        .insert_key(key);
                }
                for (dest, after) in touched {
                    keys_op(dest, &self.clip.tracks[dest].keys, after.keys);
                }
            }
            EditCommand::AddTrack { target, index } => {
                if let TrackTarget::Channel(n) = target
                    && ChannelLayout::default_head().index(n).is_none()
                {
                    return Err(EditError::UnknownChannel(n.clone()));
                }
                if self.clip.track_index(target).is_some() {
                    return Err(EditError::DuplicateTrack(target.clone()));
                }
                let n = self.clip.tracks.len();
                let index = index.unwrap_or(n);
                if index > n {
                    return Err(EditError::NoTrack(index));
                }
                ops.push(EditOp::InsertTrack {
                    index,
                    track: Track::new(target.clone()),
                });
            }
            EditCommand::RemoveTrack { track } => {
                let t = self.track(*track)?;
                ops.push(EditOp::RemoveTrack {
                    index: *track,
                    track: t.clone(),
                });
            }
            EditCommand::SetDuration { duration_ms } => {
                if *duration_ms != self.clip.duration_ms {
                    ops.push(EditOp::Duration {
                        before: self.clip.duration_ms,
                        after: *duration_ms,
                    });
                }
            }
        }
        Ok(ops)
    }
}

fn finite(k: &Key) -> bool {
    [
        k.value,
        k.in_handle.dt_ms,
        k.in_handle.dvalue,
        k.out_handle.dt_ms,
        k.out_handle.dvalue,
    ]
    .iter()
    .all(|v| v.is_finite())
}

fn forward(clip: &mut Clip, op: &EditOp) {
    match op {
        EditOp::Keys { track, after, .. } => {
            if let Some(t) = clip.tracks.get_mut(*track) {
                t.keys.clone_from(after);
            }
        }
        EditOp::InsertTrack { index, track } => clip.tracks.insert(*index, track.clone()),
        EditOp::RemoveTrack { index, .. } => {
            clip.tracks.remove(*index);
        }
        EditOp::Duration { after, .. } => clip.duration_ms = *after,
    }
}

fn backward(clip: &mut Clip, op: &EditOp) {
    match op {
        EditOp::Keys { track, before, .. } => {
            if let Some(t) = clip.tracks.get_mut(*track) {
                t.keys.clone_from(before);
            }
        }
        EditOp::InsertTrack { index, .. } => {
            clip.tracks.remove(*index);
        }
        EditOp::RemoveTrack { index, track } => clip.tracks.insert(*index, track.clone()),
        EditOp::Duration { before, .. } => clip.duration_ms = *before,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn editor() -> Editor {
        let mut clip = Clip::new("e", 1000);
        clip.tracks.push(Track {
            target: TrackTarget::Channel("jaw".into()),
            keys: vec![Key::new(0, 0.0), Key::new(100, 0.5), Key::new(200, 0.0)],
        });
        clip.tracks.push(Track {
            target: TrackTarget::Au("AU12".into()),
            keys: vec![Key::new(50, 0.2), Key::new(150, 0.9)],
        });
        Editor::new(clip)
    }

    /// Applies a command, checks undo restores the clip and redo re-applies it.
    fn round_trip(e: &mut Editor, cmd: EditCommand) {
        let before = e.clip.clone();
        assert!(e.apply(cmd.clone()).unwrap(), "{cmd:?} changed nothing");
        let after = e.clip.clone();
        assert_ne!(before, after);
        assert!(e.undo());
        assert_eq!(e.clip, before, "undo of {cmd:?}");
        assert!(e.redo());
        assert_eq!(e.clip, after, "redo of {cmd:?}");
    }

    #[test]
    fn every_edit_kind_undoes_and_redoes() {
        let mut e = editor();
        round_trip(
            &mut e,
            EditCommand::AddKey {
                track: 0,
                key: Key::new(150, 0.7),
            },
        );
        round_trip(
            &mut e,
            EditCommand::AddKey {
                track: 0,
                key: Key::new(100, 0.9),
            },
        );
        round_trip(
            &mut e,
            EditCommand::DeleteKeys {
                keys: vec![KeyId::new(0, 0), KeyId::new(1, 150)],
            },
        );
        round_trip(
            &mut e,
            EditCommand::MoveKeys {
                keys: vec![KeyId::new(0, 100)],
                dt_ms: 50,
                dvalue: 0.1,
            },
        );
        round_trip(
            &mut e,
            EditCommand::SetInterpolation {
                keys: vec![KeyId::new(0, 150)],
                interp: Interpolation::Bezier,
            },
        );
        round_trip(
            &mut e,
            EditCommand::SetHandles {
                key: KeyId::new(0, 150),
                in_handle: Handle::new(-10.0, 0.0),
                out_handle: Handle::new(20.0, 0.3),
            },
        );
        assert_eq!(
            e.copy(&[KeyId::new(0, 150), KeyId::new(0, 200)]).unwrap(),
            2
        );
        round_trip(
            &mut e,
            EditCommand::PasteKeys {
                track: 1,
                time_ms: 400,
            },
        );
        round_trip(
            &mut e,
            EditCommand::AddTrack {
                target: TrackTarget::Channel("mentalis".into()),
                index: Some(1),
            },
        );
        round_trip(&mut e, EditCommand::RemoveTrack { track: 0 });
        round_trip(&mut e, EditCommand::SetDuration { duration_ms: 2000 });
    }

    #[test]
    fn move_overwrites_and_clamps_at_zero() {
        let mut e = editor();
        // Moving 100 ms key onto 200 ms replaces the key there.
        e.apply(EditCommand::MoveKeys {
            keys: vec![KeyId::new(0, 100)],
            dt_ms: 100,
            dvalue: 0.0,
        })
        .unwrap();
        assert_eq!(
            e.clip.tracks[0].keys,
            vec![Key::new(0, 0.0), Key::new(200, 0.5)]
        );
        // Moving far left clamps so the earliest selected key lands at 0,
        // spacing kept.
        let mut e = editor();
        e.apply(EditCommand::MoveKeys {
            keys: vec![KeyId::new(0, 100), KeyId::new(0, 200)],
            dt_ms: -500,
            dvalue: 0.0,
        })
        .unwrap();
        let times: Vec<u32> = e.clip.tracks[0].keys.iter().map(|k| k.time_ms).collect();
        assert_eq!(times, vec![0, 100]);
        assert_eq!(e.clip.tracks[0].keys[0].value, 0.5);
    }

    #[test]
    fn refused_commands_change_nothing() {
        let mut e = editor();
        let before = e.clone();
        assert_eq!(
            e.apply(EditCommand::DeleteKeys {
                keys: vec![KeyId::new(0, 0), KeyId::new(0, 7)],
            }),
            Err(EditError::NoKey(KeyId::new(0, 7)))
        );
        assert_eq!(
            e.apply(EditCommand::RemoveTrack { track: 9 }),
            Err(EditError::NoTrack(9))
        );
        assert_eq!(
            e.apply(EditCommand::PasteKeys {
                track: 0,
                time_ms: 0
            }),
            Err(EditError::EmptyClipboard)
        );
        assert_eq!(
            e.apply(EditCommand::AddKey {
                track: 0,
                key: Key::new(5, f32::NAN),
            }),
            Err(EditError::NotFinite)
        );
        assert!(matches!(
            e.apply(EditCommand::AddTrack {
                target: TrackTarget::Channel("nose".into()),
                index: None,
            }),
            Err(EditError::UnknownChannel(_))
        ));
        assert!(matches!(
            e.apply(EditCommand::AddTrack {
                target: TrackTarget::Au("AU12".into()),
                index: None,
            }),
            Err(EditError::DuplicateTrack(_))
        ));
        assert_eq!(e, before);
        // A no-op is not recorded.
        assert_eq!(
            e.apply(EditCommand::SetDuration { duration_ms: 1000 }),
            Ok(false)
        );
        assert!(!e.can_undo());
    }

    #[test]
    fn new_edit_clears_redo() {
        let mut e = editor();
        e.apply(EditCommand::SetDuration { duration_ms: 5 })
            .unwrap();
        e.undo();
        assert!(e.can_redo());
        e.apply(EditCommand::SetDuration { duration_ms: 6 })
            .unwrap();
        assert!(!e.can_redo());
        assert!(!e.redo());
    }
}
