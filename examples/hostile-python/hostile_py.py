"""A Python algorithm that tries to leave the sandbox: open sockets, read files,
read the environment, start processes. Each PID is one attempt; ``execute``
reports in its debug JSON what every attempt got, and says NG when any of them
got something. host/tests/python.rs checks that none does.
"""

import encodings.idna  # noqa: F401  socket encodes host names with it: load it at build time
import os
import socket
import subprocess

import pv_guest
from pv_guest import Rect, Step, ng, ok


def _try(attempt):
    """Run an attempt: ("got", what it got) or ("denied", the exception)."""
    try:
        got = attempt()
    except BaseException as err:  # every way of failing counts as denied
        return ["denied", f"{type(err).__name__}: {err}"]
    return ["got", repr(got)[:200]] if got else ["denied", f"nothing ({got!r})"]


def _tcp():
    with socket.create_connection(("192.0.2.1", 80), timeout=2) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return conn.recv(100) or "connected"


def _tcp_raw():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.connect(("192.0.2.1", 80))
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return conn.recv(100) or "connected"


def _udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return sock.sendto(b"hello", ("192.0.2.1", 53))


def _dns():
    return socket.getaddrinfo("example.com", 80)


def _listen():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 8080))
        sock.listen()
        return "listening"


def _passwd():
    with open("/etc/passwd") as f:
        return f.read()


def _root():
    return os.listdir("/")


def _cwd():
    return os.listdir(".")


def _write():
    with open("/tmp/pv-host-escape", "w") as f:
        return f.write("escaped")


def _environ():
    return dict(os.environ)


def _process():
    return subprocess.run(["/bin/sh", "-c", "id"], capture_output=True).stdout


ATTEMPTS = {
    "SOCKET": {"tcp": _tcp, "tcp_raw": _tcp_raw, "udp": _udp, "dns": _dns, "listen": _listen},
    "FILES": {"passwd": _passwd, "root": _root, "cwd": _cwd, "write": _write},
    "ENV": {"environ": _environ, "process": _process},
}


class HostilePython(pv_guest.Algorithm):
    name = "hostile-python"
    version = "1.0.0"
    description = "tries to reach the network, the files and the environment"
    pids = list(ATTEMPTS)
    steps = [Step(1, "escape")]

    def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        outcomes = {name: _try(attempt) for name, attempt in ATTEMPTS[self.pid].items()}
        escaped = sorted(name for name, (result, _) in outcomes.items() if result == "got")
        debug = {"attempts": outcomes}
        if escaped:
            whole = Rect(0, 0, cur_image.width, cur_image.height, label="escaped")
            return ng("escaped: " + ", ".join(escaped), [whole], debug=debug)
        return ok(debug=debug)


Algorithm = pv_guest.export(HostilePython)
