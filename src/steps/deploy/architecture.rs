//! Whether the image runs where the service runs it. A task definition that names its CPU
//! architecture (`runtimePlatform.cpuArchitecture`) must get an image with that platform:
//! otherwise ECS starts tasks that stop at once (`exec format error`), and only the wait for the
//! rollout would tell. Checked before anything is registered.

use crate::ecs::TaskDefinition;
use crate::error::Failure;
use crate::oci::Platform;

/// ECS's names of the CPU architectures and the platforms' names of the same.
const ARCHITECTURES: [(&str, &str); 2] = [("X86_64", "amd64"), ("ARM64", "arm64")];

/// `Ok` when the definition names no architecture, when the image's platforms are not known,
/// or when one of them is the definition's.
pub fn check(
    definition: &TaskDefinition,
    platforms: &[Platform],
    image: &str,
) -> Result<(), Failure> {
    let Some(wanted) = definition.cpu_architecture() else {
        return Ok(());
    };
    if platforms.is_empty() {
        return Ok(());
    }
    let architecture = ARCHITECTURES
        .iter()
        .find(|(ecs, _)| ecs.eq_ignore_ascii_case(wanted))
        .map_or(wanted.to_ascii_lowercase(), |(_, arch)| arch.to_string());
    if platforms
        .iter()
        .any(|p| p.os == "linux" && p.architecture == architecture)
    {
        return Ok(());
    }
    let has: Vec<String> = platforms.iter().map(Platform::to_string).collect();
    Err(Failure::new(
        "The image cannot run on the service's CPU architecture",
        format!(
            "The task definition {} runs on {wanted} (runtimePlatform.cpuArchitecture), but {image} \
             is for {} only. Build it for linux/{architecture} (the platform input, or platforms \
             for one image that serves several), or change the task definition's \
             cpuArchitecture. Nothing was registered in ECS.",
            definition.family(),
            has.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(architecture: Option<&str>) -> TaskDefinition {
        let mut body = json!({
            "family": "web",
            "containerDefinitions": [{"name": "web", "image": "app:1"}]
        });
        if let Some(a) = architecture {
            body["runtimePlatform"] =
                json!({"cpuArchitecture": a, "operatingSystemFamily": "LINUX"});
        }
        TaskDefinition::parse(&body.to_string()).unwrap()
    }

    fn platforms(names: &[&str]) -> Vec<Platform> {
        names.iter().map(|n| Platform::parse(n).unwrap()).collect()
    }

    #[test]
    fn an_image_for_the_service_architecture_passes() {
        let both = platforms(&["linux/amd64", "linux/arm64"]);
        assert!(check(&definition(Some("ARM64")), &both, "i").is_ok());
        assert!(check(
            &definition(Some("X86_64")),
            &platforms(&["linux/amd64"]),
            "i"
        )
        .is_ok());
        assert!(check(&definition(None), &platforms(&["linux/arm64"]), "i").is_ok());
        assert!(check(&definition(Some("ARM64")), &[], "i").is_ok());
    }

    #[test]
    fn an_image_for_another_architecture_is_refused_naming_both() {
        let failure = check(
            &definition(Some("ARM64")),
            &platforms(&["linux/amd64"]),
            "r/app@sha256:1",
        )
        .unwrap_err();
        assert!(
            failure.message.contains("runs on ARM64"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("is for linux/amd64 only"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("linux/arm64"),
            "{}",
            failure.message
        );
    }
}
