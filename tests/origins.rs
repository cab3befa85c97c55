//! Credentials stay on the registry's origin: a registry (here a proxy in front of the ECR
//! stand-in) that answers an upload with a `Location` on another port gets the run refused,
//! and the other port sees no request, so neither the registry password nor the image goes
//! there.

use support::base_images::SourceRegistry;
use support::{RegistryProxy, StandIns};

#[test]
fn an_upload_location_on_another_port_is_refused_and_nothing_is_sent_there() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1", &s.registry_host());
    let registry = RegistryProxy::start(&s.registry.url);
    // Same host, another port: another origin, which would collect what is sent to it.
    let elsewhere = RegistryProxy::start(&s.registry.url);
    registry.send_uploads_to(elsewhere.url());
    let result = s
        .action()
        .input("registry-url", registry.url())
        .input("repository", "octo-org/patched")
        .input("base-image", &base.reference)
        .input("env", "MODE=patched")
        .run();
    result.expect_code(1);
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{}", result.stdout);
    assert!(errors[0].1.contains("another origin"), "{errors:?}");
    assert!(errors[0].1.contains(elsewhere.url()), "{errors:?}");
    assert!(elsewhere.log().is_empty(), "{:?}", elsewhere.log());
    assert!(s.reader().tags("octo-org/patched").is_empty());
    result.assert_no_secret_leaked(&s.secrets(), true);
}
