//! The in-process HTTP stand-ins (OIDC issuer, AWS proxy) run on one shared runtime, each on a
//! loopback listener bound to port 0 and kept, and stop when their handle is dropped.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// A served axum router; aborted on drop.
pub(crate) struct Served {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn serve(router: axum::Router) -> Served {
    let listener = block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = runtime().spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Served { url, task }
}
