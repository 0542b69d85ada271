"""The subprocess model as the platform runs it: a Python algorithm process.

The same nothing as `src/bin/subprocess-adapter.rs`, in Python with the
standard library only (a real algorithm also imports numpy and OpenCV, which
alone take longer to start than everything here): hello on start, each call's
image read back from its shared-memory file and its size checked, a result
frame, `shutdown` acknowledged.
"""

import json
import os
import struct
import sys


def read_frame(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (length,) = struct.unpack(">I", header)
    return json.loads(stream.read(length))


def write_frame(stream, message):
    payload = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    shm_dir = os.environ.get("PROC_SHM_DIR", "")
    write_frame(stdout, {"type": "hello", "sdk_version": "python subprocess adapter"})
    while (message := read_frame(stdin)) is not None:
        request_id = message.get("request_id")
        if message.get("type") == "shutdown":
            write_frame(stdout, {"type": "shutdown", "status": "OK"})
            return
        data = message.get("data", {})
        if "cur_image_shm_id" in data:
            with open(os.path.join(shm_dir, data["cur_image_shm_id"] + ".raw"), "rb") as f:
                pixels = f.read()
            meta = data["cur_image_meta"]
            expected = meta["width"] * meta["height"] * meta["channels"]
            if len(pixels) != expected:
                write_frame(stdout, {"type": "error", "request_id": request_id, "error_code": "1002"})
                continue
        write_frame(stdout, {"type": "result", "request_id": request_id, "status": "OK",
                             "data": {"phase": data.get("phase"), "result_status": "OK", "defect_rects": []}})


if __name__ == "__main__":
    main()
