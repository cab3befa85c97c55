//! The names this process gave images in the daemon for its own use (a build's temporary name),
//! so that an interrupted run removes them: at the signal the run's future is dropped, and
//! with it the step that would have removed them. Names only this process made are listed, so
//! another job's names on the same daemon are never touched.

use std::sync::Mutex;

static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<String>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// `name` now exists in the daemon for this run only.
pub fn hold(name: &str) {
    held().push(name.to_string());
}

/// `name` was removed (or handed over).
pub fn release(name: &str) {
    held().retain(|n| n != name);
}

/// Every name still held.
pub fn all() -> Vec<String> {
    held().clone()
}
