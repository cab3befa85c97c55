//! What a Dockerfile builds from: the images its stages start from (`FROM`), copy from
//! (`COPY --from`, `ADD --from`, `RUN --mount=...,from=`) and the frontend its `# syntax=`
//! directive names. These are what the build key pins by digest: a moved tag behind
//! `FROM node:22` must change the key, or a base's security update would never be built.
//!
//! A stage that names an earlier stage is not a base, nor is `scratch`. Names are expanded with
//! the global `ARG`s (those before the first `FROM`), the build's `build-args` and the
//! platform arguments BuildKit predefines (`TARGETARCH`, ...), as BuildKit does. Only what
//! decides the image names is read: this is not a Dockerfile parser.
//!
//! An `ADD` of a URL or a git repository is an input no digest pins before the build (what the
//! URL serves can change under the same Dockerfile): it makes the build not reusable.

use std::collections::HashMap;

use crate::oci::Platform;

/// The arguments BuildKit defines for every build: the target's and the builder's platform.
pub fn platform_args(target: &Platform, build: &Platform) -> Vec<(String, String)> {
    let mut args = Vec::new();
    for (prefix, platform) in [("TARGET", target), ("BUILD", build)] {
        args.push((format!("{prefix}PLATFORM"), platform.to_string()));
        args.push((format!("{prefix}OS"), platform.os.clone()));
        args.push((format!("{prefix}ARCH"), platform.architecture.clone()));
        args.push((
            format!("{prefix}VARIANT"),
            platform.variant.clone().unwrap_or_default(),
        ));
    }
    args
}

