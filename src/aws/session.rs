//! An AWS session as every step after the credentials uses it: the SDK's configuration, the
//! temporary credentials it holds (to mask, or to export when asked), and whose they are (for
//! messages).

use aws_config::SdkConfig;

use super::sts::TemporaryCredentials;

pub struct AwsSession {
    pub config: SdkConfig,
    /// `None` when the default chain is used as is.
    pub credentials: Option<TemporaryCredentials>,
    /// The role assumed last, or a description of the default chain.
    pub principal: String,
}

impl AwsSession {
    /// Whether the session's credentials end within `margin` (a role session lasts one hour by
    /// default; a long build can use most of it). The default chain renews its own.
    pub fn ends_within(&self, margin: std::time::Duration) -> bool {
        ends_within(self.expiration(), margin)
    }

    /// When the session's credentials end; `None` for the default chain, which renews its own.
    pub fn expiration(&self) -> Option<std::time::SystemTime> {
        self.credentials.as_ref().and_then(|c| c.expiration)
    }
}

/// Whether credentials ending at `expiration` end within `margin` from now.
pub fn ends_within(expiration: Option<std::time::SystemTime>, margin: std::time::Duration) -> bool {
    expiration.is_some_and(|end| {
        end.duration_since(std::time::SystemTime::now())
            .map_or(true, |left| left < margin)
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn ending_in(seconds: i64) -> AwsSession {
        let now = SystemTime::now();
        let end = if seconds >= 0 {
            now + Duration::from_secs(seconds as u64)
        } else {
            now - Duration::from_secs((-seconds) as u64)
        };
        AwsSession {
            config: SdkConfig::builder().build(),
            credentials: Some(TemporaryCredentials {
                access_key_id: "AKIA".into(),
                secret_access_key: "secret".into(),
                session_token: "token".into(),
                expiration: Some(end),
                assumed_role_arn: None,
            }),
            principal: "role".into(),
        }
    }

    #[test]
    fn a_session_ends_within_the_margin_or_has_ended() {
        let margin = Duration::from_secs(300);
        assert!(!ending_in(3600).ends_within(margin));
        assert!(!ending_in(301).ends_within(margin));
        assert!(ending_in(299).ends_within(margin));
        assert!(ending_in(-10).ends_within(margin));
        let default_chain = AwsSession {
            credentials: None,
            ..ending_in(0)
        };
        assert!(!default_chain.ends_within(margin));
    }
}
