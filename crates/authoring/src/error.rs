//! Errors loading and saving the authoring files (RON).

use std::path::Path;

/// An error reading, parsing, validating or writing one of the authoring
/// files (`*.au.ron`, `*.expr.ron`, `*.clip.ron`, `arkit_to_au.ron`).
///
/// Every variant names the file (`path`, or the origin string given to a
/// `from_ron_str` function); parse and validation errors also name the line
/// and column (1-based) where the problem is. Validation errors point at the
/// first occurrence of the offending quoted name in the text.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Ron {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: unknown channel \"{name}\" (not one of the head's channels)")]
    UnknownChannel {
        path: String,
        line: usize,
        column: usize,
        name: String,
    },
    #[error("{path}:{line}:{column}: unknown action unit \"{name}\"")]
    UnknownAu {
        path: String,
        line: usize,
        column: usize,
        name: String,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: cannot serialise: {message}")]
    Serialize { path: String, message: String },
}

facetwin_ronfile::impl_from_ron_error!(FileError::Ron { path });

impl FileError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn unknown_channel(origin: &str, text: &str, name: &str) -> Self {
        let (line, column) = locate(text, name);
        Self::UnknownChannel {
            path: origin.into(),
            line,
            column,
            name: name.into(),
        }
    }

    pub(crate) fn unknown_au(origin: &str, text: &str, name: &str) -> Self {
        let (line, column) = locate(text, name);
        Self::UnknownAu {
            path: origin.into(),
            line,
            column,
            name: name.into(),
        }
    }

    /// A validation error located at the first occurrence of `"token"`
    /// (or at 1:1 when the token is not in the text).
    pub(crate) fn invalid(origin: &str, text: &str, token: &str, message: String) -> Self {
        let (line, column) = locate(text, token);
        Self::Invalid {
            path: origin.into(),
            line,
            column,
            message,
        }
    }
}

/// 1-based line and column (in characters) of the first occurrence of
/// `"needle"` (quoted) in `text`, else of `needle` unquoted, else (1, 1).
pub(crate) fn locate(text: &str, needle: &str) -> (usize, usize) {
    facetwin_ronfile::find_quoted(text, needle)
        .or_else(|| {
            let byte = (!needle.is_empty()).then(|| text.find(needle)).flatten()?;
            Some(facetwin_ronfile::line_col(text, byte))
        })
        .unwrap_or((1, 1))
}

/// Reads a whole text file.
pub(crate) fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))
}

/// Writes a whole text file.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), FileError> {
    std::fs::write(path, text).map_err(|e| FileError::io(path, e))
}

/// Pretty RON with one-line leaves below `depth` levels of nesting.
pub(crate) fn to_ron<T: serde::Serialize>(
    value: &T,
    depth: usize,
    origin: &str,
) -> Result<String, FileError> {
    let config = ron::ser::PrettyConfig::new()
        .depth_limit(depth)
        .struct_names(false)
        .separate_tuple_members(false);
    let mut text = ron::ser::to_string_pretty(value, config).map_err(|e| FileError::Serialize {
        path: origin.into(),
        message: e.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::locate;

    #[test]
    fn locate_finds_quoted_names() {
        let text = "(\n  a: \"x\",\n    b: \"needle\",\n)";
        assert_eq!(locate(text, "needle"), (3, 8));
        assert_eq!(locate(text, "absent"), (1, 1));
    }
}
