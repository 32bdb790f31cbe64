//! One watch per kind, shared by every controller that needs it. A watch is reflected into one
//! store, then its events are handed to each subscriber: the space controller's triggers and the
//! kind's own controller see the same events, deletions included (kube's shared reflectors pass
//! on applied objects only, and a deleted pool must reconcile the spaces placed on it).

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{Stream, StreamExt};
use kube::runtime::watcher::{self, Event};
use tracing::warn;

use super::caches::Events;

type Filter<K> = Box<dyn Fn(&K) -> bool + Send + Sync>;

/// The subscribers of one watch, before it runs.
pub struct Fanout<K> {
    name: &'static str,
    source: Events<K>,
    subscribers: Vec<Subscriber<K>>,
    /// Opened at the first complete list: the store upstream holds it by then.
    filled: tokio::sync::watch::Sender<bool>,
}

struct Subscriber<K> {
    sender: UnboundedSender<Event<K>>,
    keep: Option<Filter<K>>,
}

/// Events of a shared watch, as a watch stream (never an error: the driver logs them).
pub type Subscription<K> = std::pin::Pin<Box<dyn Stream<Item = Result<Event<K>, watcher::Error>> + Send>>;

impl<K: Clone + Send + Sync + 'static> Fanout<K> {
    pub fn new(name: &'static str, source: Events<K>) -> Self {
        Fanout { name, source, subscribers: Vec::new(), filled: tokio::sync::watch::channel(false).0 }
    }

    /// Becomes true once the watch has listed every object (and so the store it fills has). Every
    /// waiter is woken, unlike kube's `Store::wait_until_ready`, which only wakes the last task to
    /// poll it: a kind's own controller already waits there.
    pub fn filled(&self) -> tokio::sync::watch::Receiver<bool> {
        self.filled.subscribe()
    }

    /// Every event of the watch.
    pub fn subscribe(&mut self) -> Subscription<K> {
        self.subscribe_where(None)
    }

    /// The events of the objects `keep` accepts (list markers always pass).
    pub fn subscribe_filtered(&mut self, keep: impl Fn(&K) -> bool + Send + Sync + 'static) -> Subscription<K> {
        self.subscribe_where(Some(Box::new(keep)))
    }

    fn subscribe_where(&mut self, keep: Option<Filter<K>>) -> Subscription<K> {
        let (sender, receiver): (_, UnboundedReceiver<Event<K>>) = unbounded();
        self.subscribers.push(Subscriber { sender, keep });
        receiver.map(Ok).boxed()
    }

    /// Drives the watch (and the store it fills) until every subscriber is gone or the watch ends.
    pub async fn run(self) {
        let Fanout { name, mut source, mut subscribers, filled } = self;
        while let Some(event) = source.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    warn!(watch = name, error = %e, "watch failed; retrying with backoff");
                    continue;
                }
            };
            if matches!(event, Event::InitDone) {
                filled.send_replace(true);
            }
            subscribers.retain(|Subscriber { sender, keep }| {
                let wanted = match (&event, keep) {
                    (_, None) | (Event::Init | Event::InitDone, _) => true,
                    (Event::Apply(o) | Event::InitApply(o) | Event::Delete(o), Some(keep)) => keep(o),
                };
                // A subscriber whose receiver is gone (its controller stopped) is dropped.
                !wanted || sender.unbounded_send(event.clone()).is_ok()
            });
            if subscribers.is_empty() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_every_event_it_wants_deletions_included() {
        let events: Vec<Result<Event<u32>, watcher::Error>> =
            vec![Ok(Event::Init), Ok(Event::InitApply(1)), Ok(Event::InitDone), Ok(Event::Apply(2)), Ok(Event::Delete(1))];
        let mut fanout = Fanout::new("test", futures::stream::iter(events).boxed());
        let all = fanout.subscribe();
        let odd = fanout.subscribe_filtered(|n| n % 2 == 1);
        let filled = fanout.filled();
        assert!(!*filled.borrow());
        fanout.run().await;
        assert!(*filled.borrow(), "the list was complete");
        let all: Vec<_> = all.map(|e| e.map_err(|_| ())).collect::<Vec<_>>().await;
        let odd: Vec<_> = odd.map(|e| e.map_err(|_| ())).collect::<Vec<_>>().await;
        let shown = |v: &[Result<Event<u32>, ()>]| -> Vec<String> {
            v.iter()
                .map(|e| match e {
                    Ok(Event::Init) => "init".to_string(),
                    Ok(Event::InitDone) => "done".to_string(),
                    Ok(Event::InitApply(n)) | Ok(Event::Apply(n)) => format!("apply {n}"),
                    Ok(Event::Delete(n)) => format!("delete {n}"),
                    Err(()) => "error".to_string(),
                })
                .collect()
        };
        assert_eq!(shown(&all), ["init", "apply 1", "done", "apply 2", "delete 1"]);
        assert_eq!(shown(&odd), ["init", "apply 1", "done", "delete 1"]);
    }
}
