//! What can go wrong talking to a registry, and which of it another try may fix.

use reqwest::StatusCode;

use super::{auth, bounded};
use crate::error::NetworkFault;
use crate::retry::{is_transient_status, Transient};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry at {url} refused {who} (HTTP {status})")]
    Refused {
        url: String,
        status: StatusCode,
        who: String,
    },
    /// Refused, and fresh credentials could not be had.
    #[error("the registry at {url} refused {who} (HTTP {status}), and fresh ones could not be had: {reason}")]
    NotRenewed {
        url: String,
        status: StatusCode,
        who: String,
        reason: String,
    },
    /// A streamed upload refused with credentials that have since been renewed: the upload
    /// starts again with the new ones.
    #[error("the registry refused the credentials during the {what}; they were renewed")]
    Renewed { what: String },
    #[error("the registry at {url} answered HTTP {status} to {what}{detail}")]
    Unexpected {
        url: String,
        status: StatusCode,
        what: String,
        detail: String,
    },
    /// A 429 or 503 that said when to come back.
    #[error("the registry at {url} answered HTTP {status} to {what}, asking to try again in {} s", wait.as_secs())]
    Busy {
        url: String,
        status: StatusCode,
        what: String,
        wait: std::time::Duration,
    },
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable {
        url: String,
        reason: String,
        /// What the cause chain says: a wrong endpoint, a refused certificate, or a fault
        /// another try may get past.
        fault: NetworkFault,
    },
    #[error("{0}")]
    Token(#[from] auth::TokenError),
    #[error("the blob {digest} is corrupt: {why}")]
    Mismatch { digest: String, why: String },
    /// An answer larger than anything it may hold (a manifest over ECR's 4 MiB): refused
    /// before it fills memory.
    #[error("the registry at {url} sent more than {} for {what}; refused (an answer that large is not a registry's)", bounded::shown(*.limit))]
    TooLarge {
        url: String,
        what: String,
        limit: u64,
    },
    /// A request that is not a blob transfer, unanswered within its whole time.
    #[error("the registry at {url} did not finish answering {what} within {} s", .limit.as_secs())]
    TooSlow {
        url: String,
        what: String,
        limit: std::time::Duration,
    },
    /// The registry named another origin (scheme, host, port) for an upload: neither
    /// credentials nor image data go there.
    #[error("the registry at {url} sent the {what} to {to}, another origin; refused, so that no credentials or image data go there")]
    OtherOrigin {
        url: String,
        what: String,
        to: String,
    },
}

impl RegistryError {
    /// What a registry's answer other than a success means: its credentials refused (401,
    /// 403), busy with a time to come back (429 or 503 with `Retry-After`), or anything else
    /// with the start of the body it sent.
    pub fn answered(
        url: String,
        who: &str,
        status: StatusCode,
        what: &str,
        retry_after: Option<std::time::Duration>,
        body: &str,
    ) -> Self {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return RegistryError::Refused {
                url,
                status,
                who: who.to_string(),
            };
        }
        if let (Some(wait), StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) =
            (retry_after, status)
        {
            return RegistryError::Busy {
                url,
                status,
                what: what.to_string(),
                wait,
            };
        }
        let detail = if body.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", body.trim().chars().take(500).collect::<String>())
        };
        RegistryError::Unexpected {
            url,
            status,
            what: what.to_string(),
            detail,
        }
    }
}

impl Transient for RegistryError {
    fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unexpected { status, .. } => is_transient_status(status.as_u16()),
            RegistryError::Unreachable { fault, .. } => fault.is_transient(),
            RegistryError::Busy { .. }
            | RegistryError::Renewed { .. }
            | RegistryError::TooSlow { .. } => true,
            RegistryError::Token(e) => e.is_transient(),
            RegistryError::Refused { .. }
            | RegistryError::NotRenewed { .. }
            | RegistryError::Mismatch { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::OtherOrigin { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Busy { wait, .. } => Some(*wait),
            // Nothing to wait for: the new credentials are there.
            RegistryError::Renewed { .. } => Some(std::time::Duration::ZERO),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retried_only_when_another_try_can_pass() {
        let status = |code: u16| StatusCode::from_u16(code).unwrap();
        let unexpected = |code| RegistryError::Unexpected {
            url: String::new(),
            status: status(code),
            what: String::new(),
            detail: String::new(),
        };
        let network = |fault| RegistryError::Unreachable {
            url: String::new(),
            reason: String::new(),
            fault,
        };
        let token = |code| {
            RegistryError::Token(auth::TokenError::Status {
                realm: String::new(),
                status: status(code),
            })
        };
        let refused = RegistryError::Refused {
            url: String::new(),
            status: StatusCode::UNAUTHORIZED,
            who: String::new(),
        };
        let corrupt = RegistryError::Mismatch {
            digest: "sha256:abc".into(),
            why: String::new(),
        };
        let cases = [
            (unexpected(429), true),
            (unexpected(503), true),
            (network(NetworkFault::Interrupted), true),
            (token(502), true),
            (unexpected(400), false),
            (unexpected(404), false),
            // A small blob read whole whose digest is wrong.
            (unexpected(200), false),
            (network(NetworkFault::Unreachable), false),
            (network(NetworkFault::UntrustedCertificate), false),
            (token(400), false),
            (refused, false),
            (corrupt, false),
        ];
        for (error, transient) in cases {
            assert_eq!(error.is_transient(), transient, "{error:?}");
        }
    }
}
