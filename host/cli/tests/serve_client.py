#!/usr/bin/env python3
"""A platform-side client for `pv-host serve`, standard library only, framing
exactly as the ProcVision platform does (4-byte big-endian length, UTF-8 JSON).

usage: serve_client.py PV_HOST PART_COUNTER_PKG TRUST_DIR HOSTILE_WASM COINS_PNG SHM_DIR
Exits 0 when the whole protocol behaved, 1 with a message otherwise.
"""
import json
import os
import shutil
import struct
import subprocess
import sys


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


def call(proc, request_id, phase, **data):
    send(proc, {"type": "call", "request_id": request_id, "data": dict(phase=phase, **data)})
    reply = receive(proc)
    expect(reply.get("request_id") == request_id, f"reply to {request_id}: {reply}")
    return reply


def start(pv_host, package, shm_dir, *flags):
    env = dict(os.environ, PROC_SHM_DIR=shm_dir)
    proc = subprocess.Popen([pv_host, "serve", package, *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    hello = receive(proc)
    expect(hello["type"] == "hello" and "capabilities" in hello, f"hello: {hello}")
    send(proc, {"type": "hello", "heartbeat_interval_ms": 1000, "heartbeat_grace_ms": 3000})
    return proc


def shutdown(proc):
    send(proc, {"type": "shutdown"})
    ack = receive(proc)
    expect(ack == {**ack, "type": "shutdown", "status": "OK"}, f"shutdown: {ack}")
    expect(proc.wait(timeout=60) == 0, "exit code 0 after shutdown")


def main():
    pv_host, package, trust, hostile, coins, shm_dir = sys.argv[1:7]
    shutil.copyfile(coins, os.path.join(shm_dir, "frame-1.bin"))
    session = {"id": "part-0001", "context": {"operator": "ana"}}

    # The whole lifecycle on the signed part counter and the real photograph.
    proc = start(pv_host, package, shm_dir, "--trust", trust)
    send(proc, {"type": "ping", "request_id": "p1"})
    pong = receive(proc)
    expect(pong["type"] == "pong" and pong["request_id"] == "p1" and pong["status"] == "OK", f"pong: {pong}")
    info = call(proc, 1, "info")
    expect(info["data"]["name"] == "part-counter" and "A01" in info["data"]["supported_pids"], f"info: {info}")
    expect(call(proc, 2, "setup")["status"] == "OK", "setup")
    expect(call(proc, 3, "on_step_start", step_index=1, pid="A01", session=session)["status"] == "OK", "on_step_start")
    image = {"width": 384, "height": 303, "timestamp_ms": 1, "camera_id": "cam-1", "color_space": "RGB"}
    pre = call(proc, 4, "pre", step_index=1, pid="A01", session=session, user_params={"expected_count": 24},
               shared_mem_id="frame-1", image_meta=image)
    expect(pre["type"] == "result" and pre["data"]["phase"] == "pre" and pre["data"]["calibration_rects"], f"pre: {pre}")
    ok = call(proc, 5, "execute", step_index=1, pid="A01", session=session, user_params={"expected_count": 24},
              shared_mem_id="frame-1", image_meta=image)
    expect(ok["data"]["result_status"] == "OK", f"execute OK: {ok}")
    ng = call(proc, 6, "execute", step_index=1, pid="A01", session=session, user_params={"expected_count": 25},
              cur_image_shm_id="frame-1", cur_image_meta=image)
    expect(ng["data"]["result_status"] == "NG" and ng["data"]["defect_rects"], f"execute NG: {ng}")
    expect("found 24 of 25" in ng["data"]["ng_reason"], f"NG reason: {ng}")
    finish = call(proc, 7, "on_step_finish", step_index=1, pid="A01", session=session, outcome="NG")
    expect(finish["status"] == "OK", f"on_step_finish: {finish}")
    bad = call(proc, 8, "execute", step_index=1, pid="Z99", session=session, shared_mem_id="frame-1", image_meta=image)
    expect(bad["type"] == "error" and bad["error_code"] == "1001", f"unsupported pid: {bad}")
    expect(call(proc, 9, "teardown")["status"] == "OK", "teardown")
    shutdown(proc)

    # A ping during a slow execute is answered before the execute ends.
    proc = start(pv_host, hostile, shm_dir, "--allow-unsigned", "--timeout-ms", "2000")
    send(proc, {"type": "call", "request_id": "slow", "data": {"phase": "execute", "pid": "LOOP", "session": session,
                                                               "shared_mem_id": "frame-1", "image_meta": image}})
    send(proc, {"type": "ping", "request_id": "during"})
    first, second = receive(proc), receive(proc)
    expect(first["type"] == "pong" and first["request_id"] == "during", f"the pong comes first: {first}")
    expect(second["type"] == "error" and second["error_code"] == "1005", f"then the loop's deadline: {second}")
    shutdown(proc)
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
