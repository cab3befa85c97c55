//! A request whose JSON body is ours, and the answer's JSON as it came: for the ECS calls that
//! carry a task definition. The SDK's types cannot be read from or written to JSON, and a task
//! definition must pass through whole (fields this build of the SDK does not know included, a
//! file from the console read as ECS reads it). The SDK still routes, signs and retries the
//! call; this interceptor only swaps the serialised body before signing and keeps the answer's.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct RawJson {
    /// Sent in place of the body the SDK serialised; `None` keeps the SDK's.
    body: Option<String>,
    answer: Arc<Mutex<Option<Vec<u8>>>>,
}

impl RawJson {
    /// Sends `body` instead of what the SDK serialised.
    pub fn sending(body: String) -> Self {
        Self {
            body: Some(body),
            ..Self::default()
        }
    }

    /// Keeps the answer's body only.
    pub fn reading() -> Self {
        Self::default()
    }

    /// The body of the last answer read, as the service sent it.
    pub fn answer(&self) -> Option<Vec<u8>> {
        self.answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Intercept for RawJson {
    fn name(&self) -> &'static str {
        "RawJson"
    }

    // Before signing, on every attempt: the signature covers the body that is sent.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(body) = &self.body {
            let request = context.request_mut();
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = SdkBody::from(body.clone());
        }
        Ok(())
    }

    // After deserialisation the orchestrator has read the whole body into memory.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self
                .answer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bytes.to_vec());
        }
        Ok(())
    }
}
