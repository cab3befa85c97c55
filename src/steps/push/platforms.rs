//! The platforms an image in the registry runs on, read back after the push: an index's entries,
//! or an image's config. What a later step checks against where the image will run.

use crate::github::commands::Workflow;
use crate::oci::{Digest, Facts, Parsed, Platform};
use crate::registry::destination::Destination;

/// The platforms of the image `digest` names in `to`; empty when they cannot be read (the
/// caller then checks nothing).
pub async fn of_pushed(to: &Destination, digest: &Digest, workflow: &Workflow) -> Vec<Platform> {
    let read = async {
        let manifest = to
            .client
            .get_manifest(&to.repository, digest.as_str(), workflow.retry_notice())
            .await
            .ok()??;
        match manifest.parse().ok()? {
            Parsed::Index(index) => Some(index.platforms()),
            Parsed::Image(image) => {
                let config = to
                    .client
                    .get_config(&to.repository, &image.config, workflow.retry_notice())
                    .await
                    .ok()?;
                let value = serde_json::from_slice(&config).ok()?;
                Some(vec![Facts::of_config(&value)?.platform()])
            }
        }
    };
    read.await.unwrap_or_default()
}
