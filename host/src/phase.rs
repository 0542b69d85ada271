//! The lifecycle phases of an algorithm: one type for the whole host. The limits
//! give each phase its deadline, an instance names its calls by it, the runner
//! and the audit log report it, and `serve` reads it from the platform's `phase`
//! field (with serde, once, at the edge).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A call of the algorithm's lifecycle. Serialised with the platform's names
/// (`info`, `setup`, `on_step_start`, `pre`, `execute`, `on_step_finish`,
/// `reset`, `teardown`); displayed with the contract's (`get-info`,
/// `pre-execute`, `on-step-start`, ...).
///
/// ```
/// use pv_host::Phase;
///
/// let phase: Phase = serde_json::from_str("\"pre\"").unwrap();
/// assert_eq!(phase, Phase::PreExecute);
/// assert_eq!(phase.to_string(), "pre-execute");
/// assert_eq!(serde_json::to_string(&Phase::OnStepStart).unwrap(), "\"on_step_start\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Instantiation (the component's start functions) and `get-info`. Default
    /// deadline 5 s, shared by the hooks.
    Info,
    /// `setup`. Default deadline 60 s.
    Setup,
    /// `on-step-start`. Default deadline 5 s, shared by the hooks.
    OnStepStart,
    /// `pre-execute` (the platform's `pre`). Default deadline 10 s.
    #[serde(rename = "pre")]
    PreExecute,
    /// `execute`. Default deadline 30 s.
    Execute,
    /// `on-step-finish`. Default deadline 5 s, shared by the hooks.
    OnStepFinish,
    /// `reset`. Default deadline 5 s, shared by the hooks.
    Reset,
    /// `teardown`. Default deadline 5 s, shared by the hooks.
    Teardown,
}

/// Which deadline a phase runs under: setup, pre-execute and execute have one
/// each; the hooks share one, as on the platform (and in a manifest's
/// `hook_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineSlot {
    Setup = 0,
    PreExecute = 1,
    Execute = 2,
    Hooks = 3,
}

impl DeadlineSlot {
    /// The platform's default deadline of each slot, by slot index.
    pub(crate) const DEFAULTS: [Duration; 4] =
        [Duration::from_secs(60), Duration::from_secs(10), Duration::from_secs(30), Duration::from_secs(5)];
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 8] = [
        Phase::Info,
        Phase::Setup,
        Phase::OnStepStart,
        Phase::PreExecute,
        Phase::Execute,
        Phase::OnStepFinish,
        Phase::Reset,
        Phase::Teardown,
    ];

    /// The platform's default deadline for the phase.
    pub fn default_deadline(self) -> Duration {
        DeadlineSlot::DEFAULTS[self.deadline_slot() as usize]
    }

    /// Whether the phase is one of the hooks that share a deadline.
    pub fn is_hook(self) -> bool {
        self.deadline_slot() == DeadlineSlot::Hooks
    }

    pub(crate) fn deadline_slot(self) -> DeadlineSlot {
        match self {
            Phase::Setup => DeadlineSlot::Setup,
            Phase::PreExecute => DeadlineSlot::PreExecute,
            Phase::Execute => DeadlineSlot::Execute,
            Phase::Info | Phase::OnStepStart | Phase::OnStepFinish | Phase::Reset | Phase::Teardown => DeadlineSlot::Hooks,
        }
    }

    /// The contract's name of the call, as messages and logs write it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Info => "get-info",
            Phase::Setup => "setup",
            Phase::OnStepStart => "on-step-start",
            Phase::PreExecute => "pre-execute",
            Phase::Execute => "execute",
            Phase::OnStepFinish => "on-step-finish",
            Phase::Reset => "reset",
            Phase::Teardown => "teardown",
        }
    }

    /// The platform's name, as the `phase` field of its frames carries it.
    pub fn wire_name(self) -> &'static str {
        match self {
            Phase::Info => "info",
            Phase::Setup => "setup",
            Phase::OnStepStart => "on_step_start",
            Phase::PreExecute => "pre",
            Phase::Execute => "execute",
            Phase::OnStepFinish => "on_step_finish",
            Phase::Reset => "reset",
            Phase::Teardown => "teardown",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_names_are_the_serde_names() {
        for phase in Phase::ALL {
            let json = serde_json::to_value(phase).expect("serialises");
            assert_eq!(json, serde_json::Value::from(phase.wire_name()));
            assert_eq!(serde_json::from_value::<Phase>(json).expect("parses"), phase);
        }
        assert!(serde_json::from_str::<Phase>("\"pre-execute\"").is_err(), "only the platform's names are read");
    }

    #[test]
    fn the_hooks_share_one_deadline() {
        let hooks: Vec<Phase> = Phase::ALL.into_iter().filter(|phase| phase.is_hook()).collect();
        assert_eq!(hooks, [Phase::Info, Phase::OnStepStart, Phase::OnStepFinish, Phase::Reset, Phase::Teardown]);
        assert!(hooks.iter().all(|phase| phase.default_deadline() == Duration::from_secs(5)));
        assert_eq!(Phase::Execute.default_deadline(), Duration::from_secs(30));
    }
}
