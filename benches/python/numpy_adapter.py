"""The platform's Python adapter as a station runs it, reduced to what the wire
costs: hello; pong for every ping; for each call, the current image loaded with
numpy from the platform's shared-memory file (the id mapped to its file name
the platform's way, `.npy` first), its shape checked against the meta, and a
result frame; `shutdown` acknowledged. Single-threaded, as the reference
adapter is.
"""

import json
import os
import re
import struct
import sys
import time

import numpy


def read_frame(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (length,) = struct.unpack(">I", header)
    if length == 0:
        return None
    return json.loads(stream.read(length))


def write_frame(stream, message):
    payload = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def now_ms():
    return int(time.time() * 1000)


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    shm_dir = os.environ.get("PROC_SHM_DIR", "")
    write_frame(stdout, {"type": "hello", "sdk_version": "numpy adapter", "timestamp_ms": now_ms(),
                         "capabilities": ["ping", "call", "shutdown", "shared_memory:v1", "execute"]})
    while (message := read_frame(stdin)) is not None:
        kind, request_id = message.get("type"), message.get("request_id")
        if kind == "ping":
            write_frame(stdout, {"type": "pong", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK"})
            continue
        if kind == "shutdown":
            write_frame(stdout, {"type": "shutdown", "timestamp_ms": now_ms(), "status": "OK"})
            return
        if kind != "call":
            continue
        data = message.get("data", {})
        if data.get("phase") == "info":
            # As the platform's adapter answers it: the description under data.info.
            write_frame(stdout, {"type": "result", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK",
                                 "message": "ok", "data": {"phase": "info", "step_index": data.get("step_index", 1),
                                                           "info": {"name": "numpy adapter", "steps": []}}})
            continue
        shm_id = data.get("shared_mem_id") or data.get("cur_image_shm_id")
        meta = data.get("image_meta") or data.get("cur_image_meta") or {}
        name = re.sub(r"[^A-Za-z0-9._-]", "_", shm_id)
        pixels = numpy.load(os.path.join(shm_dir, name + ".npy"))
        if pixels.shape[0] != meta.get("height") or pixels.shape[1] != meta.get("width"):
            write_frame(stdout, {"type": "result", "request_id": request_id, "timestamp_ms": now_ms(),
                                 "status": "ERROR", "error_code": "1002", "message": "size", "data": {}})
            continue
        write_frame(stdout, {"type": "result", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK",
                             "message": "OK", "data": {"phase": data.get("phase"), "step_index": data.get("step_index", 1),
                                                       "result_status": "OK", "defect_rects": []}})


if __name__ == "__main__":
    main()
