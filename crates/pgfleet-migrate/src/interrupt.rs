//! A request to stop, raised by the CLI on SIGINT/SIGTERM and polled by a run.

use tokio::sync::watch;

/// Whether the user asked the run to stop. The default never fires.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Option<watch::Receiver<bool>>);

impl Interrupt {
    /// An interrupt and the sender that raises it.
    pub fn channel() -> (watch::Sender<bool>, Interrupt) {
        let (sender, receiver) = watch::channel(false);
        (sender, Interrupt(Some(receiver)))
    }

    pub fn is_raised(&self) -> bool {
        self.0.as_ref().is_some_and(|r| *r.borrow())
    }

    /// Resolves once the interrupt is raised; never, for the default one.
    pub async fn raised(&self) {
        match &self.0 {
            Some(receiver) => {
                let mut receiver = receiver.clone();
                // A dropped sender can no longer raise it: wait forever, as the default does.
                if receiver.wait_for(|raised| *raised).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}
