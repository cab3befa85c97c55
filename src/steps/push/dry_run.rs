//! `push: false`: what a push would do, from reads only. A conflict is a warning here: this run
//! writes nothing, but the push after it would fail.

use super::lookup::look_up;
use super::PushRequest;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};

pub async fn report(request: &PushRequest<'_>, repository_exists: bool, workflow: &Workflow) {
    let image = request.artifact.id();
    if !repository_exists {
        workflow.info(&format!(
            "push is false: a push would create the repository and write {image} as {}.",
            request.tags.join(", ")
        ));
        return;
    }
    match look_up(request, workflow).await {
        Ok(lookup) if lookup.missing.is_empty() => workflow.info(&format!(
            "push is false: every tag already points to {image}; a push would send nothing."
        )),
        Ok(lookup) => workflow.info(&format!(
            "push is false: a push would write {image} as {}{}.",
            lookup.missing.join(", "),
            if lookup.unchanged.is_empty() {
                String::new()
            } else {
                format!(" (unchanged: {})", lookup.unchanged.join(", "))
            }
        )),
        Err(e) => {
            let (title, message) = match e.downcast_ref::<Failure>() {
                Some(f) => (f.title.clone(), f.message.clone()),
                None => ("Registry lookup failed".to_string(), e.to_string()),
            };
            workflow.annotate(
                Level::Warning,
                &format!("A push would fail: {title}"),
                &message,
            );
        }
    }
}
