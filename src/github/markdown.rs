//! Text from images and servers shown in GitHub Markdown (the pull-request comment) as plain
//! data: it may be public, and whoever can push an image chooses every byte of it.

use super::commands::untrusted;

/// The most characters of one value a comment shows; the rest is cut, marked with `…`.
pub const MOST_SHOWN: usize = 200;

/// `text` as one inline code span, which GitHub shows as written: no link, image, HTML,
/// @-mention or emphasis inside can take effect. The fence is one backtick longer than any
/// run of backticks in the text, so none closes it early; control characters (newlines above
/// all, which could end the span's paragraph) are shown escaped. Not for a table cell, where a
/// `|` would end the cell.
pub fn literal(text: &str) -> String {
    let shown = untrusted(&cut(text, MOST_SHOWN));
    let longest = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A space inside each end where needed: CommonMark strips exactly that pair, so a text
    // that starts or ends with a backtick cannot merge with the fence, and one with spaces at
    // both ends keeps them. An empty span would be no span: a space stands for it.
    let padded = shown.is_empty()
        || shown.starts_with('`')
        || shown.ends_with('`')
        || (shown.starts_with(' ') && shown.ends_with(' '));
    if padded {
        format!("{fence} {shown} {fence}")
    } else {
        format!("{fence}{shown}{fence}")
    }
}

/// The first `most` characters of `text` (never a byte inside a character), with `…` when
/// something was cut.
pub fn cut(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_value_is_one_code_span() {
        assert_eq!(literal("nginx"), "`nginx`");
        assert_eq!(literal(""), "`  `");
        assert_eq!(literal(" a "), "`  a  `");
    }

    #[test]
    fn backticks_inside_get_a_longer_fence() {
        assert_eq!(literal("a`b"), "``a`b``");
        assert_eq!(literal("`a"), "`` `a ``");
        assert_eq!(literal("```"), "```` ``` ````");
        assert_eq!(literal("`x` ``y``"), "``` `x` ``y`` ```");
    }

    #[test]
    fn newlines_html_mentions_and_pipes_stay_inert() {
        let shown = literal("x\n\n<img src=x onerror=alert(1)>\r@org/team | y");
        assert_eq!(
            shown,
            "`x\\n\\n<img src=x onerror=alert(1)>\\r@org/team | y`"
        );
        assert!(!shown.contains('\n') && !shown.contains('\r'));
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MOST_SHOWN + 5);
        assert_eq!(cut(&long, MOST_SHOWN).chars().count(), MOST_SHOWN + 1);
        assert!(cut(&long, MOST_SHOWN).ends_with('…'));
        assert_eq!(cut("sha256:ab", 19), "sha256:ab");
        assert_eq!(cut("ééé", 2), "éé…");
        assert_eq!(cut("🦀🦀", 0), "…");
    }
}
