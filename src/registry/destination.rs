//! The repository a run pushes to, logged in: the client with ECR's credentials, the names
//! images take there, and the credentials the daemon's push sends with its request.

use super::client::RegistryClient;

pub struct Destination {
    pub client: RegistryClient,
    /// `host[:port]`, as image names start.
    pub host: String,
    pub repository: String,
    pub username: String,
    pub password: String,
}

impl Destination {
    /// `host/repository`, the image's name without a tag.
    pub fn repository_uri(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }
}
