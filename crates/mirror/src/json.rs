//! A few hand-written JSON helpers (the crate keeps serde_json out of its tree).

use facetwin_protocol::{Telemetry, q15_to_norm};
use facetwin_ronfile::push_json_str;
use std::fmt::Write as _;

/// Appends a finite float; non-finite values (never produced from wire data) become `null`.
pub(crate) fn push_f32(out: &mut String, v: f32) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

fn push_array<T: Copy>(
    out: &mut String,
    key: &str,
    items: &[T],
    mut f: impl FnMut(&mut String, T),
) {
    out.push(',');
    push_json_str(out, key);
    out.push_str(":[");
    for (i, &v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, v);
    }
    out.push(']');
}

/// One telemetry frame as a flat JSON object with per-channel arrays, so Foxglove's plot panel
/// can address e.g. `/facetwin/telemetry_json.position[12]` without a custom decoder.
pub(crate) fn telemetry(seq: u8, t: &Telemetry) -> String {
    let ch = t.channels();
    let mut out = String::with_capacity(64 + ch.len() * 48);
    let _ = write!(
        out,
        "{{\"seq\":{seq},\"head_time_us\":{},\"torque_mask\":{},\"status\":{},\"count\":{}",
        t.head_time_us, t.torque_mask, t.status, t.count
    );
    let pos: Vec<f32> = ch.iter().map(|c| q15_to_norm(c.position_q15)).collect();
    push_array(&mut out, "position", &pos, push_f32);
    let vel: Vec<f32> = ch.iter().map(|c| c.velocity_norm_s()).collect();
    push_array(&mut out, "velocity", &vel, push_f32);
    let cur: Vec<i16> = ch.iter().map(|c| c.current_ma).collect();
    push_array(&mut out, "current_ma", &cur, |o, v| {
        let _ = write!(o, "{v}");
    });
    let temp: Vec<f32> = ch.iter().map(|c| c.temperature_c()).collect();
    push_array(&mut out, "temperature_c", &temp, push_f32);
    let faults: Vec<u8> = ch.iter().map(|c| c.faults).collect();
    push_array(&mut out, "faults", &faults, |o, v| {
        let _ = write!(o, "{v}");
    });
    let torque: Vec<bool> = (0..ch.len())
        .map(|i| i < 32 && t.torque_mask & (1 << i) != 0)
        .collect();
    push_array(&mut out, "torque", &torque, |o, v| {
        o.push_str(if v { "true" } else { "false" });
    });
    out.push('}');
    out
}

/// JSON Schema of [`telemetry`]'s objects.
pub(crate) const TELEMETRY_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "facetwin telemetry (decoded from protocol v1 Telemetry, docs/PROTOCOL.md section 10.2)",
  "type": "object",
  "properties": {
    "seq": { "type": "integer", "description": "head's frame sequence number" },
    "head_time_us": { "type": "integer", "description": "head clock, microseconds since power-up (wraps)" },
    "torque_mask": { "type": "integer" },
    "status": { "type": "integer", "description": "status bits: 1 estop, 2 watchdog tripped, 4 host connected" },
    "count": { "type": "integer" },
    "position": { "type": "array", "items": { "type": "number" }, "description": "measured position per channel, normalised travel" },
    "velocity": { "type": "array", "items": { "type": "number" }, "description": "travel per second" },
    "current_ma": { "type": "array", "items": { "type": "integer" }, "description": "motor current, mA, signed" },
    "temperature_c": { "type": "array", "items": { "type": "number" }, "description": "winding temperature, degrees C" },
    "faults": { "type": "array", "items": { "type": "integer" }, "description": "latched fault bits (1 overheat, 2 stall, 4 encoder, 8 no-load, 16 power, 32 following, 64 watchdog, 128 estop)" },
    "torque": { "type": "array", "items": { "type": "boolean" } }
  }
}"#;

/// JSON Schema of the event objects.
pub(crate) const EVENT_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "facetwin session event",
  "type": "object",
  "properties": {
    "kind": { "type": "string", "description": "note, link, fault, alarm, ..." },
    "text": { "type": "string" },
    "channel": { "type": "integer" },
    "faults": { "type": "integer" }
  },
  "required": ["kind", "text"]
}"#;

/// An event object: `{"kind":..., "text":..., "channel":..., "faults":...}`.
pub(crate) fn event(kind: &str, text: &str, channel: Option<u8>, faults: Option<u8>) -> String {
    let mut out = String::with_capacity(32 + text.len());
    out.push_str("{\"kind\":");
    push_json_str(&mut out, kind);
    out.push_str(",\"text\":");
    push_json_str(&mut out, text);
    if let Some(c) = channel {
        let _ = write!(out, ",\"channel\":{c}");
    }
    if let Some(f) = faults {
        let _ = write!(out, ",\"faults\":{f}");
    }
    out.push('}');
    out
}

/// Reads back the `"text"` field of an event object written by [`event`] (enough for replay
/// display; not a general JSON parser).
pub(crate) fn event_text(json: &str) -> Option<String> {
    let start = json.find("\"text\":\"")? + 8;
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(code)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Reads back the `"kind"` field of an event object written by [`event`].
pub(crate) fn event_kind(json: &str) -> Option<&str> {
    let start = json.find("\"kind\":\"")? + 8;
    let end = json[start..].find('"')?;
    Some(&json[start..start + end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_read_back() {
        let s = "quote \" back \\ nl \n tab \t bell \u{7} ünï";
        let e = event("note", s, Some(3), None);
        assert!(e.starts_with("{\"kind\":\"note\",\"text\":\"quote \\\" back"));
        assert!(e.contains("\\u0007"));
        assert!(e.ends_with(",\"channel\":3}"));
        assert_eq!(event_text(&e).as_deref(), Some(s));
        assert_eq!(event_kind(&e), Some("note"));
    }
}
