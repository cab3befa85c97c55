//! A task definition file (`task-definition`), then the changes a deploy makes to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::ecs::task_definition::TaskDefinition;

fuzz_target!(|text: &str| {
    let Ok(definition) = TaskDefinition::parse(text) else {
        return;
    };
    let mut definition = definition.without_read_only_keys();
    assert!(definition.read_only_keys().is_empty());
    for (name, _) in definition.containers() {
        definition.set_image(&name, "host/app@sha256:0123");
        definition.set_env(&name, "KEY", "value");
    }
    let written = definition.to_json();
    TaskDefinition::parse(&written).expect("what is written parses again");
});
