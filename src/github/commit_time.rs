//! When the commit being built was made: the time an image is stamped with (`created`, and
//! `SOURCE_DATE_EPOCH` for BuildKit), so that the same commit built twice is the same image.
//!
//! Never the clock: a time that changes between runs changes the config, so the image, so its
//! digest, and an immutable tag cannot take the re-run. In order:
//! 1. `SOURCE_DATE_EPOCH` (the reproducible-builds convention), when the workflow sets it;
//! 2. the committer time of `GITHUB_SHA` in the workspace's git data, which `actions/checkout`
//!    leaves for every event (shallow clones included), read with gix: the action's image has
//!    no `git` binary;
//! 3. a push event's `head_commit.timestamp` (the other events carry no commit time);
//! 4. a fixed time (the Unix epoch), with a notice saying how to set `SOURCE_DATE_EPOCH`.

use std::path::Path;

use chrono::{DateTime, Utc};

/// Where the time came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    SourceDateEpoch,
    Checkout,
    PushEvent,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitTime {
    pub time: DateTime<Utc>,
    pub source: TimeSource,
}

impl CommitTime {
    /// The time when one was found; `None` for the fixed fallback, so that a step with a
    /// better default of its own (a patch: its base's time) can take that instead.
    pub fn known(&self) -> Option<DateTime<Utc>> {
        (self.source != TimeSource::Fixed).then_some(self.time)
    }

    /// The notice to show when the image got the fixed time.
    pub fn fixed_notice(&self) -> Option<&'static str> {
        (self.source == TimeSource::Fixed).then_some(
            "No commit time was found (no SOURCE_DATE_EPOCH, no git data for GITHUB_SHA in the \
             workspace, no push event): the image is stamped 1970-01-01, the same on every run. \
             Run actions/checkout before this step (it leaves the git data this reads), or set \
             SOURCE_DATE_EPOCH to the commit's time in a step before: \
             echo \"SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)\" >> \"$GITHUB_ENV\"",
        )
    }
}

/// The commit time for this run, from the first source that has one.
pub fn resolve(
    source_date_epoch: Option<&str>,
    workspace: &Path,
    sha: Option<&str>,
    push_event_time: Option<DateTime<Utc>>,
) -> CommitTime {
    let found = |time, source| CommitTime { time, source };
    if let Some(time) = source_date_epoch
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| DateTime::from_timestamp(s, 0))
    {
        return found(time, TimeSource::SourceDateEpoch);
    }
    if let Some(time) = sha.and_then(|sha| committer_time(workspace, sha).ok()) {
        return found(time, TimeSource::Checkout);
    }
    if let Some(time) = push_event_time {
        return found(time, TimeSource::PushEvent);
    }
    found(DateTime::UNIX_EPOCH, TimeSource::Fixed)
}

/// The committer time of commit `sha` in the repository that holds `dir` (or a folder above
/// it), from its loose or packed objects.
pub fn committer_time(dir: &Path, sha: &str) -> Result<DateTime<Utc>, String> {
    let repo = gix::discover(dir).map_err(|e| e.to_string())?;
    let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|e| e.to_string())?;
    let commit = repo.find_commit(id).map_err(|e| e.to_string())?;
    let time = commit.time().map_err(|e| e.to_string())?;
    DateTime::from_timestamp(time.seconds, 0).ok_or_else(|| "a time out of range".to_string())
}

/// The commit checked out in the repository that holds `dir` (its `HEAD`).
pub fn head_commit(dir: &Path) -> Result<String, String> {
    let repo = gix::discover(dir).map_err(|e| e.to_string())?;
    let id = repo.head_id().map_err(|e| e.to_string())?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A repository with one commit made at `epoch`; returns its sha.
    fn repository(dir: &Path, epoch: i64) -> String {
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(dir)
                .env("GIT_COMMITTER_DATE", format!("{epoch} +0200"))
                .env("GIT_AUTHOR_DATE", "1000000000 +0000")
                .env("GIT_AUTHOR_NAME", "a")
                .env("GIT_AUTHOR_EMAIL", "a@example.com")
                .env("GIT_COMMITTER_NAME", "c")
                .env("GIT_COMMITTER_EMAIL", "c@example.com")
                .output()
                .expect("git runs");
            assert!(out.status.success(), "{:?}", out);
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("app.txt"), "app").unwrap();
        git(&["add", "app.txt"]);
        git(&["commit", "-q", "-m", "one"]);
        git(&["rev-parse", "HEAD"])
    }

    #[test]
    fn the_committer_time_from_loose_and_packed_objects_and_a_shallow_clone() {
        let dir = tempfile::tempdir().unwrap();
        let sha = repository(dir.path(), 1_700_000_000);
        let expected = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        // From a folder below the repository's top, as a build context is.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(committer_time(&dir.path().join("sub"), &sha), Ok(expected));

        let gc = Command::new("git")
            .args(["gc", "-q", "--prune=now"])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(gc.success());
        assert!(std::fs::read_dir(dir.path().join(".git/objects/pack"))
            .unwrap()
            .any(|e| e.unwrap().path().extension() == Some("pack".as_ref())));
        assert_eq!(committer_time(dir.path(), &sha), Ok(expected));

        let shallow = tempfile::tempdir().unwrap();
        let clone = Command::new("git")
            .args(["clone", "-q", "--depth", "1"])
            .arg(format!("file://{}", dir.path().display()))
            .arg(shallow.path().join("c"))
            .status()
            .unwrap();
        assert!(clone.success());
        assert_eq!(
            committer_time(&shallow.path().join("c"), &sha),
            Ok(expected)
        );
    }

    #[test]
    fn each_source_in_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let sha = repository(dir.path(), 1_700_000_000);
        let pushed = DateTime::from_timestamp(1_600_000_000, 0);
        let r = resolve(Some("1234"), dir.path(), Some(&sha), pushed);
        assert_eq!(
            (r.time.timestamp(), r.source),
            (1234, TimeSource::SourceDateEpoch)
        );
        let r = resolve(None, dir.path(), Some(&sha), pushed);
        assert_eq!(
            (r.time.timestamp(), r.source),
            (1_700_000_000, TimeSource::Checkout)
        );
        // A sha the checkout does not have (another commit's event) falls through.
        let other = "0".repeat(40);
        let r = resolve(None, dir.path(), Some(&other), pushed);
        assert_eq!(
            (r.time.timestamp(), r.source),
            (1_600_000_000, TimeSource::PushEvent)
        );
        let empty = tempfile::tempdir().unwrap();
        let r = resolve(Some("not a number"), empty.path(), Some(&sha), None);
        assert_eq!((r.time.timestamp(), r.source), (0, TimeSource::Fixed));
        assert_eq!(r.known(), None);
        assert!(r.fixed_notice().unwrap().contains("SOURCE_DATE_EPOCH"));
    }
}
