//! Connections that just worked, kept for the next attempts.
//!
//! Probes are open-loop (see [`crate::probe`]): attempts may overlap, so a
//! probe cannot own a single connection. Instead each attempt takes an idle
//! connection — one that served the previous attempt successfully — or opens
//! a new one, and gives it back only after it worked. A connection that
//! failed or timed out is dropped, so a broken one never serves twice and
//! attempts during an outage each try afresh through the VIP.
//!
//! In steady state one connection serves every attempt in turn. After an
//! outage several attempts may have connected at once; only
//! [`MAX_IDLE`] of them are kept so a probe does not hold dozens of server
//! connections (PostgreSQL's default limit is 100) for the rest of the run.

use std::sync::Mutex;

/// How many idle connections a probe keeps at most.
pub const MAX_IDLE: usize = 4;

/// A small stack of idle connections, most recently used on top.
#[derive(Debug)]
pub(crate) struct Idle<C> {
    connections: Mutex<Vec<C>>,
}

impl<C> Default for Idle<C> {
    fn default() -> Self {
        Self { connections: Mutex::new(Vec::new()) }
    }
}

impl<C> Idle<C> {
    /// The most recently returned connection, if any.
    pub(crate) fn take(&self) -> Option<C> {
        self.lock().pop()
    }

    /// Returns a connection that just worked; beyond [`MAX_IDLE`] it is
    /// dropped (closed) instead.
    pub(crate) fn keep(&self, connection: C) {
        let mut connections = self.lock();
        if connections.len() < MAX_IDLE {
            connections.push(connection);
        }
    }

    /// The stack; a panic while holding it cannot leave it inconsistent
    /// (push and pop are atomic), so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<C>> {
        self.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_connection_kept_is_taken_first() {
        let idle = Idle::default();
        assert_eq!(idle.take(), None::<u32>);
        idle.keep(1);
        idle.keep(2);
        assert_eq!(idle.take(), Some(2));
        assert_eq!(idle.take(), Some(1));
        assert_eq!(idle.take(), None);
    }

    #[test]
    fn connections_beyond_the_limit_are_dropped() {
        let idle = Idle::default();
        for c in 0..10 {
            idle.keep(c);
        }
        let mut kept = Vec::new();
        while let Some(c) = idle.take() {
            kept.push(c);
        }
        assert_eq!(kept.len(), MAX_IDLE);
        assert_eq!(kept, vec![3, 2, 1, 0]);
    }
}
