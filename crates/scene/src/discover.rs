//! Which scene files a command line names: files, folders (their `*.ron`), and `*` / `?`
//! patterns (expanded here, for shells that pass them through quoted); sharding.

use crate::error::SceneError;
use std::path::{Path, PathBuf};

/// True when `name` matches `pattern` (`*`: any run of characters, `?`: one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Expands a pattern component by component.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &current {
            if has_wildcard(comp) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                for e in sorted_entries(dir) {
                    let Some(name) = e.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if wildcard_match(comp, name) {
                        next.push(base.join(name));
                    }
                }
            } else {
                let p = base.join(comp);
                if p.exists() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    current
}

/// The scene files `inputs` name, sorted and without duplicates. A folder contributes the
/// `*.ron` files directly in it.
pub fn discover(inputs: &[String]) -> Result<Vec<PathBuf>, SceneError> {
    let mut out = Vec::new();
    for input in inputs {
        let matches = if has_wildcard(input) {
            glob(input)
        } else {
            vec![PathBuf::from(input)]
        };
        let before = out.len();
        for p in matches {
            if p.is_dir() {
                out.extend(
                    sorted_entries(&p)
                        .into_iter()
                        .filter(|e| e.is_file() && e.extension().is_some_and(|x| x == "ron")),
                );
            } else if p.is_file() {
                out.push(p);
            } else {
                return Err(SceneError::NoScenes(format!(
                    "{}: no such file or folder",
                    p.display()
                )));
            }
        }
        if out.len() == before {
            return Err(SceneError::NoScenes(format!(
                "{input}: names no scene file"
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parses `I/N` (1-based shard I of N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("shard `{s}`: expected I/N, e.g. 1/4"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("shard `{s}`: I is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("shard `{s}`: N is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard `{s}`: need 1 <= I <= N"));
    }
    Ok((i, n))
}

/// Shard `index` (1-based) of `count` of a sorted list: every `count`-th item starting at
/// `index - 1`. The shards are disjoint and together cover the list.
pub fn shard<T>(items: Vec<T>, index: usize, count: usize) -> Vec<T> {
    items
        .into_iter()
        .enumerate()
        .filter(|(k, _)| count > 0 && k % count == index.wrapping_sub(1))
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.ron", "smile.ron"));
        assert!(wildcard_match("s*e.ron", "smile.ron"));
        assert!(wildcard_match("?mile.ron", "smile.ron"));
        assert!(!wildcard_match("*.ron", "smile.ron.bak"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "ac"));
    }

    #[test]
    fn shards_partition_the_list() {
        let items: Vec<u32> = (0..10).collect();
        let mut all: Vec<u32> = (1..=3).flat_map(|i| shard(items.clone(), i, 3)).collect();
        all.sort();
        assert_eq!(all, items);
        assert_eq!(shard(items, 1, 3), vec![0, 3, 6, 9]);
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
    }
}
