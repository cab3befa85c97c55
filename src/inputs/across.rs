//! Rules between sections: what one section's value means for another's.

use super::rules::aws;
use super::{EcsPlan, Errors, Identity};
use crate::error::InputError;

/// The roles must be in the region's partition.
pub(super) fn refuse_other_partitions(region: &str, identity: &Identity, errors: &mut Errors) {
    let roles = [
        (
            "role-to-assume",
            identity.web_identity.as_ref().map(|w| &w.role),
        ),
        ("chain-role-to-assume", identity.chain_role.as_ref()),
    ];
    for (input, role) in roles {
        if let Some(role) = role {
            errors.check(aws::same_partition(input, &role.arn, region));
        }
    }
}

/// A role's session cannot be renewed in the middle of a wait: the wait must end before the
/// session does (chained roles last one hour at most). The default chain renews its own.
pub(super) fn refuse_a_wait_longer_than_the_session(
    identity: &Identity,
    deploy: &EcsPlan,
    errors: &mut Errors,
) {
    let Some(wait) = deploy.wait else { return };
    if identity.web_identity.is_none() && identity.chain_role.is_none() {
        return;
    }
    let session = if identity.chain_role.is_some() {
        identity.duration_seconds.min(3600)
    } else {
        identity.duration_seconds
    };
    let minutes = wait.as_secs() / 60;
    // The push comes first: keep five minutes of the session for it.
    let room = (i64::from(session) / 60 - 5).max(0);
    if minutes as i64 > room {
        errors.refuse(InputError::new(
            "wait-minutes",
            format!(
                "is {minutes}, longer than the AWS session leaves after the push ({session} \
                 s{}); lower wait-minutes, or raise role-duration-seconds (the role's maximum \
                 session duration must allow it)",
                if identity.chain_role.is_some() {
                    ", a chained role's session lasts one hour at most"
                } else {
                    ""
                }
            ),
            room.max(1).to_string(),
        ));
    }
}
