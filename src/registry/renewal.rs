//! Basic credentials that can be renewed once, mid-push, when the registry starts refusing them.
//!
//! ECR's registry password is a token that lasts 12 hours and ends sooner when the session that
//! asked for it does; a long build followed by a push, or a chained role's one-hour session, can
//! outlive it. The client cannot fetch a new one itself (that is an AWS call, two layers up), so
//! it asks whoever holds the other end of a channel ([`Renewer`]) and waits for the answer.
//!
//! One renewal per run: a refusal of credentials fresh from ECR is not an expiry, and asking
//! again would only hide the real cause (a registry-url that belongs to another account, a
//! policy that denies the push). Requests already in flight with the old credentials when the
//! new ones arrive are sent again with the new ones, without asking a second time: they are
//! told apart by the generation of the credentials they carried.

use reqwest::header::HeaderValue;
use tokio::sync::{mpsc, oneshot};

use super::auth;

/// The answer to a renewal: a username and password, or why none could be had.
pub type Renewed = Result<(String, String), String>;

/// The client's end: asks for fresh credentials.
#[derive(Clone)]
pub struct Renewals {
    asks: mpsc::Sender<oneshot::Sender<Renewed>>,
}

/// The caller's end: answers each ask, until every client holding a [`Renewals`] is gone.
pub struct Renewer {
    asks: mpsc::Receiver<oneshot::Sender<Renewed>>,
}

pub fn channel() -> (Renewals, Renewer) {
    let (asks, asked) = mpsc::channel(1);
    (Renewals { asks }, Renewer { asks: asked })
}

impl Renewer {
    /// Answers every ask with `renew`; returns once no client can ask any more.
    pub async fn serve<F, Fut>(mut self, mut renew: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Renewed>,
    {
        while let Some(reply) = self.asks.recv().await {
            let _ = reply.send(renew().await);
        }
    }
}

/// What a refusal leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Send the request again: there are newer credentials than the refused ones.
    SendAgain,
    /// The refusal stands: no renewal is possible, or the renewed credentials were refused.
    Final,
}

/// Basic credentials sent with every request, and the one renewal they may have.
pub struct BasicCredentials {
    /// The `Authorization` value and its generation (0 until renewed).
    current: std::sync::Mutex<(u64, HeaderValue)>,
    /// The same credentials as a username and password, for a push the daemon makes.
    login: std::sync::Mutex<(String, String)>,
    renewals: Option<Renewals>,
    /// Held while a renewal is asked for, so that concurrent refusals ask once; `true` once
    /// one was asked for, whether it succeeded or not.
    renewing: tokio::sync::Mutex<bool>,
}

impl BasicCredentials {
    pub fn new(username: &str, password: &str, renewals: Option<Renewals>) -> Self {
        Self {
            current: std::sync::Mutex::new((0, header(username, password))),
            login: std::sync::Mutex::new((username.to_string(), password.to_string())),
            renewals,
            renewing: tokio::sync::Mutex::new(false),
        }
    }

    /// The same credentials, renewable through `renewals`.
    pub fn renewed_by(self, renewals: Renewals) -> Self {
        Self {
            renewals: Some(renewals),
            ..self
        }
    }

    /// The value to send, with its generation (given back to [`Self::refused`]).
    pub fn current(&self) -> (u64, HeaderValue) {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The username and password of [`Self::current`]'s generation, for a push the daemon
    /// makes with them.
    pub fn login(&self) -> (u64, (String, String)) {
        let generation = self.current().0;
        let login = self
            .login
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (generation, login)
    }

    /// Whether the registry has refused renewed credentials: its refusal is then final.
    pub fn renewed(&self) -> bool {
        self.current().0 > 0
    }

    /// The registry refused the credentials of generation `sent`: renews them if that has not
    /// been done yet. `Err` when the renewal itself failed.
    pub async fn refused(&self, sent: u64) -> Result<AfterRefusal, String> {
        let Some(renewals) = &self.renewals else {
            return Ok(AfterRefusal::Final);
        };
        let mut asked = self.renewing.lock().await;
        let generation = self.current().0;
        if generation > sent {
            return Ok(AfterRefusal::SendAgain);
        }
        if *asked {
            return Ok(AfterRefusal::Final);
        }
        *asked = true;
        let (reply, answer) = oneshot::channel();
        renewals
            .asks
            .send(reply)
            .await
            .map_err(|_| "nothing could renew them any more".to_string())?;
        let (username, password) = answer
            .await
            .map_err(|_| "the renewal was abandoned".to_string())??;
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            (generation + 1, header(&username, &password));
        *self
            .login
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (username, password);
        Ok(AfterRefusal::SendAgain)
    }
}

fn header(username: &str, password: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(&auth::basic_header(username, password))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_refusals_renew_once_and_a_refusal_of_the_renewed_is_final() {
        let (renewals, renewer) = channel();
        let credentials = std::sync::Arc::new(BasicCredentials::new("AWS", "old", Some(renewals)));
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let serving = {
            let asked = asked.clone();
            tokio::spawn(renewer.serve(move || {
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Ok(("AWS".to_string(), "new".to_string())) }
            }))
        };
        let refusals = (0..8).map(|_| {
            let credentials = credentials.clone();
            tokio::spawn(async move { credentials.refused(0).await })
        });
        for refusal in refusals {
            assert_eq!(refusal.await.unwrap(), Ok(AfterRefusal::SendAgain));
        }
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        let (generation, value) = credentials.current();
        assert_eq!(generation, 1);
        assert_eq!(value, auth::basic_header("AWS", "new").as_str());
        assert_eq!(credentials.refused(1).await, Ok(AfterRefusal::Final));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop(credentials);
        serving.await.unwrap();
    }

    #[tokio::test]
    async fn without_a_renewer_a_refusal_is_final_and_a_failed_renewal_says_why() {
        let fixed = BasicCredentials::new("AWS", "old", None);
        assert_eq!(fixed.refused(0).await, Ok(AfterRefusal::Final));

        let (renewals, renewer) = channel();
        let failing = BasicCredentials::new("AWS", "old", Some(renewals));
        tokio::spawn(renewer.serve(|| async { Err("STS said no".to_string()) }));
        assert_eq!(failing.refused(0).await, Err("STS said no".to_string()));
        assert!(!failing.renewed());
        assert_eq!(failing.refused(0).await, Ok(AfterRefusal::Final));
    }
}