/// The images `dockerfile` names, in order, each once. An error says why they cannot be
/// known before the build (an empty name after expansion, a remote `ADD`).
pub fn bases(
    dockerfile: &str,
    build_args: &[(String, String)],
    predefined: &[(String, String)],
) -> Result<Vec<String>, String> {
    let dockerfile = dockerfile.trim_start_matches('\u{feff}');
    let (directives, body) = directives(dockerfile);
    let escape = directives
        .get("escape")
        .and_then(|e| e.chars().next())
        .unwrap_or('\\');
    let mut found = Vec::new();
    let mut add = |name: String| {
        if !found.contains(&name) {
            found.push(name);
        }
    };
    if let Some(syntax) = directives.get("syntax") {
        add(syntax.clone());
    }
    let mut globals: HashMap<String, String> = predefined.iter().cloned().collect();
    let mut stages: Vec<String> = Vec::new();
    let mut in_a_stage = false;
    for line in instructions(body, escape) {
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let words: Vec<&str> = words.collect();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !in_a_stage => {
                for word in &words {
                    let (name, default) = match word.split_once('=') {
                        // A default may use the arguments declared before it.
                        Some((name, value)) => (name, Some(substitute(&unquote(value), &globals))),
                        None => (*word, None),
                    };
                    let given = build_args.iter().rev().find(|(k, _)| k == name);
                    if let Some(value) = given.map(|(_, v)| v.clone()).or(default) {
                        globals.insert(name.to_string(), value);
                    }
                }
            }
            "FROM" => {
                in_a_stage = true;
                let mut rest = words.iter().filter(|w| !w.starts_with("--"));
                let image = rest.next().ok_or("a FROM line names no image")?;
                let image = expand(image, &globals)?;
                let is_stage = stages.contains(&image.to_ascii_lowercase());
                if !is_stage && !image.eq_ignore_ascii_case("scratch") {
                    add(image);
                }
                if let (Some(r#as), Some(name)) = (rest.next(), rest.next()) {
                    if r#as.eq_ignore_ascii_case("as") {
                        stages.push(name.to_ascii_lowercase());
                    }
                }
            }
            "ADD" if remote_source(&words) => {
                return Err(format!(
                    "'{line}' adds a URL or a git repository, which can change with no change \
                     to the Dockerfile"
                ));
            }
            "COPY" | "ADD" | "RUN" => {
                for from in sources(&words) {
                    let from = expand(&from, &globals)?;
                    let is_stage = from.parse::<usize>().is_ok()
                        || stages.contains(&from.to_ascii_lowercase());
                    if !is_stage {
                        add(from);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The parser directives at the top (`# syntax=...`, `# escape=...`), and the rest.
fn directives(dockerfile: &str) -> (HashMap<String, String>, &str) {
    let mut found = HashMap::new();
    let mut rest = dockerfile;
    while let Some((line, after)) = rest.split_once('\n').or(Some((rest, ""))) {
        let directive = line
            .trim()
            .strip_prefix('#')
            .and_then(|d| d.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            // BuildKit's directives; any other comment ends them.
            .filter(|(k, _)| ["syntax", "escape", "check"].contains(&k.as_str()));
        match directive {
            Some((key, value)) if !line.trim().is_empty() => {
                found.insert(key, value);
                rest = after;
            }
            _ => break,
        }
        if rest.is_empty() {
            break;
        }
    }
    (found, rest)
}

/// The instructions, each on one line: continuations joined, comments and heredoc bodies left
/// out.
fn instructions(body: &str, escape: char) -> Vec<String> {
    let mut lines = body.lines();
    let mut out = Vec::new();
    let mut current = String::new();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && !current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix(escape) {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let instruction = std::mem::take(&mut current);
                // A heredoc's lines are data, whatever they start with.
                for word in heredoc_words(&instruction) {
                    for body_line in lines.by_ref() {
                        if body_line.trim() == word {
                            break;
                        }
                    }
                }
                if !instruction.trim().is_empty() {
                    out.push(instruction);
                }
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// The end words of the heredocs an instruction opens (`<<EOF`, `<<-"EOF"`).
fn heredoc_words(instruction: &str) -> Vec<String> {
    instruction
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("<<"))
        .map(|w| {
            w.trim_start_matches('-')
                .trim_matches(['"', '\''])
                .to_string()
        })
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// Whether an `ADD` takes a source from the network (its last word is the destination).
fn remote_source(words: &[&str]) -> bool {
    let sources = words.iter().filter(|w| !w.starts_with("--"));
    let sources: Vec<&&str> = sources.collect();
    sources[..sources.len().saturating_sub(1)].iter().any(|s| {
        let s = s.trim_matches(['"', '\'', '[', ']', ',']);
        ["http://", "https://", "git@", "git://"]
            .iter()
            .any(|scheme| s.starts_with(scheme))
            || s.ends_with(".git")
    })
}

/// What `--from=` and `--mount=...,from=` flags name.
fn sources(words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for word in words.iter().take_while(|w| w.starts_with("--")) {
        if let Some(from) = word.strip_prefix("--from=") {
            out.push(unquote(from));
        } else if let Some(mount) = word.strip_prefix("--mount=") {
            out.extend(
                mount
                    .split(',')
                    .filter_map(|part| part.strip_prefix("from="))
                    .map(unquote),
            );
        }
    }
    out
}

fn unquote(value: &str) -> String {
    value.trim_matches(['"', '\'']).to_string()
}

/// An image name, expanded (see [`substitute`]); one empty after expansion is an error.
fn expand(word: &str, args: &HashMap<String, String>) -> Result<String, String> {
    let out = substitute(word, args);
    if out.is_empty() {
        return Err(format!(
            "'{word}' names no image once expanded (set it with a default in its ARG line or in build-args)"
        ));
    }
    Ok(out)
}

/// `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:+alternative}` and
/// `${NAME+alternative}` with `args` (the words themselves expanded too); an unset name is
/// empty, as in BuildKit.
fn substitute(word: &str, args: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let set = args.get(&name);
        let non_empty = set.filter(|v| !v.is_empty());
        let value = non_empty.map_or("", |v| v.as_str()).to_string();
        if !braced {
            out.push_str(&value);
            continue;
        }
        // The modifier up to the matching brace: it may hold `${...}` of its own.
        let mut modifier = String::new();
        let mut depth = 0;
        for c in chars.by_ref() {
            match c {
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                '{' => depth += 1,
                _ => {}
            }
            modifier.push(c);
        }
        let replaced = if let Some(default) = modifier.strip_prefix(":-") {
            non_empty.map_or_else(|| substitute(default, args), |v| v.clone())
        } else if let Some(default) = modifier.strip_prefix('-') {
            set.map_or_else(|| substitute(default, args), |v| v.clone())
        } else if let Some(alternative) = modifier.strip_prefix(":+") {
            non_empty.map_or(String::new(), |_| substitute(alternative, args))
        } else if let Some(alternative) = modifier.strip_prefix('+') {
            set.map_or(String::new(), |_| substitute(alternative, args))
        } else {
            value
        };
        out.push_str(&replaced);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn stages_and_scratch_are_not_bases() {
        let dockerfile = "FROM golang:1.23 AS build\nRUN go build\n\
                          FROM build AS test\nFROM scratch\nCOPY --from=build /app /app\n\
                          COPY --from=0 /x /x\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\n";
        assert_eq!(
            bases(dockerfile, &[], &[]).unwrap(),
            ["golang:1.23", "nginx:1.27"]
        );
    }

    #[test]
    fn global_args_and_build_args_expand_names() {
        let dockerfile = "ARG NODE=22\nARG REGISTRY\n\
                          FROM --platform=$BUILDPLATFORM ${REGISTRY:-docker.io}/node:${NODE}-slim AS deps\n\
                          RUN --mount=type=cache,target=/root/.npm --mount=type=bind,from=tools:1,target=/t npm ci\n";
        assert_eq!(
            bases(dockerfile, &[], &[]).unwrap(),
            ["docker.io/node:22-slim", "tools:1"]
        );
        assert_eq!(
            bases(
                dockerfile,
                &args(&[("NODE", "20"), ("REGISTRY", "ghcr.io/o")]),
                &[]
            )
            .unwrap(),
            ["ghcr.io/o/node:20-slim", "tools:1"]
        );
    }

    #[test]
    fn the_syntax_directive_continuations_comments_and_heredocs() {
        let dockerfile = "# syntax=docker/dockerfile:1.7\n# escape=\\\n\
                          FROM \\\n  # a comment inside\n  alpine:3.20\n\
                          RUN <<EOF\nFROM not-an-image\nEOF\n# FROM commented:1\n";
        assert_eq!(
            bases(dockerfile, &[], &[]).unwrap(),
            ["docker/dockerfile:1.7", "alpine:3.20"]
        );
    }

    #[test]
    fn a_name_that_expands_to_nothing_is_an_error() {
        let error = bases("ARG BASE\nFROM $BASE\n", &[], &[]).unwrap_err();
        assert!(error.contains("'$BASE' names no image"), "{error}");
    }

    #[test]
    fn platform_arguments_earlier_args_and_nested_defaults() {
        let target = Platform::parse("linux/arm64").unwrap();
        let build = Platform::parse("linux/amd64").unwrap();
        let dockerfile = "ARG V=1.23\nARG TAG=$V-slim\n\
                          FROM --platform=$BUILDPLATFORM golang:${TAG} AS build\n\
                          FROM distroless/static:nonroot-${TARGETARCH}${TARGETVARIANT:+-$TARGETVARIANT}\n\
                          FROM ${MISSING:-${REGISTRY-docker.io}/busybox}:1\n";
        assert_eq!(
            bases(dockerfile, &[], &platform_args(&target, &build)).unwrap(),
            [
                "golang:1.23-slim",
                "distroless/static:nonroot-arm64",
                "docker.io/busybox:1"
            ]
        );
    }

    #[test]
    fn a_remote_add_is_not_reusable_a_local_one_is() {
        let remote = "FROM alpine:3\nADD https://example.com/tool.tgz /opt/\n";
        let error = bases(remote, &[], &[]).unwrap_err();
        assert!(error.contains("adds a URL"), "{error}");
        let git = "FROM alpine:3\nADD git@github.com:o/r.git /src\n";
        assert!(bases(git, &[], &[]).is_err());
        let local = "FROM alpine:3\nADD --chown=1:1 vendor.tgz /opt/\n";
        assert_eq!(bases(local, &[], &[]).unwrap(), ["alpine:3"]);
    }

    #[test]
    fn an_unknown_comment_ends_the_directives() {
        let dockerfile = "# a comment\n# syntax=docker/dockerfile:1\nFROM alpine:3\n";
        assert_eq!(bases(dockerfile, &[], &[]).unwrap(), ["alpine:3"]);
    }
}
