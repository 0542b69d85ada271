//! How a [`Runner`](super::Runner)(super::Runner) is sized: instances, queue, isolation, hooks.

/// Default length of the queue of calls waiting for an instance.
pub const DEFAULT_QUEUE: usize = 64;

/// Whether instances serve many sessions or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Instances go back to the pool after each call and serve any session
    /// (the default: sessions live in the host, so nothing leaks through them
    /// unless the algorithm keeps state of its own).
    #[default]
    Reuse,
    /// Each session gets a fresh instance of its own, torn down when the session
    /// ends: nothing an algorithm keeps in memory can reach another part.
    PerSession,
}

/// How a [`Runner`](super::Runner) is sized; every setting documents its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    pub(super) instances: usize,
    pub(super) queue: usize,
    pub(super) isolation: Isolation,
    pub(super) step_hooks: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            instances: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: DEFAULT_QUEUE,
            isolation: Isolation::default(),
            step_hooks: true,
        }
    }
}

impl RunnerConfig {
    /// Calls running at once, each on its own instance. Default: the number of
    /// CPUs.
    pub fn with_instances(mut self, instances: usize) -> Self {
        self.instances = instances.max(1);
        self
    }

    /// Calls that may wait for an instance; one more gets error 3001 (busy) at
    /// once. Default: [`DEFAULT_QUEUE`] (64).
    pub fn with_queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// Whether `pre_execute` and `execute` run `on-step-start` and
    /// `on-step-finish` around the phase. Off for a caller that calls the hooks
    /// itself ([`Runner::on_step_start`](super::Runner::on_step_start), [`Runner::on_step_finish`](super::Runner::on_step_finish)), as the
    /// platform's protocol does. Default: on.
    pub fn with_step_hooks(mut self, on: bool) -> Self {
        self.step_hooks = on;
        self
    }

    /// Instance reuse. Default: [`Isolation::Reuse`].
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }
}
