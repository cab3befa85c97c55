//! BuildKit's status stream rendered as the CLI's plain progress (`--progress=plain`), so a log
//! reads as users know it: `#5 [2/3] RUN make`, its output as `#5 0.215 ...`, then `#5 CACHED`,
//! `#5 DONE 1.2s` or `#5 ERROR: ...`. It also keeps what a failure message and the summary need:
//! each step's last lines, which step failed, and how many steps the cache answered.

use std::collections::{HashMap, HashSet, VecDeque};

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;

/// Lines of a step's output kept for the failure message.
pub const KEPT_LINES: usize = 30;

/// The longest line printed or kept whole: a step that writes megabytes without a newline is
/// printed in pieces of this size, so no buffer grows with what a build writes.
pub const LINE_LIMIT: usize = 16 * 1024;

/// `line` in pieces of at most [`LINE_LIMIT`] bytes, cut at character boundaries (an empty
/// line is one empty piece).
pub fn pieces(line: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = line;
    loop {
        let mut end = rest.len().min(LINE_LIMIT);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, after) = rest.split_at(end);
        pieces.push(piece);
        rest = after;
        if rest.is_empty() {
            return pieces;
        }
    }
}

#[derive(Default)]
pub struct Progress {
    /// `#N` of each vertex, in the order they started.
    numbers: HashMap<String, usize>,
    names: HashMap<String, String>,
    started: HashMap<String, f64>,
    announced: HashSet<String>,
    finished: HashMap<String, bool>,
    /// Output not yet ended by a newline, per vertex.
    partial: HashMap<String, String>,
    tails: HashMap<String, VecDeque<String>>,
    failed: Option<String>,
}

/// What the cache did for the Dockerfile's steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub steps: usize,
    pub cached: usize,
}

