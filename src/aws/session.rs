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
