//! Running the calls: generation 1 (one lifecycle phase on the call's
//! version, sessions by id) and generation 2 (an execute on two images), and
//! the replies the platform reads.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::io::AsyncWrite;

use super::backend::{Sessions, Target};
use super::input::{PreparedCall, prepare_call};
use super::protocol::{self, EXCEPTION_ERROR_CODE, ExecuteCall, PhaseCall, Shape};
use super::{Context, ServeConfig, Task};
use crate::error::{Error, ErrorKind};
use crate::phase::Phase;
use crate::runner::{Reservation, Runner};
use crate::wire;

/// The reply to a failed call, as the platform reads it: a crashed guest is an
/// `error` frame 1009 (the platform's exception), everything else a result with
/// status ERROR and the code.
pub(super) fn error_reply(request_id: &Value, shape: Shape, err: &Error) -> Value {
    if err.kind() == ErrorKind::Trap {
        protocol::error(request_id, EXCEPTION_ERROR_CODE, &err.to_string())
    } else {
        protocol::result_error(request_id, shape, &err.code().number().to_string(), &err.to_string())
    }
}

fn unit_reply(request_id: &Value, shape: Shape, report: crate::CallReport<()>, message: &str) -> Value {
    match report.result {
        Ok(()) => protocol::result(request_id, shape, message, Map::new()),
        Err(err) => error_reply(request_id, shape, &err),
    }
}

/// A generation-1 call: sessions by id, one of the lifecycle phases, on the
/// call's [`Target`].
pub(super) fn phase_call<W>(
    context: &Arc<Context<W>>,
    config: &ServeConfig,
    sessions: &mut Sessions,
    request_id: Value,
    call: PhaseCall,
) -> Task
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shape = Shape::Phase(call.phase, call.step.step_index);
    if call.phase == Phase::Info {
        return Task::Reply(match context.backend.info_data(&call.pid) {
            // The platform reads the description under `data.info`.
            Ok(info) => protocol::result(&request_id, shape, "ok", Map::from_iter([("info".to_owned(), Value::Object(info))])),
            Err(err) => error_reply(&request_id, shape, &err),
        });
    }
    if call.phase == Phase::Teardown {
        let resolved = context.backend.phase_target(sessions, &call, config.pid.as_deref());
        let runners = context.backend.teardown_runners(resolved);
        let context = Arc::clone(context);
        return Task::Run(Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || runners.iter().for_each(Runner::shutdown)).await;
            context.out.send(&protocol::result(&request_id, shape, "torn down", Map::new())).await;
        }));
    }
    let target = match context.backend.phase_target(sessions, &call, config.pid.as_deref()) {
        Ok(target) => target,
        Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
    };
    if let Some(version) = target.describe() {
        tracing::debug!(request_id = %request_id, pid = %call.pid, session = %call.session_id, %version, "routed");
    }
    let session = call.session_id.clone();
    sessions.ensure(&target, &session, &call.session_context);
    let context = Arc::clone(context);
    if matches!(call.phase, Phase::PreExecute | Phase::Execute) {
        // Reserved now, in frame order and before any image is opened: a call
        // refused as busy costs nothing.
        let reservation = match target.runner().reserve(&session) {
            Ok(reservation) => reservation,
            Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
        };
        return Task::Run(Box::pin(async move {
            let reply = run_step(&context, &target, &request_id, &call, reservation).await;
            context.out.send(&reply).await;
        }));
    }
    Task::Run(Box::pin(async move {
        let runner = target.runner();
        let (report, message) = match call.phase {
            Phase::Setup => (runner.warm_up(&session).await, "set up"),
            Phase::Reset => (runner.reset(&session).await, "reset"),
            Phase::OnStepStart => (runner.on_step_start(&session, call.step.step_index, call.pid.clone()).await, "ok"),
            _ => (runner.on_step_finish(&session, call.step.step_index, call.pid.clone(), call.outcome).await, "ok"),
        };
        context.out.send(&unit_reply(&request_id, shape, report, message)).await;
    }))
}

/// A generation-1 `pre` or `execute`, in its reserved place.
async fn run_step<W>(
    context: &Context<W>,
    target: &Target,
    request_id: &Value,
    call: &PhaseCall,
    reservation: Reservation,
) -> Value {
    let shape = Shape::Phase(call.phase, call.step.step_index);
    let mut params = context.station_params(target.info(), call.step.step_index);
    params.extend(call.user_params.clone());
    let PreparedCall { step, prepare } = match prepare_call(context, target, &call.step, &call.pid, params) {
        Ok(prepared) => prepared,
        Err(err) => return error_reply(request_id, shape, &err),
    };
    if call.phase == Phase::PreExecute {
        match reservation.pre_execute_prepared(step, prepare).await.result {
            Ok(out) => protocol::result(request_id, shape, &out.message, wire::pre_data(&out)),
            Err(err) => error_reply(request_id, shape, &err),
        }
    } else {
        match reservation.execute_prepared(step, prepare).await.result {
            Ok(out) => protocol::result(request_id, shape, out.ng_reason.as_deref().unwrap_or("OK"), wire::execute_data(&out)),
            Err(err) => error_reply(request_id, shape, &err),
        }
    }
}

/// A generation-2 call: an execute on the current and guide images, with the
/// server's product id and params, in a session of its own (or the shared one).
pub(super) fn execute_call<W>(context: &Arc<Context<W>>, config: &ServeConfig, request_id: Value, call: ExecuteCall) -> Task
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shape = Shape::Step(call.step.step_index);
    let routed = context.backend.default_pid(config.pid.as_deref()).and_then(|pid| Ok((context.backend.route(&pid)?, pid)));
    let (target, pid) = match routed {
        Ok(routed) => routed,
        Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
    };
    if let Some(version) = target.describe() {
        tracing::debug!(request_id = %request_id, %pid, %version, "routed");
    }
    // A shared session is begun once on each runner and kept ("open
    // already" is expected); otherwise the call has a session of its own,
    // ended when the call is over.
    let runner = target.runner().clone();
    let (session, own_session) = match &config.execute_session {
        Some(shared) => {
            let _ = runner.begin_session(shared, Value::Object(Map::new()));
            (shared.clone(), None)
        }
        None => match runner.session_for_one_call() {
            Ok(own) => (own.id().to_owned(), Some(own)),
            Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
        },
    };
    let reservation = match runner.reserve(&session) {
        Ok(reservation) => reservation,
        Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
    };
    let context = Arc::clone(context);
    Task::Run(Box::pin(async move {
        let params = context.station_params(target.info(), call.step.step_index);
        let reply = match prepare_call(&context, &target, &call.step, &pid, params) {
            Err(err) => {
                drop(reservation);
                error_reply(&request_id, shape, &err)
            }
            Ok(PreparedCall { step, prepare }) => match reservation.execute_prepared(step, prepare).await.result {
                Ok(out) => {
                    protocol::result(&request_id, shape, out.ng_reason.as_deref().unwrap_or("OK"), wire::execute_data(&out))
                }
                Err(err) => error_reply(&request_id, shape, &err),
            },
        };
        // The call is over, so ending its session waits on nothing.
        drop(own_session);
        context.out.send(&reply).await;
    }))
}
