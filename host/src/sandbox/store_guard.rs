//! The store's resource limiter, which enforces the memory and table caps of
//! [`Limits`] on every growth a guest asks for.

use super::limits::Limits;

/// The store's resource limiter: caps the total linear memory and table elements
/// of the store (not each memory separately, as wasmtime's `StoreLimits` does) and
/// remembers what it refused and the peak it saw, for the call report.
#[derive(Debug)]
pub(crate) struct StoreGuard {
    memory_cap: u64,
    table_cap: u64,
    instances: usize,
    memories: usize,
    tables: usize,
    memory_total: u64,
    table_total: u64,
    /// Highest `memory_total` since the last [`start_call`](Self::start_call).
    pub(crate) memory_peak: u64,
    /// A request refused since the last `start_call`: what was asked for.
    pub(crate) refused: Option<Refusal>,
}

/// A growth the limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Linear memory: the total the guest would have reached.
    Memory { wanted_total: u64 },
    /// Table elements: the total the guest would have reached.
    Table { wanted_total: u64 },
}

impl StoreGuard {
    pub(crate) fn new(limits: &Limits) -> Self {
        let (instances, memories, tables) = limits.counts();
        StoreGuard {
            memory_cap: limits.memory_bytes(),
            table_cap: limits.table_elements(),
            instances,
            memories,
            tables,
            memory_total: 0,
            table_total: 0,
            memory_peak: 0,
            refused: None,
        }
    }

    /// Forget the previous call's peak and refusal.
    pub(crate) fn start_call(&mut self) {
        self.memory_peak = self.memory_total;
        self.refused = None;
    }
}

impl wasmtime::ResourceLimiter for StoreGuard {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Called for every memory at creation (current = 0) and on every grow, so
        // the running sum of the deltas is the store's total.
        let delta = desired.saturating_sub(current) as u64;
        let wanted_total = self.memory_total.saturating_add(delta);
        if wanted_total > self.memory_cap {
            self.refused = Some(Refusal::Memory { wanted_total });
            return Ok(false);
        }
        self.memory_total = wanted_total;
        self.memory_peak = self.memory_peak.max(wanted_total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The growth was counted but did not happen (the memory's own maximum):
        // nothing to undo that matters for a cap, the total only over-counts.
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current) as u64;
        let wanted_total = self.table_total.saturating_add(delta);
        if wanted_total > self.table_cap {
            self.refused = Some(Refusal::Table { wanted_total });
            return Ok(false);
        }
        self.table_total = wanted_total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.memories
    }

    fn tables(&self) -> usize {
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    #[test]
    fn the_memory_cap_is_on_the_sum_of_all_memories() {
        let mut guard = StoreGuard::new(&Limits::default().with_memory_bytes(4 << 16));
        assert!(guard.memory_growing(0, 2 << 16, None).expect("no error"));
        assert!(guard.memory_growing(0, 2 << 16, None).expect("no error"), "a second memory fits exactly");
        assert!(!guard.memory_growing(2 << 16, 3 << 16, None).expect("no error"), "one page more is refused");
        assert_eq!(guard.refused, Some(Refusal::Memory { wanted_total: 5 << 16 }));
        assert_eq!(guard.memory_peak, 4 << 16);
        guard.start_call();
        assert_eq!(guard.refused, None);
        assert_eq!(guard.memory_peak, 4 << 16, "the peak of a call starts at the current total");
    }

    #[test]
    fn the_table_cap_is_on_the_sum_of_all_tables() {
        let mut guard = StoreGuard::new(&Limits::default().with_table_elements(100));
        assert!(guard.table_growing(0, 60, None).expect("no error"));
        assert!(!guard.table_growing(0, 41, None).expect("no error"));
        assert_eq!(guard.refused, Some(Refusal::Table { wanted_total: 101 }));
    }
}
