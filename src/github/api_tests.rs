use super::*;
use serde_json::json;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

#[test]
fn retry_after_in_seconds_or_as_a_date() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let wait =
        |status, pairs: &[(&'static str, &str)]| rate_limit_wait(status, &headers(pairs), now);
    assert_eq!(
        wait(429, &[("retry-after", "7")]),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        wait(503, &[("retry-after", "2")]),
        Some(Duration::from_secs(2))
    );
    // A secondary rate limit is a 403 with Retry-After.
    assert_eq!(
        wait(403, &[("retry-after", "60")]),
        Some(Duration::from_secs(60))
    );
    let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
    assert_eq!(
        wait(429, &[("retry-after", &date)]),
        Some(Duration::from_secs(30))
    );
    // A date in the past: no wait beyond the backoff's own.
    let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(wait(429, &[("retry-after", &past)]), Some(Duration::ZERO));
    // Not a status that can be retried: the header is not read.
    assert_eq!(wait(404, &[("retry-after", "7")]), None);
    assert_eq!(wait(429, &[]), None);
}

#[test]
fn a_primary_rate_limit_waits_until_its_reset() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let limited = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700000045"),
    ]);
    assert_eq!(
        rate_limit_wait(403, &limited, now),
        Some(Duration::from_secs(45))
    );
    // Requests left: a plain 403 is a missing permission, not a limit.
    let not_limited = headers(&[
        ("x-ratelimit-remaining", "4999"),
        ("x-ratelimit-reset", "1700000045"),
    ]);
    assert_eq!(rate_limit_wait(403, &not_limited, now), None);
}

#[test]
fn a_server_s_times_at_the_limits_are_clamped_not_overflowed() {
    let most = Some(crate::retry::MOST_ASKED);
    for now in [SystemTime::UNIX_EPOCH, SystemTime::now()] {
        let max = u64::MAX.to_string();
        let reset = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &max)]);
        assert_eq!(rate_limit_wait(429, &reset, now), most);
        let asked = headers(&[("retry-after", &max)]);
        assert_eq!(rate_limit_wait(503, &asked, now), most);
        let past = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "0")]);
        assert!(rate_limit_wait(403, &past, now) <= most);
        let date = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert_eq!(rate_limit_wait(429, &date, now), most);
    }
}

#[test]
fn the_next_page_link() {
    let link = headers(&[(
        "link",
        "<http://h/api/v3/repos/o/r/issues/1/comments?per_page=100&page=2>; rel=\"next\", \
         <http://h/api/v3/repos/o/r/issues/1/comments?per_page=100&page=5>; rel=\"last\"",
    )]);
    assert_eq!(
        next_page(&link).as_deref(),
        Some("http://h/api/v3/repos/o/r/issues/1/comments?per_page=100&page=2")
    );
    let last = headers(&[("link", "<http://h/x?page=1>; rel=\"prev\"")]);
    assert_eq!(next_page(&last), None);
    assert_eq!(next_page(&HeaderMap::new()), None);
}

#[test]
fn repository_metadata_from_a_complete_payload_only() {
    let full = json!({
        "name": "web-app", "full_name": "octo-org/web-app", "description": "The web app",
        "homepage": "", "license": {"key": "mit", "spdx_id": "MIT"}, "html_url": "https://github.com/octo-org/web-app"
    });
    let info = RepositoryInfo::from_payload(&full).unwrap();
    assert_eq!(info.name.as_deref(), Some("web-app"));
    assert_eq!(info.license.unwrap().spdx_id.as_deref(), Some("MIT"));
    let null_license = json!({"name": "a", "description": null, "homepage": null, "license": null});
    assert_eq!(
        RepositoryInfo::from_payload(&null_license).unwrap().license,
        None
    );
    let trimmed = json!({"full_name": "octo-org/web-app", "default_branch": "main"});
    assert_eq!(RepositoryInfo::from_payload(&trimmed), None);
    assert_eq!(RepositoryInfo::from_payload(&Value::Null), None);
}

#[test]
fn github_messages_from_error_bodies() {
    assert_eq!(
        github_message(
            r#"{"message":"Resource not accessible by integration","documentation_url":"x"}"#
        ),
        "Resource not accessible by integration"
    );
    assert_eq!(
        github_message("<html>bad gateway</html>"),
        "<html>bad gateway</html>"
    );
}
