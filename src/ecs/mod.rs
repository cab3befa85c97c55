//! Amazon ECS as data: the task definitions a deploy edits. No network here (the client is
//! `aws::ecs`, the step `steps::deploy`).

pub mod task_definition;

pub use task_definition::TaskDefinition;
