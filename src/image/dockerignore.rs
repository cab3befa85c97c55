//! `.dockerignore`, as the Docker CLI reads it: one pattern per line, `#` comments, `!` to
//! re-include, `**` across folders, `*` within one; the last matching line decides, and a
//! pattern that matches a folder also matches everything in it.
//!
//! Written on `globset` because no maintained crate implements Docker's exact rules (the
//! `ignore` crate follows `.gitignore`, which differs: unanchored patterns, no parent matching).

use std::io::Read;
use std::path::Path;

use globset::GlobMatcher;

/// The largest `.dockerignore` read: real ones are a few hundred bytes.
pub const MAX_BYTES: u64 = 1 << 20;

pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// The context's `.dockerignore`, read through its resolved path, which must stay inside
    /// the context: a symlink out of it would let a file elsewhere decide what is sent. At most
    /// [`MAX_BYTES`]; none when the context has none.
    pub fn read(context: &Path) -> Result<Self, String> {
        let path = context.join(".dockerignore");
        if std::fs::symlink_metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            return Ok(Self::empty());
        }
        let cannot = |e: std::io::Error| format!("the context's .dockerignore cannot be read: {e}");
        let real = path.canonicalize().map_err(cannot)?;
        let root = context.canonicalize().map_err(cannot)?;
        if !real.starts_with(&root) || !real.is_file() {
            return Err(
                "the context's .dockerignore is a symlink to outside the context (or not a \
                 file); make it a file of the context"
                    .to_string(),
            );
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&real)
            .and_then(|file| file.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(cannot)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(format!(
                "the context's .dockerignore is larger than {} KiB",
                MAX_BYTES / 1024
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| "the context's .dockerignore is not UTF-8 text".to_string())?;
        Self::parse(&text)
    }

    /// The lines of a `.dockerignore`. A bad line is named by its number, never shown: its text
    /// is the repository's, and the log is read by the runner as commands.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, include) = match line.strip_prefix('!') {
                Some(rest) => (rest.trim(), true),
                None => (line, false),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| {
                    format!(
                        "line {} of the context's .dockerignore is not a valid pattern ({})",
                        index + 1,
                        e.kind()
                    )
                })?;
            rules.push((glob.compile_matcher(), include));
        }
        Ok(Self { rules })
    }

    pub fn empty() -> Self {
        Self { rules: Vec::new() }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (glob, include) in &self.rules {
            if matches_or_parent(glob, path) {
                excluded = !include;
            }
        }
        excluded
    }

    /// Whether any `!` line could bring back something inside an excluded folder.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(_, include)| *include)
    }
}

fn matches_or_parent(glob: &GlobMatcher, path: &str) -> bool {
    if glob.is_match(path) {
        return true;
    }
    let mut prefix = path;
    while let Some((parent, _)) = prefix.rsplit_once('/') {
        if glob.is_match(parent) {
            return true;
        }
        prefix = parent;
    }
    false
}

/// Like Go's `filepath.Clean` on a pattern, without a leading `/` or `./`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_globs_and_exceptions() {
        let ignore = DockerIgnore::parse(
            "# comment\n/target\nnode_modules\n*.log\n**/secret.txt\ndocs/*\n!docs/keep.md\n",
        )
        .unwrap();
        assert!(ignore.excludes("target"));
        assert!(ignore.excludes("target/debug/app"));
        assert!(ignore.excludes("node_modules/x/index.js"));
        assert!(ignore.excludes("error.log"));
        assert!(
            !ignore.excludes("logs/error.log"),
            "* stays within one folder"
        );
        assert!(ignore.excludes("a/b/secret.txt"));
        assert!(ignore.excludes("secret.txt"));
        assert!(ignore.excludes("docs/other.md"));
        assert!(!ignore.excludes("docs/keep.md"));
        assert!(!ignore.excludes("src/main.rs"));
        assert!(ignore.has_exceptions());
    }

    #[test]
    fn a_bad_line_is_named_by_its_number_not_shown() {
        let error = DockerIgnore::parse("target\n[\n::error::x[\n")
            .err()
            .unwrap();
        assert!(
            error.starts_with("line 2 of the context's .dockerignore"),
            "{error}"
        );
        assert!(!error.contains("::"), "{error}");
    }

    #[test]
    fn read_stays_in_the_context_and_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("app");
        std::fs::create_dir(&context).unwrap();
        assert!(DockerIgnore::read(&context).is_ok_and(|i| !i.excludes("x")));
        std::fs::write(dir.path().join("outside"), "x\n").unwrap();
        std::os::unix::fs::symlink("../outside", context.join(".dockerignore")).unwrap();
        let error = DockerIgnore::read(&context).err().unwrap();
        assert!(error.contains("outside the context"), "{error}");
        std::fs::remove_file(context.join(".dockerignore")).unwrap();
        let big = "x\n".repeat(MAX_BYTES as usize / 2 + 1);
        std::fs::write(context.join(".dockerignore"), big).unwrap();
        let error = DockerIgnore::read(&context).err().unwrap();
        assert!(error.contains("larger than 1024 KiB"), "{error}");
        std::fs::write(context.join(".dockerignore"), "x\n").unwrap();
        assert!(DockerIgnore::read(&context).is_ok_and(|i| i.excludes("x")));
    }

    #[test]
    fn last_matching_line_wins() {
        let ignore = DockerIgnore::parse("*.md\n!README.md\nREADME.md\n").unwrap();
        assert!(ignore.excludes("README.md"));
    }
}
