//! The steps of a run, in the order `run` calls them: each joins the clients below with the
//! workflow's log, and takes plain data from the lower layers, never another step's types.

pub mod credentials;
pub mod deploy;
pub mod github;
pub mod image;
pub mod login;
pub mod outputs;
pub mod push;
pub mod repository;
#[cfg(test)]
mod testing;