fn seconds(t: &Option<Timestamp>) -> Option<f64> {
    t.as_ref()
        .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// Whether a vertex is one of the Dockerfile's steps (`[2/3] RUN ...`, `[build 1/4] FROM ...`),
/// not BuildKit's own work (`[internal] load .dockerignore`, exporting, auth).
fn is_step(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('[') else {
        return false;
    };
    let Some((inside, _)) = rest.split_once(']') else {
        return false;
    };
    let counter = inside.rsplit(' ').next().unwrap_or("");
    counter
        .split_once('/')
        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
}

impl Progress {
    /// Takes one status message, printing the lines it makes.
    pub fn update(&mut self, status: StatusResponse, out: &mut impl FnMut(&str)) {
        for vertex in status.vertexes {
            let digest = vertex.digest.clone();
            if !vertex.name.is_empty() {
                self.names.insert(digest.clone(), vertex.name.clone());
            }
            if vertex.started.is_none() && !vertex.cached {
                continue;
            }
            let number = self.number(&digest);
            if let Some(start) = seconds(&vertex.started) {
                self.started.entry(digest.clone()).or_insert(start);
            }
            if self.announced.insert(digest.clone()) {
                out(&format!("#{number} {}", self.name(&digest)));
            }
            if vertex.completed.is_none() && !vertex.cached {
                continue;
            }
            if self.finished.contains_key(&digest) {
                continue;
            }
            self.flush_partial(&digest, number, out);
            if !vertex.error.is_empty() {
                out(&format!("#{number} ERROR: {}", vertex.error));
                self.failed.get_or_insert(digest.clone());
            } else if vertex.cached {
                out(&format!("#{number} CACHED"));
            } else {
                let took = match (seconds(&vertex.started), seconds(&vertex.completed)) {
                    (Some(a), Some(b)) => b - a,
                    _ => 0.0,
                };
                out(&format!("#{number} DONE {took:.1}s"));
            }
            self.finished.insert(digest, vertex.cached);
        }
        for log in status.logs {
            let number = self.number(&log.vertex);
            let at = match (seconds(&log.timestamp), self.started.get(&log.vertex)) {
                (Some(t), Some(s)) => t - s,
                _ => 0.0,
            };
            let text = String::from_utf8_lossy(&log.msg);
            let pending = self.partial.remove(&log.vertex).unwrap_or_default() + &text;
            let mut lines: Vec<&str> = pending.split('\n').collect();
            let rest = lines.pop().unwrap_or("").to_string();
            if rest.len() >= LINE_LIMIT {
                // Waiting longer for its newline would only grow the buffer.
                lines.push(&rest);
            }
            for line in lines {
                for piece in pieces(line.trim_end_matches('\r')) {
                    out(&format!("#{number} {at:.3} {piece}"));
                    self.keep(&log.vertex, piece);
                }
            }
            if !rest.is_empty() && rest.len() < LINE_LIMIT {
                self.partial.insert(log.vertex.clone(), rest);
            }
        }
    }

    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    fn name(&self, digest: &str) -> String {
        self.names.get(digest).cloned().unwrap_or_default()
    }

    fn keep(&mut self, digest: &str, line: &str) {
        let tail = self.tails.entry(digest.to_string()).or_default();
        tail.push_back(line.to_string());
        if tail.len() > KEPT_LINES {
            tail.pop_front();
        }
    }

    fn flush_partial(&mut self, digest: &str, number: usize, out: &mut impl FnMut(&str)) {
        if let Some(rest) = self.partial.remove(digest) {
            out(&format!("#{number} {rest}"));
            self.keep(digest, &rest);
        }
    }

    /// The step that failed, with its last lines of output.
    pub fn failed_step(&self) -> Option<(String, Vec<String>)> {
        let digest = self.failed.as_ref()?;
        let tail = self.tails.get(digest).cloned().unwrap_or_default();
        Some((self.name(digest), tail.into()))
    }

    /// How many of the Dockerfile's steps ran, and how many the cache answered.
    pub fn cache_use(&self) -> CacheUse {
        let mut used = CacheUse::default();
        for (digest, cached) in &self.finished {
            if is_step(&self.name(digest)) {
                used.steps += 1;
                used.cached += usize::from(*cached);
            }
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

    use super::*;

    fn at(s: i64) -> Option<Timestamp> {
        Some(Timestamp {
            seconds: s,
            nanos: 0,
        })
    }

    fn vertex(digest: &str, name: &str, started: Option<i64>, completed: Option<i64>) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            started: started.and_then(at),
            completed: completed.and_then(at),
            ..Vertex::default()
        }
    }

    fn render(progress: &mut Progress, status: StatusResponse) -> Vec<String> {
        let mut lines = Vec::new();
        progress.update(status, &mut |l| lines.push(l.to_string()));
        lines
    }

    #[test]
    fn steps_print_as_the_cli_plain_progress_does() {
        let mut p = Progress::default();
        let from = vertex("sha256:a", "[1/2] FROM base", Some(10), None);
        let run = vertex("sha256:b", "[2/2] RUN make", Some(11), None);
        assert_eq!(
            render(
                &mut p,
                StatusResponse {
                    vertexes: vec![from.clone(), run.clone()],
                    ..Default::default()
                }
            ),
            ["#1 [1/2] FROM base", "#2 [2/2] RUN make"]
        );
        let log = VertexLog {
            vertex: "sha256:b".into(),
            timestamp: at(12),
            stream: 1,
            msg: b"compiling\nlinking".to_vec(),
        };
        assert_eq!(
            render(
                &mut p,
                StatusResponse {
                    logs: vec![log],
                    ..Default::default()
                }
            ),
            ["#2 1.000 compiling"]
        );
        let cached_from = Vertex {
            cached: true,
            ..vertex("sha256:a", "[1/2] FROM base", Some(10), Some(10))
        };
        let done_run = vertex("sha256:b", "[2/2] RUN make", Some(11), Some(14));
        assert_eq!(
            render(
                &mut p,
                StatusResponse {
                    vertexes: vec![cached_from, done_run],
                    ..Default::default()
                }
            ),
            ["#1 CACHED", "#2 linking", "#2 DONE 3.0s"]
        );
        assert_eq!(
            p.cache_use(),
            CacheUse {
                steps: 2,
                cached: 1
            }
        );
    }

    #[test]
    fn output_without_newlines_is_printed_in_pieces_not_buffered() {
        let mut p = Progress::default();
        let run = vertex("sha256:d", "[2/2] RUN yes | tr -d '\\n'", Some(1), None);
        render(
            &mut p,
            StatusResponse {
                vertexes: vec![run],
                ..Default::default()
            },
        );
        let mut printed = 0;
        for _ in 0..64 {
            let log = VertexLog {
                vertex: "sha256:d".into(),
                timestamp: at(2),
                stream: 1,
                msg: "é".repeat(4096).into_bytes(),
            };
            let lines = render(
                &mut p,
                StatusResponse {
                    logs: vec![log],
                    ..Default::default()
                },
            );
            for line in &lines {
                assert!(line.len() <= LINE_LIMIT + 16, "{}", line.len());
            }
            printed += lines.len();
        }
        // 512 KiB without a newline: printed as it comes, at most one piece held back.
        assert!(printed >= 512 * 1024 / LINE_LIMIT - 1, "{printed}");
        assert!(p.partial.values().all(|rest| rest.len() < LINE_LIMIT));
        assert_eq!(pieces(""), [""]);
        assert_eq!(pieces(&"é".repeat(LINE_LIMIT)).len(), 2);
    }

    #[test]
    fn a_failed_step_keeps_its_last_lines() {
        let mut p = Progress::default();
        let run = vertex("sha256:c", "[2/2] RUN ./build", Some(1), None);
        let msg: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let log = VertexLog {
            vertex: "sha256:c".into(),
            timestamp: at(2),
            stream: 2,
            msg: msg.into_bytes(),
        };
        let failed = Vertex {
            error: "process \"/bin/sh -c ./build\" did not complete successfully".into(),
            ..vertex("sha256:c", "[2/2] RUN ./build", Some(1), Some(3))
        };
        let lines = render(
            &mut p,
            StatusResponse {
                vertexes: vec![run, failed],
                logs: vec![log],
                ..Default::default()
            },
        );
        assert!(lines.iter().any(|l| l.starts_with("#1 ERROR: process")));
        let (step, tail) = p.failed_step().expect("a failed step");
        assert_eq!(step, "[2/2] RUN ./build");
        assert_eq!(tail.len(), KEPT_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("line 40"));
        assert_eq!(tail.first().map(String::as_str), Some("line 11"));
    }

    #[test]
    fn buildkit_s_own_work_is_not_a_step() {
        assert!(is_step("[2/3] RUN make"));
        assert!(is_step("[build 1/4] FROM docker.io/library/rust"));
        assert!(!is_step("[internal] load .dockerignore"));
        assert!(!is_step("exporting to image"));
        assert!(!is_step("[auth] library/rust:pull token"));
    }
}
