#!/usr/bin/env python3
"""Fetch the PP-OCRv4 models the label reader ships, from a pinned PyPI wheel.

The detector and recogniser come inside the wheel rapidocr-onnxruntime==1.4.4
(RapidOCR's ONNX export of PaddleOCR's PP-OCRv4 mobile models). This script
downloads that one wheel with pip, checks its sha256, extracts the two models,
checks theirs, and writes them as det.onnx and rec.onnx into OUT_DIR (default
target/models/pp-ocrv4). Model weights are never committed.

Nothing is downloaded when OUT_DIR already holds both models with the right
hashes. Usage: python3 examples/label-reader/fetch_models.py [OUT_DIR]
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rapidocr-onnxruntime==1.4.4"
WHEEL_FILE = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
# (name in the package, path inside the wheel, sha256)
MODELS = [
    ("det.onnx", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
     "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    ("rec.onnx", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
     "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(out: Path) -> bool:
    for name, _, digest in MODELS:
        path = out / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            return False
    return True


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target" / "models" / "pp-ocrv4"
    if present(out):
        print(f"models already in {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--dest", scratch, WHEEL],
            check=True,
        )
        wheel = Path(scratch) / WHEEL_FILE
        if not wheel.is_file():
            print(f"pip did not download {WHEEL_FILE}", file=sys.stderr)
            return 1
        digest = sha256(wheel.read_bytes())
        if digest != WHEEL_SHA256:
            print(f"{WHEEL_FILE}: sha256 {digest}, expected {WHEEL_SHA256}; refusing it", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheel) as archive:
            for name, member, expected in MODELS:
                data = archive.read(member)
                if sha256(data) != expected:
                    print(f"{member}: sha256 {sha256(data)}, expected {expected}; refusing it", file=sys.stderr)
                    return 1
                # Written aside, then renamed: a reader never sees half a model.
                partial = out / f".{name}.partial"
                partial.write_bytes(data)
                os.replace(partial, out / name)
    print(f"det.onnx and rec.onnx written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
