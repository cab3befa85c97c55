//! The bounds on what a server may make this process hold or wait for. A registry or a token
//! service decides how much it sends and how fast; read whole without a bound, a hostile or
//! broken one could fill the runner's memory or hold the run until the job's timeout. So every
//! answer read whole (a manifest, a tag list, a config, a token, an error's body) goes through
//! [`read`], which stops at a size, and every request that is not a blob transfer has a total
//! time ([`SMALL_REQUEST_TIME`]). Blobs are streamed, never held, and may take minutes: they
//! have a bound on silence instead (`http.rs`).

use std::time::Duration;

use reqwest::Response;

/// A manifest or an index: ECR's own limit on what it stores.
pub const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;
/// An image config read without its descriptor at hand (the descriptor's size otherwise):
/// real ones are kilobytes, the largest histories a few hundred.
pub const CONFIG_LIMIT: u64 = 8 * 1024 * 1024;
/// A tag list page (a few hundred tags of at most 128 characters each).
pub const TAG_LIST_LIMIT: u64 = 1024 * 1024;
/// A token service's JSON answer (tokens are a few kilobytes).
pub const TOKEN_LIMIT: u64 = 1024 * 1024;
/// The body of an error answer: only its start is ever shown.
pub const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Index entries read: real indexes list a few platforms and their attestations.
pub const INDEX_ENTRIES_LIMIT: usize = 64;

/// The whole time for a request that is not a blob transfer, answer included: a registry
/// answers those in milliseconds, and 30 s still reads a 4 MiB manifest at 140 kB/s.
pub const SMALL_REQUEST_TIME: Duration = Duration::from_secs(30);

/// Why an answer could not be read whole.
#[derive(Debug)]
pub enum Unread {
    /// It is (or says it is) larger than the limit.
    TooLarge { limit: u64 },
    /// The connection failed or the time ran out while reading it.
    Failed(reqwest::Error),
}

/// The response's body, read whole unless it is larger than `limit` bytes: refused at once when
/// its `Content-Length` says so, else as soon as more than `limit` bytes have arrived.
pub async fn read(mut response: Response, limit: u64) -> Result<Vec<u8>, Unread> {
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(Unread::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Unread::Failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Unread::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error answer's body, as text (what is left unread is dropped with the
/// connection).
pub async fn error_text(mut response: Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = ERROR_BODY_LIMIT as usize - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= ERROR_BODY_LIMIT {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `limit` bytes for a message: `4 MiB`, `512 kB`.
pub fn shown(limit: u64) -> String {
    if limit >= 1024 * 1024 && limit % (1024 * 1024) == 0 {
        format!("{} MiB", limit / (1024 * 1024))
    } else if limit >= 1024 && limit % 1024 == 0 {
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
