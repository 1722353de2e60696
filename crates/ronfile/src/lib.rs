//! Small helpers shared by the crates that read text files.
//!
//! - RON deserialisation whose errors name the source as `origin:line:column: message`
//!   ([`from_str`], [`from_str_with`], [`RonError`]); each crate converts [`RonError`] into its
//!   own error enum with [`impl_from_ron_error!`].
//! - 1-based line / column of a byte offset or of a quoted name in a text ([`line_col`],
//!   [`find_quoted`]), for validation errors that point at the offending name.
//! - JSON string literals for the hand-written JSON writers ([`push_json_str`], [`json_str`]).

use std::fmt::Write as _;

/// A RON syntax or type error, located in its source. Displays as `origin:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct RonError {
    /// Where the text came from (usually the file path), as given by the caller.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What went wrong (the RON error without its position).
    pub message: String,
}

impl RonError {
    /// Locates `e`, a RON error in the text named `origin`.
    pub fn new(origin: &str, e: &ron::error::SpannedError) -> Self {
        Self {
            origin: origin.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        }
    }
}

/// Implements `From<RonError>` for a crate's error enum, filling its RON variant's fields
/// `{ <origin field>, line, column, message }`, so that `?` converts the error:
///
/// ```
/// #[derive(Debug)]
/// enum ConfigError {
///     Ron { path: String, line: usize, column: usize, message: String },
/// }
/// facetwin_ronfile::impl_from_ron_error!(ConfigError::Ron { path });
///
/// fn parse(text: &str) -> Result<(u8, u8), ConfigError> {
///     Ok(facetwin_ronfile::from_str(text, "pair.ron")?)
/// }
/// assert!(matches!(parse("(1,\n x)"), Err(ConfigError::Ron { line: 2, .. })));
/// ```
#[macro_export]
macro_rules! impl_from_ron_error {
    ($error:ident :: $variant:ident { $origin:ident }) => {
        impl ::core::convert::From<$crate::RonError> for $error {
            fn from(e: $crate::RonError) -> Self {
                Self::$variant {
                    $origin: e.origin,
                    line: e.line,
                    column: e.column,
                    message: e.message,
                }
            }
        }
    };
}

/// Deserialises RON `text` with the default options; errors name `origin:line:column`.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, RonError> {
    ron::from_str(text).map_err(|e| RonError::new(origin, &e))
}

/// Deserialises RON `text` with `options` (e.g. implicit `Some`); errors name
/// `origin:line:column`.
pub fn from_str_with<T: serde::de::DeserializeOwned>(
    options: &ron::Options,
    text: &str,
    origin: &str,
) -> Result<T, RonError> {
    options
        .from_str(text)
        .map_err(|e| RonError::new(origin, &e))
}

/// 1-based line and column (in characters) of byte offset `byte` in `text`.
///
/// `byte` must lie on a character boundary (as returned by [`str::find`]).
pub fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// 1-based line and column of the first `"name"` (quoted) in `text`, if any.
pub fn find_quoted(text: &str, name: &str) -> Option<(usize, usize)> {
    text.find(&format!("\"{name}\""))
        .map(|at| line_col(text, at))
}

/// Appends `s` as a JSON string literal (quotes included), escaping `"`, `\` and control
/// characters.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a JSON string literal (quotes included); see [`push_json_str`].
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Point {
        x: f32,
        #[expect(dead_code, reason = "only deserialised")]
        y: Option<f32>,
    }

    #[test]
    fn ron_errors_name_origin_line_and_column() {
        let e = from_str::<Point>("(\n  x: 1.0,\n  z: 2.0,\n)", "a.ron").unwrap_err();
        assert_eq!((e.origin.as_str(), e.line, e.column), ("a.ron", 3, 3));
        assert!(e.to_string().starts_with("a.ron:3:3: "), "{e}");
        assert!(!e.message.is_empty());
    }

    #[test]
    fn options_are_used() {
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let p: Point = from_str_with(&options, "(x: 1.0, y: 2.0)", "<string>").unwrap();
        assert_eq!(p.x, 1.0);
        assert!(from_str::<Point>("(x: 1.0, y: 2.0)", "<string>").is_err());
    }

    #[test]
    fn names_are_located_in_characters() {
        let text = "(\n  a: \"x\",\n    b: \"ünï\", c: \"needle\",\n)";
        assert_eq!(find_quoted(text, "needle"), Some((3, 18)));
        assert_eq!(find_quoted(text, "absent"), None);
        assert_eq!(line_col(text, 0), (1, 1));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_str(&mut out, "q \" b \\ n \n t \t r \r bell \u{7} ü");
        assert_eq!(out, r#""q \" b \\ n \n t \t r \r bell \u0007 ü""#);
        assert_eq!(json_str("a\"b"), r#""a\"b""#);
    }
}
