//! The registry's data plane (the OCI distribution API). For now only the login check; the
//! image push engines grow here.

pub mod login;
