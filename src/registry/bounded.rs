//! The bounds on what a server may make this process hold or wait for. A registry or a token
//! service decides how much it sends and how fast; read whole without a bound, a hostile or
//! broken one could fill the runner's memory or hold the run until the job's timeout. So every
//! answer read whole (a manifest, a tag list, a config, a token, an error's body) goes through
//! `http::read_bounded` with one of these limits, and every request that is not a blob
//! transfer has a total time ([`SMALL_REQUEST_TIME`]). Blobs are streamed, never held, and may
//! take minutes: they have a bound on silence instead (`http.rs`).

use std::time::Duration;

/// A manifest or an index: ECR's own limit on what it stores.
pub const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;
/// An image config read without its descriptor at hand (the descriptor's size otherwise):
/// real ones are kilobytes, the largest histories a few hundred.
pub const CONFIG_LIMIT: u64 = 8 * 1024 * 1024;
/// A tag list page (a few hundred tags of at most 128 characters each).
pub const TAG_LIST_LIMIT: u64 = 1024 * 1024;
/// A token service's JSON answer (tokens are a few kilobytes).
pub const TOKEN_LIMIT: u64 = 1024 * 1024;
/// An answer whose body is not used (a PUT's, `GET /v2/`'s), and the start of an error's that
/// is shown.
pub const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Index entries read: real indexes list a few platforms and their attestations.
pub const INDEX_ENTRIES_LIMIT: usize = 64;

/// The whole time for a request that is not a blob transfer, answer included: a registry
/// answers those in milliseconds, and 30 s still reads a 4 MiB manifest at 140 kB/s.
pub const SMALL_REQUEST_TIME: Duration = Duration::from_secs(30);

/// `limit` bytes for a message: `4 MiB`, `512 kB`.
pub fn shown(limit: u64) -> String {
    if limit >= 1024 * 1024 && limit.is_multiple_of(1024 * 1024) {
        format!("{} MiB", limit / (1024 * 1024))
    } else if limit >= 1024 && limit.is_multiple_of(1024) {
        format!("{} KiB", limit / 1024)
    } else {
        format!("{limit} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_shown_in_the_largest_whole_unit() {
        assert_eq!(shown(MANIFEST_LIMIT), "4 MiB");
        assert_eq!(shown(64 * 1024), "64 KiB");
        assert_eq!(shown(1234), "1234 bytes");
    }
}
