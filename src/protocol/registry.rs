//! The connected peers of one protocol, for protocol crates that reach peers from outside
//! their handlers (send to one, announce to all).
//!
//! A handler registers its peer when it starts and holds the returned [`Registration`]; the
//! entry goes away when that guard drops, however the handler ends (return, error, panic,
//! session end). A peer that reconnects while its old handler is still winding down keeps
//! its new entry: each registration removes only the entry it made.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::crypto::NodeId;

/// A shared map from connected peers to what a protocol keeps for each (a
/// [`MsgSender`](super::MsgSender), a request handle, per-peer state). Cloning shares it.
pub struct PeerRegistry<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

struct Inner<T> {
    entries: HashMap<NodeId, (u64, T)>,
    /// Tells registrations of the same peer apart.
    next_generation: u64,
}

impl<T> PeerRegistry<T> {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                entries: HashMap::new(),
                next_generation: 0,
            })),
        }
    }

    /// Adds `id` with `value`, replacing an earlier entry for it. The entry stays until the
    /// returned guard drops; keep it for as long as the handler runs.
    #[must_use = "the entry is removed when the registration drops"]
    pub fn register(&self, id: NodeId, value: T) -> Registration<T> {
        let mut inner = self.lock();
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.entries.insert(id, (generation, value));
        Registration {
            registry: self.clone(),
            id,
            generation,
        }
    }

    /// A copy of `id`'s entry, if it is registered.
    pub fn get(&self, id: &NodeId) -> Option<T>
    where
        T: Clone,
    {
        self.lock().entries.get(id).map(|(_, v)| v.clone())
    }

    /// Runs `f` on `id`'s entry, if it is registered, and returns what `f` returns. The
    /// registry is locked meanwhile: keep `f` short and never wait in it.
    pub fn with<R>(&self, id: &NodeId, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.lock().entries.get_mut(id).map(|(_, v)| f(v))
    }

    /// Copies of every entry, to use without holding the lock (e.g. to send to each).
    pub fn snapshot(&self) -> Vec<(NodeId, T)>
    where
        T: Clone,
    {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .map(|(id, (_, v))| (*id, v.clone()))
            .collect()
    }

    /// Runs `f` on every entry. The registry is locked meanwhile: keep `f` short and never
    /// wait in it (a `try_send` is fine, a `send(..).await` is not possible).
    pub fn for_each(&self, mut f: impl FnMut(&NodeId, &T)) {
        for (id, (_, v)) in &self.lock().entries {
            f(id, v);
        }
    }

    /// The registered peers.
    pub fn ids(&self) -> Vec<NodeId> {
        self.lock().entries.keys().copied().collect()
    }

    /// How many peers are registered.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Every change is a single map insert or remove: a panic elsewhere while the lock
        // was held cannot leave the map half-updated.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Clone for PeerRegistry<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for PeerRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for PeerRegistry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerRegistry")
            .field("peers", &self.len())
            .finish()
    }
}

/// Keeps one peer's entry in a [`PeerRegistry`]; dropping it removes the entry, unless a
/// later registration of the same peer replaced it.
#[must_use = "the entry is removed when the registration drops"]
pub struct Registration<T> {
    registry: PeerRegistry<T>,
    id: NodeId,
    generation: u64,
}

impl<T> Registration<T> {
    /// The registered peer.
    pub fn id(&self) -> NodeId {
        self.id
    }
}

impl<T> Drop for Registration<T> {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        if inner
            .entries
            .get(&self.id)
            .is_some_and(|(generation, _)| *generation == self.generation)
        {
            inner.entries.remove(&self.id);
        }
    }
}

impl<T> fmt::Debug for Registration<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;

    #[test]
    fn an_entry_lives_as_long_as_its_registration() {
        let registry = PeerRegistry::new();
        let id = NodeKey::random().id();
        let registration = registry.register(id, 7u32);
        assert_eq!(registry.get(&id), Some(7));
        assert_eq!(registry.with(&id, |v| std::mem::replace(v, 8)), Some(7));
        assert_eq!(registry.snapshot(), vec![(id, 8)]);
        assert_eq!(registration.id(), id);
        drop(registration);
        assert_eq!(registry.get(&id), None);
        assert!(registry.is_empty());
    }

    #[test]
    fn an_old_registration_does_not_remove_the_peers_new_entry() {
        let registry = PeerRegistry::new();
        let id = NodeKey::random().id();
        let old = registry.register(id, "old");
        let new = registry.register(id, "new");
        drop(old);
        assert_eq!(registry.get(&id), Some("new"));
        drop(new);
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn a_panicking_handler_still_unregisters() {
        let registry = PeerRegistry::new();
        let id = NodeKey::random().id();
        let shared = registry.clone();
        let handler = std::thread::spawn(move || {
            let _registration = shared.register(id, ());
            panic!("handler failed");
        });
        assert!(handler.join().is_err());
        assert!(registry.ids().is_empty());
    }
}
