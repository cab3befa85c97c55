//! A task definition as JSON: the form `DescribeTaskDefinition` returns, the console exports and
//! `RegisterTaskDefinition` takes. It is kept as JSON, not as the SDK's types, so that every
//! field passes through unchanged, including fields newer than this build of the SDK, and so
//! that a file copied from the console is read exactly as ECS would read it.

use serde_json::{Map, Value};

/// Keys `DescribeTaskDefinition` (and the console's JSON view) returns and
/// `RegisterTaskDefinition` refuses as unexpected.
pub const READ_ONLY_KEYS: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    body: Map<String, Value>,
}

impl TaskDefinition {
    /// A task definition from a file: the definition itself, or a `describe-task-definition`
    /// answer (`{"taskDefinition": {...}, "tags": [...]}`), whose tags are kept.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))?;
        let Value::Object(mut object) = value else {
            return Err("is not a JSON object".to_string());
        };
        match object.remove("taskDefinition") {
            Some(definition) => Self::described(definition, object.remove("tags")),
            None => Self::checked(object),
        }
    }

    /// What `DescribeTaskDefinition` returned: the definition and, beside it, its tags.
    pub fn described(definition: Value, tags: Option<Value>) -> Result<Self, String> {
        let Value::Object(mut body) = definition else {
            return Err("'taskDefinition' is not a JSON object".to_string());
        };
        if let Some(tags) = tags.filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
            body.insert("tags".to_string(), tags);
        }
        Self::checked(body)
    }

    /// The shape every later edit relies on: a family and named containers, each with an image.
    fn checked(body: Map<String, Value>) -> Result<Self, String> {
        if body
            .get("family")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err("has no 'family' (the task definition's name)".to_string());
        }
        let Some(containers) = body.get("containerDefinitions").and_then(Value::as_array) else {
            return Err("has no 'containerDefinitions' list".to_string());
        };
        if containers.is_empty() {
            return Err("has an empty 'containerDefinitions' list".to_string());
        }
        for (i, container) in containers.iter().enumerate() {
            if container.get("name").and_then(Value::as_str).is_none() {
                return Err(format!("containerDefinitions[{i}] has no 'name'"));
            }
            if container.get("image").and_then(Value::as_str).is_none() {
                return Err(format!("containerDefinitions[{i}] has no 'image'"));
            }
        }
        Ok(Self { body })
    }

    pub fn family(&self) -> &str {
        self.body["family"].as_str().unwrap_or_default()
    }

    /// The CPU architecture the tasks run on (`runtimePlatform.cpuArchitecture`: `X86_64`,
    /// `ARM64`), when the definition names one.
    pub fn cpu_architecture(&self) -> Option<&str> {
        self.body
            .get("runtimePlatform")?
            .get("cpuArchitecture")?
            .as_str()
    }

    /// Each container's name and image, in the definition's order.
    pub fn containers(&self) -> Vec<(String, String)> {
        self.container_list()
            .iter()
            .map(|c| {
                let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
                (text("name"), text("image"))
            })
            .collect()
    }

    pub fn has_container(&self, name: &str) -> bool {
        self.containers().iter().any(|(n, _)| n == name)
    }

    /// The read-only keys present, which [`Self::without_read_only_keys`] drops.
    pub fn read_only_keys(&self) -> Vec<&'static str> {
        READ_ONLY_KEYS
            .into_iter()
            .filter(|k| self.body.contains_key(*k))
            .collect()
    }

    /// What `RegisterTaskDefinition` accepts: everything but the read-only keys.
    pub fn without_read_only_keys(mut self) -> Self {
        for key in READ_ONLY_KEYS {
            self.body.remove(key);
        }
        self
    }

    /// Sets `container`'s image; false when there is no such container.
    pub fn set_image(&mut self, container: &str, image: &str) -> bool {
        match self.container_mut(container) {
            Some(c) => {
                c.insert("image".to_string(), Value::from(image));
                true
            }
            None => false,
        }
    }

    /// Sets `key` in `container`'s environment: the variable's value is replaced where it is,
    /// or the variable is added last. False when there is no such container.
    pub fn set_env(&mut self, container: &str, key: &str, value: &str) -> bool {
        let Some(c) = self.container_mut(container) else {
            return false;
        };
        let environment = c
            .entry("environment")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !environment.is_array() {
            *environment = Value::Array(Vec::new());
        }
        let list = environment.as_array_mut().expect("made an array above");
        match list.iter_mut().find(|v| v["name"] == key) {
            Some(variable) => variable["value"] = Value::from(value),
            None => list.push(serde_json::json!({ "name": key, "value": value })),
        }
        true
    }

    /// The JSON `RegisterTaskDefinition` is sent.
    pub fn to_json(&self) -> String {
        Value::Object(self.body.clone()).to_string()
    }

    fn container_list(&self) -> &[Value] {
        self.body["containerDefinitions"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    fn container_mut(&mut self, name: &str) -> Option<&mut Map<String, Value>> {
        self.body
            .get_mut("containerDefinitions")?
            .as_array_mut()?
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
    }
}

/// An image reference without its tag or digest: `host/repo:tag` and `host/repo@sha256:...`
/// are both `host/repo` (a port's colon comes before the last slash).
pub fn repository_of(image: &str) -> &str {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

#[cfg(test)]
#[path = "task_definition_tests.rs"]
mod tests;
