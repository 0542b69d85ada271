//! The station's parameter values ([`ServeConfig::params`](super::ServeConfig::params)):
//! applied by name or by step, checked against the algorithm before serving.

use serde_json::{Map, Value};

use super::Context;
use crate::error::{Error, InputCode};
use crate::params::params_from_json;
use crate::types::AlgorithmInfo;

impl<W> Context<W> {
    /// The station's params for `step` of `info` (see [`ServeConfig::params`]).
    pub(super) fn station_params(&self, info: &AlgorithmInfo, step: u32) -> Map<String, Value> {
        station_params_for(info, &self.params, step)
    }
}

/// Whether `params` is keyed by step index (`{"1": {...}}`) rather than by name.
fn per_step(params: &Map<String, Value>) -> bool {
    !params.is_empty() && params.iter().all(|(key, value)| key.parse::<u32>().is_ok() && value.is_object())
}

fn station_params_for(info: &AlgorithmInfo, params: &Map<String, Value>, step: u32) -> Map<String, Value> {
    if per_step(params) {
        return params.get(&step.to_string()).and_then(Value::as_object).cloned().unwrap_or_default();
    }
    let Some(spec) = info.steps.iter().find(|s| s.index == step) else {
        return Map::new();
    };
    params.iter().filter(|(name, _)| spec.params.iter().any(|p| &p.name == *name)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Check the station's params against the algorithm's steps before serving:
/// every name must be declared by a step it applies to, every value must obey
/// the step's rules (1006 otherwise).
pub fn check_station_params(info: &AlgorithmInfo, params: &Map<String, Value>) -> crate::Result<()> {
    if per_step(params) {
        for (key, values) in params {
            let index: u32 = key.parse().unwrap_or_default();
            let step = info.steps.iter().find(|s| s.index == index).ok_or_else(|| {
                Error::input(InputCode::InvalidParams, format!("the params name step {index}, which the algorithm lacks"))
            })?;
            params_from_json(step, values.as_object().unwrap_or(&Map::new()))?;
        }
        return Ok(());
    }
    if let Some(unknown) = params.keys().find(|name| !info.steps.iter().any(|s| s.params.iter().any(|p| &p.name == *name))) {
        return Err(Error::input(InputCode::InvalidParams, format!("no step of the algorithm has a param `{unknown}`")));
    }
    for step in &info.steps {
        params_from_json(step, &station_params_for(info, params, step.index))?;
    }
    Ok(())
}
