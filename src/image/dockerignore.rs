//! `.dockerignore`, as the Docker CLI reads it: one pattern per line, `#` comments, `!` to
//! re-include, `**` across folders, `*` within one; the last matching line decides, and a
//! pattern that matches a folder also matches everything in it.
//!
//! Written on `globset` because no maintained crate implements Docker's exact rules (the
//! `ignore` crate follows `.gitignore`, which differs: unanchored patterns, no parent matching).

use globset::GlobMatcher;

pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for line in text.lines() {
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
                .map_err(|e| format!("bad .dockerignore pattern '{line}': {e}"))?;
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
    fn last_matching_line_wins() {
        let ignore = DockerIgnore::parse("*.md\n!README.md\nREADME.md\n").unwrap();
        assert!(ignore.excludes("README.md"));
    }
}
