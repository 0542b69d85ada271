#!/usr/bin/env python3
"""B9's reference side: RapidOCR reading the label images, one thread, timed.

    pip install rapidocr-onnxruntime==1.4.4 onnxruntime
    python3 rapidocr_runner.py [--repeat N] [IMAGE ...]     (or a JSON list of paths on stdin)

RapidOCR is set up as the label reader runs PP-OCRv4 in the sandbox: detection
then recognition, no angle classifier, the detector's input limited to 960 px
on its longer side, lines scored below 0.5 dropped (RapidOCR's default
`text_score`), and one thread everywhere (onnxruntime's intra- and inter-op
pools, OpenCV's pre- and post-processing), since a guest runs on one.

Each image is decoded once, before timing: like the host's side, which is given
decoded pixels, only the reading is timed. One warm-up reading of the first
image comes first (onnxruntime allocates its arenas on the first run); then
each image is read N times and the median is reported.

Prints one JSON object per line: first {"versions": {...}}, then one
{"image", "lines", "ms"} per image in the order given, `lines` being the texts
read, in RapidOCR's reading order.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from importlib import metadata

import cv2
import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR

# The label reader's settings (examples/label-reader/src/detect.rs): the keyword
# names are those rapidocr_onnxruntime/utils/parse_parameters.py maps onto
# config.yaml (`det_*` into Det, the rest into Global, whose thread counts are
# copied into Det, Cls and Rec).
ENGINE_SETTINGS = {
    "det_limit_side_len": 960,
    "det_limit_type": "max",
    "use_cls": False,
    "text_score": 0.5,
    "intra_op_num_threads": 1,
    "inter_op_num_threads": 1,
}


def load(path: str) -> np.ndarray:
    """The image's pixels as RapidOCR's LoadImage reads a path (grey stays 2-D;
    RapidOCR converts it to BGR itself, inside the timed call, as the guest
    converts its frame)."""
    image = Image.open(path)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    pixels = np.array(image)
    # A path given to RapidOCR is read as RGB and turned to BGR; an array is
    # taken as BGR already, so turn it here, outside the timing.
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels


def read(engine: RapidOCR, pixels: np.ndarray) -> list:
    result, _ = engine(pixels, use_cls=False)
    return [text for _, text, _ in (result or [])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed readings per image (median reported)")
    parser.add_argument("images", nargs="*", help="image paths; a JSON list on stdin when none")
    args = parser.parse_args()
    paths = args.images or json.load(sys.stdin)
    if not paths:
        print("no images given", file=sys.stderr)
        return 2

    cv2.setNumThreads(1)
    versions = {name: metadata.version(name) for name in ("rapidocr-onnxruntime", "onnxruntime")}
    versions["python"] = platform.python_version()
    print(json.dumps({"versions": versions, "settings": ENGINE_SETTINGS, "repeat": args.repeat}), flush=True)

    engine = RapidOCR(**ENGINE_SETTINGS)
    images = [load(path) for path in paths]
    read(engine, images[0])
    for path, pixels in zip(paths, images):
        times = []
        for _ in range(max(args.repeat, 1)):
            started = time.perf_counter()
            lines = read(engine, pixels)
            times.append((time.perf_counter() - started) * 1000.0)
        print(json.dumps({"image": path, "lines": lines, "ms": statistics.median(times)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
