//! A spawned server speaking the platform's frames on its stdio: `pv-host
//! serve` in the tests and benchmarks, the subprocess adapters the benchmarks
//! compare it with.

use std::io::{BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::frame::{read_frame, write_frame};

/// A server process and the platform's end of its pipes.
pub struct Server {
    child: Child,
    to: Option<BufWriter<ChildStdin>>,
    from: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    /// Start `command` (its stderr discarded, `PV_HOST_LOG` unset) and read its hello.
    ///
    /// # Panics
    ///
    /// When it cannot start or its first frame is not a hello.
    pub fn spawn(mut command: Command) -> Server {
        command.stderr(Stdio::null());
        Server::spawn_as_is(command)
    }

    /// [`Server::spawn`], its stderr left as `command` has it.
    ///
    /// # Panics
    ///
    /// When it cannot start or its first frame is not a hello.
    pub fn spawn_as_is(mut command: Command) -> Server {
        let mut child = command
            .env_remove("PV_HOST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
        let to = Some(BufWriter::new(child.stdin.take().expect("piped stdin")));
        let from = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut server = Server { child, to, from, next_id: 0 };
        let hello = server.receive();
        assert_eq!(hello["type"], "hello", "the server opens with a hello: {hello}");
        server
    }

    /// Write `bytes` as they are (a frame or a part of one) and flush.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let to = self.to.as_mut().expect("stdin open");
        to.write_all(bytes).and_then(|()| to.flush()).expect("the server reads");
    }

    /// Send one frame.
    pub fn send(&mut self, message: &Value) {
        write_frame(self.to.as_mut().expect("stdin open"), message).expect("the server reads");
    }

    /// The next frame.
    ///
    /// # Panics
    ///
    /// When the server ends its output instead.
    pub fn receive(&mut self) -> Value {
        self.try_receive().expect("a frame")
    }

    /// The next frame; `None` when the server has ended its output.
    pub fn try_receive(&mut self) -> Option<Value> {
        read_frame(&mut self.from).expect("a frame, or the end of output")
    }

    /// A `call` with `request_id` `id` and `data`; its reply, which must carry the id.
    pub fn call(&mut self, id: u64, data: Value) -> Value {
        self.send(&json!({ "type": "call", "request_id": id, "data": data }));
        let reply = self.receive();
        assert_eq!(reply["request_id"], id, "{reply}");
        reply
    }

    /// The next request id of [`Server::round_trip`].
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Send `message` with the next request id; the reply, which must carry it.
    pub fn round_trip(&mut self, mut message: Value) -> Value {
        let id = self.next_id();
        message["request_id"] = json!(id);
        self.send(&message);
        let reply = self.receive();
        assert_eq!(reply["request_id"], id, "{reply}");
        reply
    }

    /// Peak resident memory of the server so far, in KiB (Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        crate::command::peak_rss_kib(self.child.id())
    }

    /// Ask the server to shut down: it answers, and exits with 0.
    pub fn shutdown(mut self) {
        self.send(&json!({"type": "shutdown"}));
        assert_eq!(self.receive()["type"], "shutdown");
        assert_eq!(self.finish(), 0);
    }

    /// Ask the server to stop, whatever it answers, and wait for it.
    pub fn stop(mut self) {
        if let Some(to) = self.to.as_mut()
            && write_frame(to, &json!({"type": "shutdown"})).is_ok()
        {
            let _ = read_frame(&mut self.from);
        }
        drop(self.to.take());
        let _ = self.child.wait();
    }

    /// Close stdin and wait for the exit code.
    pub fn finish(mut self) -> i32 {
        drop(self.to.take());
        self.child.wait().expect("exits").code().expect("an exit code")
    }
}

impl Drop for Server {
    /// A server not waited for (a test that panicked) is killed.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
