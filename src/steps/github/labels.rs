//! The repository's own OCI labels on a built or patched image, as docker/metadata-action adds
//! them: title, description, licence (SPDX), URL. A mirror keeps its source's bytes and never
//! gets them.

use crate::github::api::{GitHubApi, RepositoryInfo};
use crate::github::commands::Workflow;
use crate::github::event::Event;

/// The repository's labels: from the event's payload when it carries the metadata, else from
/// one `GET /repos/{owner}/{repo}`; none when neither can tell.
pub async fn read(
    event: &Event,
    api: Option<&GitHubApi>,
    workflow: &Workflow,
) -> Vec<(String, String)> {
    if let Some(info) = &event.repository_info {
        return of(info);
    }
    let Some(api) = api else {
        return Vec::new();
    };
    match api.repository(super::retry_line(workflow)).await {
        Ok(info) => of(&info),
        Err(e) => {
            super::warn(workflow, "The repository's labels", "contents: read", &e);
            Vec::new()
        }
    }
}

/// `org.opencontainers.image.{title,description,licenses,url}` for what the repository says;
/// an empty description, an unknown licence (`NOASSERTION`) or no homepage is left out.
pub fn of(info: &RepositoryInfo) -> Vec<(String, String)> {
    let given = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let licence = info
        .license
        .as_ref()
        .and_then(|l| given(&l.spdx_id))
        .filter(|id| id != "NOASSERTION");
    [
        ("title", given(&info.name)),
        ("description", given(&info.description)),
        ("licenses", licence),
        (
            "url",
            given(&info.homepage).or_else(|| given(&info.html_url)),
        ),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((format!("org.opencontainers.image.{key}"), value?)))
    .collect()
}

/// The repository's labels, then the user's: a key the user set is the user's alone.
pub fn under_user_labels(
    repository: Vec<(String, String)>,
    user: &[(String, String)],
) -> Vec<(String, String)> {
    repository
        .into_iter()
        .filter(|(key, _)| !user.iter().any(|(k, _)| k == key))
        .chain(user.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::api::License;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_homepage_else_the_repository_and_only_known_licences() {
        let mut info = RepositoryInfo {
            name: Some("web-app".into()),
            description: Some("The shop's front end".into()),
            homepage: Some("https://shop.example.com".into()),
            html_url: Some("https://github.com/octo-org/web-app".into()),
            license: Some(License {
                spdx_id: Some("Apache-2.0".into()),
            }),
        };
        assert_eq!(
            of(&info),
            pairs(&[
                ("org.opencontainers.image.title", "web-app"),
                (
                    "org.opencontainers.image.description",
                    "The shop's front end"
                ),
                ("org.opencontainers.image.licenses", "Apache-2.0"),
                ("org.opencontainers.image.url", "https://shop.example.com"),
            ])
        );
        info.homepage = Some(String::new());
        info.description = None;
        info.license = Some(License {
            spdx_id: Some("NOASSERTION".into()),
        });
        assert_eq!(
            of(&info),
            pairs(&[
                ("org.opencontainers.image.title", "web-app"),
                (
                    "org.opencontainers.image.url",
                    "https://github.com/octo-org/web-app"
                ),
            ])
        );
    }

    #[test]
    fn the_users_labels_win() {
        let repository = pairs(&[("org.opencontainers.image.title", "web-app"), ("a", "1")]);
        let user = pairs(&[("org.opencontainers.image.title", "Shop")]);
        assert_eq!(
            under_user_labels(repository, &user),
            pairs(&[("a", "1"), ("org.opencontainers.image.title", "Shop")])
        );
    }
}
