//! The identity section: which role the run assumes (by OIDC web identity, then optionally a
//! chained role), and the session it opens.

use super::rules::{aws, values};
use super::{Errors, Identity, RawInputs, WebIdentity};
use crate::github::context::RunContext;

pub(super) fn parse(raw: &RawInputs, ctx: &RunContext, errors: &mut Errors) -> Option<Identity> {
    let role = errors.optional(&raw.role_to_assume, None, |v| {
        aws::role_arn("role-to-assume", v).map(Some)
    });
    let audience = errors.optional(&raw.audience, "sts.amazonaws.com".to_string(), |v| {
        aws::audience("audience", v)
    });
    let default_session = aws::sanitised_session_name(&format!(
        "GitHubActions-{}-{}",
        ctx.run_id.as_deref().unwrap_or("local"),
        ctx.run_attempt.as_deref().unwrap_or("1")
    ));
    let session_name = errors.optional(&raw.role_session_name, default_session, |v| {
        aws::session_name("role-session-name", v)
    });
    let duration_seconds = errors.optional(&raw.role_duration_seconds, 3600, |v| {
        values::integer_in("role-duration-seconds", v, 900..=43200, "3600")
    });
    let chain_role = errors.optional(&raw.chain_role_to_assume, None, |v| {
        aws::role_arn("chain-role-to-assume", v).map(Some)
    });
    let (Some(role), Some(audience), Some(session_name), Some(duration_seconds), Some(chain_role)) =
        (role, audience, session_name, duration_seconds, chain_role)
    else {
        return None;
    };
    Some(Identity {
        web_identity: role.map(|role| WebIdentity { role, audience }),
        chain_role,
        session_name,
        duration_seconds,
    })
}
