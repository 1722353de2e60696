//! Reports: JUnit XML (one test case per expectation) and JSON.

use crate::error::SceneError;
use crate::result::{SceneResult, Status};
use facetwin_ronfile::json_str;
use std::fmt::Write as _;

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn json_f64(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

/// JUnit XML: a test suite per scene, a test case per expectation (failures carry the message,
/// skipped ones are marked skipped); a scene whose run failed, or a file that did not load, is
/// a test case with an error.
pub fn junit_xml(results: &[SceneResult], errors: &[SceneError]) -> String {
    let mut tests = 0;
    let mut failures = 0;
    let mut skipped = 0;
    let mut errs = errors.len();
    for r in results {
        tests += r.outcomes.len().max(1);
        failures += r.failures().count();
        skipped += r
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Skipped)
            .count();
        errs += usize::from(r.error.is_some());
    }
    tests += errors.len();
    let total_time: f64 = results.iter().map(|r| r.wall_s).sum();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"facetwin scenes\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errs}\" skipped=\"{skipped}\" time=\"{total_time:.3}\">"
    );
    for r in results {
        let class = format!("scenes.{}", r.name);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" \
             skipped=\"{}\" time=\"{:.3}\">",
            xml(&r.name),
            xml(&r.path),
            r.outcomes.len().max(1),
            r.failures().count(),
            usize::from(r.error.is_some()),
            r.outcomes
                .iter()
                .filter(|o| o.status == Status::Skipped)
                .count(),
            r.wall_s
        );
        out.push_str("    <properties>\n");
        for (k, v) in [
            ("telemetry_hash", format!("{:#018x}", r.telemetry_hash)),
            ("telemetry_frames", r.telemetry_frames.to_string()),
            ("sim_s", format!("{:.3}", r.sim_s)),
            ("realtime_factor", format!("{:.1}", r.realtime_factor)),
        ] {
            let _ = writeln!(out, "      <property name=\"{k}\" value=\"{v}\"/>");
        }
        out.push_str("    </properties>\n");
        if let Some(e) = &r.error {
            let _ = writeln!(
                out,
                "    <testcase name=\"run\" classname=\"{}\" file=\"{}\">\n      <error \
                 message=\"{}\"/>\n    </testcase>",
                xml(&class),
                xml(&r.path),
                xml(e)
            );
        } else if r.outcomes.is_empty() {
            let _ = writeln!(
                out,
                "    <testcase name=\"run\" classname=\"{}\" file=\"{}\"/>",
                xml(&class),
                xml(&r.path)
            );
        }
        for (i, o) in r.outcomes.iter().enumerate() {
            let name = format!("{}: {}", i + 1, o.label);
            let head = format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"",
                xml(&name),
                xml(&class),
                xml(&r.path)
            );
            match o.status {
                Status::Pass => {
                    let _ = writeln!(
                        out,
                        "{head}>\n      <system-out>{}</system-out>\n    </testcase>",
                        xml(&o.message)
                    );
                }
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        "{head}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    \
                         </testcase>",
                        xml(&o.message),
                        xml(o.label.split('(').next().unwrap_or("expectation")),
                        xml(&format!("{}: {}", o.label, o.message))
                    );
                }
                Status::Skipped => {
                    let _ = writeln!(
                        out,
                        "{head}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(&o.message)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    for e in errors {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" \
             skipped=\"0\" time=\"0\">\n    <testcase name=\"load\" classname=\"scenes\" \
             file=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>",
            xml(e.path()),
            xml(e.path()),
            xml(e.path()),
            xml(&e.to_string())
        );
    }
    out.push_str("</testsuites>\n");
    out
}

/// JSON: `{"passed": n, "failed": m, "scenes": [...], "errors": [...]}`.
pub fn json(results: &[SceneResult], errors: &[SceneError]) -> String {
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed + errors.len();
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\n  \"passed\": {passed},\n  \"failed\": {failed},\n  \"scenes\": ["
    );
    for (i, r) in results.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(
            out,
            "    {{\n      \"path\": {},\n      \"name\": {},\n      \"passed\": {},\n      \
             \"error\": {},\n      \"telemetry_hash\": \"{:#018x}\",\n      \
             \"telemetry_frames\": {},\n      \"sim_s\": {},\n      \"wall_s\": {},\n      \
             \"realtime_factor\": {},\n      \"expectations\": [",
            json_str(&r.path),
            json_str(&r.name),
            r.passed(),
            r.error.as_deref().map_or_else(|| "null".into(), json_str),
            r.telemetry_hash,
            r.telemetry_frames,
            json_f64(r.sim_s),
            json_f64(r.wall_s),
            json_f64(r.realtime_factor),
        );
        for (j, o) in r.outcomes.iter().enumerate() {
            out.push_str(if j == 0 { "\n" } else { ",\n" });
            let _ = write!(
                out,
                "        {{\"label\": {}, \"status\": \"{}\", \"message\": {}, \"at_s\": {}}}",
                json_str(&o.label),
                o.status.as_str(),
                json_str(&o.message),
                o.at_s.map_or_else(|| "null".into(), json_f64)
            );
        }
        out.push_str(if r.outcomes.is_empty() {
            "]\n    }"
        } else {
            "\n      ]\n    }"
        });
    }
    out.push_str(if results.is_empty() {
        "],\n  \"errors\": ["
    } else {
        "\n  ],\n  \"errors\": ["
    });
    for (i, e) in errors.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let (line, column) = e
            .position()
            .map_or(("null".into(), "null".into()), |(l, c)| {
                (l.to_string(), c.to_string())
            });
        let _ = write!(
            out,
            "    {{\"path\": {}, \"line\": {line}, \"column\": {column}, \"message\": {}}}",
            json_str(e.path()),
            json_str(&e.to_string())
        );
    }
    out.push_str(if errors.is_empty() {
        "]\n}\n"
    } else {
        "\n  ]\n}\n"
    });
    out
}
