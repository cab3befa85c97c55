//! The `cache` input: where a build's cache comes from and whether the pushed image carries one.

use crate::error::InputError;
use crate::image::reference::ImageReference;

const INPUT: &str = "cache";

/// The tag of a repository that holds the default branch's registry cache (`buildcache-BRANCH`
/// another branch's). The lifecycle policies ship-to-ecr writes never expire it.
pub const CACHE_TAG: &str = "buildcache";
const EXAMPLE: &str = "from=123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-app:main";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachePlan {
    /// Import from this repository's image for the branch, then the default branch's, and
    /// embed the cache in what is pushed.
    Auto,
    /// No import, no export.
    Off,
    /// Import from the `from` images, in order (a missing one is not an error); embed the
    /// cache in the pushed image when `inline`.
    Explicit { from: Vec<String>, inline: bool },
}

/// `auto`, `off`, or lines of `from=IMAGE` (repeatable) and `to=inline`.
pub(super) fn parse(value: &str) -> Result<CachePlan, InputError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "auto" => return Ok(CachePlan::Auto),
        "off" => return Ok(CachePlan::Off),
        _ => {}
    }
    let (mut from, mut inline) = (Vec::<String>::new(), false);
    for (index, line) in value.lines().enumerate() {
        let line = line.trim();
        let bad =
            |why: String| InputError::new(INPUT, format!("line {} {why}", index + 1), EXAMPLE);
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            None if line.is_empty() => {}
            Some(("from", image)) => {
                if image.starts_with("type=") || image.contains(',') {
                    return Err(bad(format!(
                        "('{line}') gives options; give the image alone: lines name images \
                         whose embedded (inline) cache BuildKit reads; a registry cache \
                         (type=registry) is what cache: auto keeps on the containerd image store"
                    )));
                }
                ImageReference::parse(image).map_err(|why| {
                    bad(format!(
                        "('{line}'): '{image}' is not an image reference: {why}"
                    ))
                })?;
                if from.iter().any(|f| f == image) {
                    return Err(bad(format!("('{line}') names '{image}' a second time")));
                }
                from.push(image.to_string());
            }
            Some(("to", "inline")) if !inline => inline = true,
            Some(("to", "inline")) => return Err(bad("gives to=inline a second time".into())),
            Some(("to", other)) => {
                return Err(bad(format!(
                    "('{line}'): lines export the cache only inline (embedded in the pushed \
                     image), not to '{other}'; write to=inline, or cache: auto, which keeps a \
                     registry cache on the containerd image store"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "('{line}') must be from=IMAGE or to=inline (or the whole value auto or off)"
                )))
            }
        }
    }
    Ok(CachePlan::Explicit { from, inline })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(value: &str) -> String {
        let err = parse(value).unwrap_err();
        assert_eq!((err.input, err.example.as_str()), (INPUT, EXAMPLE));
        err.rule
    }

    #[test]
    fn words_and_lines() {
        assert_eq!(parse("auto"), Ok(CachePlan::Auto));
        assert_eq!(parse(" OFF\n"), Ok(CachePlan::Off));
        assert_eq!(
            parse("from=registry.example/app:main\n\n from = app:latest \nto=inline"),
            Ok(CachePlan::Explicit {
                from: vec!["registry.example/app:main".into(), "app:latest".into()],
                inline: true
            })
        );
        assert_eq!(
            parse("to=inline"),
            Ok(CachePlan::Explicit {
                from: vec![],
                inline: true
            })
        );
        let pinned = format!("app@sha256:{}", "a".repeat(64));
        assert_eq!(
            parse(&format!("from={pinned}")),
            Ok(CachePlan::Explicit {
                from: vec![pinned],
                inline: false
            })
        );
    }

    #[test]
    fn bad_lines_are_named() {
        for (value, words) in [
            ("on", "line 1 ('on') must be from=IMAGE or to=inline"),
            ("auto\nto=inline", "line 1 ('auto') must be from=IMAGE"),
            ("to=inline\noff", "line 2 ('off') must be from=IMAGE"),
            ("cache-from=app:main", "must be from=IMAGE or to=inline"),
            ("from=App Image", "is not an image reference"),
            ("from=", "is not an image reference"),
            (
                "from=type=registry,ref=app:buildcache",
                "a registry cache \\
                 (type=registry) is what cache: auto keeps",
            ),
            ("from=app:main,mode=max", "gives options"),
            (
                "from=app:main\nfrom=app:main",
                "line 2 ('from=app:main') names",
            ),
            (
                "to=inline\nto=inline",
                "line 2 gives to=inline a second time",
            ),
            ("to=registry", "not to 'registry'; write to=inline"),
        ] {
            let rule = rule(value);
            assert!(rule.contains(words), "{value:?}: {rule}");
        }
    }
}
