#!/usr/bin/env python3
"""A platform-side client for `pv-host serve`, written from the platform's
protocol as its runner speaks it (shared/PLATFORM-PROTOCOL.md): frames of a
4-byte big-endian length and UTF-8 JSON; images by shared-memory id, written as
files named the platform's way into the platform's directory; both call
generations; the development runner's validation flow.

Standard library only, except numpy where a part writes a `.npy` frame; that
part is skipped, with a message, when numpy is missing.

usage: serve_client.py PV_HOST PART_COUNTER_PKG TRUST_DIR HOSTILE_WASM COINS_PNG COINS_RGB WIDTH HEIGHT SHM_DIR
(COINS_RGB: the photograph's raw RGB pixels, WIDTH x HEIGHT x 3 bytes.)
Exits 0 when everything behaved as the platform expects, 1 with a message otherwise.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

try:
    import numpy
except ImportError:  # only the .npy part needs it
    numpy = None


# ---- the platform's side of the transport ---------------------------------

def send(proc, message):
    payload = json.dumps(message).encode("utf-8")
    proc.stdin.write(struct.pack(">I", len(payload)) + payload)
    proc.stdin.flush()


def receive(proc):
    prefix = proc.stdout.read(4)
    if len(prefix) < 4:
        raise AssertionError("the server closed stdout")
    (length,) = struct.unpack(">I", prefix)
    return json.loads(proc.stdout.read(length).decode("utf-8"))


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def now_ms():
    return int(time.time() * 1000)


# ---- the platform's shared-memory naming -----------------------------------

def shm_dir():
    """$PROC_SHM_DIR, else procvision_dev_shm in the first of TMPDIR, TEMP, TMP that is set, else /tmp."""
    configured = os.environ.get("PROC_SHM_DIR")
    if configured:
        return configured
    temp = next((os.environ[v] for v in ("TMPDIR", "TEMP", "TMP") if os.environ.get(v)), "/tmp")
    return os.path.join(temp, "procvision_dev_shm")


def shm_path(shm_id, suffix):
    return os.path.join(shm_dir(), re.sub(r"[^A-Za-z0-9._-]", "_", shm_id) + suffix)


def write_bin(shm_id, encoded_file):
    shutil.copyfile(encoded_file, shm_path(shm_id, ".bin"))


def write_empty_bin(shm_id):
    open(shm_path(shm_id, ".bin"), "wb").close()


def write_npy(shm_id, raw_rgb, width, height):
    with open(raw_rgb, "rb") as raw:
        pixels = numpy.frombuffer(raw.read(), dtype=numpy.uint8).reshape(height, width, 3)
    numpy.save(shm_path(shm_id, ".npy"), pixels)


# ---- the runner ------------------------------------------------------------

def start(pv_host, package, *flags):
    proc = subprocess.Popen([pv_host, "serve", package, *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(os.environ))
    hello = receive(proc)
    expect(hello["type"] == "hello", f"hello: {hello}")
    for capability in ("ping", "call", "shutdown", "shared_memory:v1", "execute"):
        expect(capability in hello["capabilities"], f"hello lists {capability}: {hello}")
    send(proc, {"type": "hello", "runner_version": "test", "heartbeat_interval_ms": 5000, "heartbeat_grace_ms": 2000})
    return proc


def call(proc, request_id, data):
    send(proc, {"type": "call", "request_id": request_id, "timestamp_ms": now_ms(), "data": data})
    reply = receive(proc)
    expect(reply.get("request_id") == request_id, f"reply to {request_id}: {reply}")
    return reply


def phase(proc, request_id, name, **data):
    return call(proc, request_id, dict(phase=name, **data))


def ping(proc, request_id):
    send(proc, {"type": "ping", "request_id": request_id})
    pong = receive(proc)
    expect(pong["type"] == "pong" and pong["request_id"] == request_id and pong["status"] == "OK", f"pong: {pong}")


def shutdown(proc):
    send(proc, {"type": "shutdown"})
    ack = receive(proc)
    expect(ack["type"] == "shutdown" and ack["status"] == "OK", f"shutdown: {ack}")
    expect(proc.wait(timeout=60) == 0, "exit code 0 after shutdown")


def result_ok(reply, what):
    expect(reply["type"] == "result" and reply["status"] == "OK", f"{what}: {reply}")
    return reply["data"]


def result_error(reply, code, what):
    expect(reply["type"] == "result" and reply["status"] == "ERROR" and reply["error_code"] == code,
           f"{what}: a result ERROR {code}, got {reply}")


def error_frame(reply, code, what):
    expect(reply["type"] == "error" and reply["status"] == "ERROR" and reply["error_code"] == code,
           f"{what}: an error frame {code}, got {reply}")


# ---- the scenarios ---------------------------------------------------------

def generation_1(pv_host, package, trust, coins):
    """The lifecycle phases on the signed part counter and the real photograph."""
    session_id = f"session-{now_ms()}"
    frame = f"dev-shm:{session_id}:cur"
    write_bin(frame, coins)
    session = {"id": session_id, "context": {"product_code": "A01", "trace_id": "t-1"}}
    meta = {"width": 384, "height": 303, "timestamp_ms": now_ms(), "camera_id": "cam-1"}
    proc = start(pv_host, package, "--trust", trust)
    ping(proc, "p1")
    info = phase(proc, 1, "info")
    expect("A01" in result_ok(info, "info")["info"]["supported_pids"], f"info: {info}")
    result_ok(phase(proc, 2, "setup"), "setup")
    result_ok(phase(proc, 3, "on_step_start", step_index=1, pid="A01", session=session), "on_step_start")
    step = dict(step_index=1, pid="A01", session=session, shared_mem_id=frame, image_meta=meta)
    pre = result_ok(phase(proc, 4, "pre", user_params={"expected_count": 24}, **step), "pre")
    expect(pre["phase"] == "pre" and pre["step_index"] == 1 and pre["calibration_rects"], f"pre: {pre}")
    ok = result_ok(phase(proc, 5, "execute", user_params={"expected_count": 24}, **step), "execute OK")
    expect(ok["phase"] == "execute" and ok["result_status"] == "OK", f"execute OK: {ok}")
    ng = result_ok(phase(proc, 6, "execute", user_params={"expected_count": 25}, **step), "execute NG")
    expect(ng["result_status"] == "NG" and ng["ng_reason"] and ng["defect_rects"], f"execute NG: {ng}")
    result_ok(phase(proc, 7, "on_step_finish", step_index=1, pid="A01", session=session, outcome="NG"), "finish")
    # An algorithm's refusal is a result with status ERROR, not an error frame.
    result_error(phase(proc, 8, "execute", **dict(step, pid="Z99")), "1001", "an unsupported pid")
    result_error(phase(proc, 9, "execute", **dict(step, shared_mem_id="dev-shm:nothing:here")), "1002", "no image")

    # The development runner's validation: an EMPTY .bin, meta 640x480; pre and
    # execute must each get a result frame (OK or ERROR), never an error frame.
    empty = f"dev-shm:session-{now_ms()}"
    write_empty_bin(empty)
    blank = dict(step, shared_mem_id=empty, image_meta={"width": 640, "height": 480, "timestamp_ms": now_ms(), "camera_id": "cam-1"})
    for request_id, name in ((10, "pre"), (11, "execute")):
        reply = phase(proc, request_id, name, **blank)
        expect(reply["type"] == "result", f"validation {name} gets a result frame: {reply}")
    result_ok(phase(proc, 12, "teardown"), "teardown")
    shutdown(proc)


def generation_2_data(cur, guide, step_index=1):
    meta = {"width": 384, "height": 303, "timestamp_ms": now_ms(), "camera_id": "cam-1"}
    return {
        "step_index": step_index,
        "step_desc": "数硬币 count the coins",
        "guide_info": [{"label": "1", "posList": [{"x": 94, "y": 269, "width": 19, "height": 30}]},
                       {"label": "2", "posList": [{"x": 10, "y": 10, "width": 5, "height": 5},
                                                  {"x": 20, "y": 20, "width": 5, "height": 5}]}],
        "cur_image_shm_id": cur, "cur_image_meta": meta,
        "guide_image_shm_id": guide, "guide_image_meta": meta,
    }


def generation_2(pv_host, package, trust, coins, coins_rgb, width, height):
    """Execute-only calls: no phase, no pid, no session, no user_params."""
    stamp = now_ms()
    cur, guide = f"dev-shm:session-{stamp}:cur", f"dev-shm:session-{stamp}:guide"
    write_bin(cur, coins)
    write_bin(guide, coins)

    # The part counter declares two PIDs: without --pid, a result ERROR 1001.
    proc = start(pv_host, package, "--trust", trust)
    result_error(call(proc, "g1", generation_2_data(cur, guide)), "1001", "no pid and several supported")
    shutdown(proc)

    proc = start(pv_host, package, "--trust", trust, "--pid", "A01")
    ok = result_ok(call(proc, "g2", generation_2_data(cur, guide)), "execute-only OK")
    expect(ok["result_status"] == "OK" and ok["step_index"] == 1 and "phase" not in ok, f"generation-2 data: {ok}")
    # Either image missing: the adapter's protocol error.
    missing = generation_2_data(cur, guide)
    del missing["guide_image_shm_id"]
    error_frame(call(proc, "g3", missing), "1000", "no guide image")
    # The validation flow in this generation: empty frames still get a result.
    empty = f"dev-shm:session-{now_ms()}:cur"
    write_empty_bin(empty)
    blank = generation_2_data(empty, empty)
    blank["cur_image_meta"] = blank["guide_image_meta"] = {"width": 640, "height": 480}
    expect(call(proc, "g4", blank)["type"] == "result", "an empty frame gets a result frame")
    ping(proc, "p2")
    shutdown(proc)

    # The station's params: expected 25 on a tray of 24 is NG.
    proc = start(pv_host, package, "--trust", trust, "--pid", "A01", "--params", '{"expected_count": 25}')
    ng = result_ok(call(proc, "g5", generation_2_data(cur, guide)), "execute-only NG")
    expect(ng["result_status"] == "NG" and ng["ng_reason"] and ng["defect_rects"] and "phase" not in ng, f"NG: {ng}")
    if numpy is None:
        print("numpy is not installed: skipping the .npy frame (pip install numpy to run it)", file=sys.stderr)
    else:
        npy = f"dev-shm:session-{now_ms()}:npy"
        write_npy(npy, coins_rgb, width, height)
        from_npy = result_ok(call(proc, "g6", generation_2_data(npy, guide)), "execute-only on a .npy frame")
        expect(from_npy["result_status"] == "NG", f"the .npy frame is the same tray: {from_npy}")
    shutdown(proc)


def hostile(pv_host, hostile_wasm, coins):
    """A looping guest does not hold up pongs; its deadline and a crash are reported the platform's way."""
    frame = f"dev-shm:session-{now_ms()}:cur"
    write_bin(frame, coins)
    session = {"id": "part-1", "context": {}}
    proc = start(pv_host, hostile_wasm, "--allow-unsigned", "--timeout-ms", "2000", "--instances", "2")
    send(proc, {"type": "call", "request_id": "slow", "data": {"phase": "execute", "pid": "LOOP", "session": session,
                                                               "shared_mem_id": frame}})
    send(proc, {"type": "ping", "request_id": "during"})
    first, second = receive(proc), receive(proc)
    expect(first["type"] == "pong" and first["request_id"] == "during", f"the pong comes first: {first}")
    result_error(second, "1005", "the loop's deadline")
    crash = phase(proc, "boom", "execute", pid="PANIC", session=session, shared_mem_id=frame)
    error_frame(crash, "1009", "a guest that crashed")
    # A frame of length 0 ends the conversation, as the platform's adapter takes it.
    proc.stdin.write(struct.pack(">I", 0))
    proc.stdin.flush()
    expect(proc.wait(timeout=60) == 0, "exit code 0 after a zero-length frame")


def main():
    pv_host, package, trust, hostile_wasm, coins, coins_rgb, width, height, directory = sys.argv[1:10]
    os.environ["PROC_SHM_DIR"] = directory
    expect(shm_dir() == directory, "the platform's directory is PROC_SHM_DIR")
    generation_1(pv_host, package, trust, coins)
    generation_2(pv_host, package, trust, coins, coins_rgb, int(width), int(height))
    hostile(pv_host, hostile_wasm, coins)
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
