//! Errors loading scene files.

/// Why a scene file could not be used. The message names the file and, where known, the line
/// and column (1-based).
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not valid RON for a scene.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parses but makes no sense (unknown channel or pose, times out of range, ...).
    #[error("{path}{}: {message}", location(.at))]
    Invalid {
        path: String,
        /// Line and column of the offending name when it could be located.
        at: Option<(usize, usize)>,
        message: String,
    },
    /// A path or pattern on the command line that names no scene.
    #[error("{0}")]
    NoScenes(String),
}

facetwin_ronfile::impl_from_ron_error!(SceneError::Parse { path });

fn location(at: &Option<(usize, usize)>) -> String {
    at.map_or_else(String::new, |(l, c)| format!(":{l}:{c}"))
}

impl SceneError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Io { path, .. } | Self::Parse { path, .. } | Self::Invalid { path, .. } => path,
            Self::NoScenes(p) => p,
        }
    }

    /// Line and column, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Parse { line, column, .. } => Some((*line, *column)),
            Self::Invalid { at, .. } => *at,
            _ => None,
        }
    }
}
