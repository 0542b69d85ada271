#!/usr/bin/env python3
"""Read the rendered labels with the reference OCR and compare with truth.json.

    pip install rapidocr-onnxruntime==1.4.4 onnxruntime
    python3 check_ocr.py [LABELS_DIR]

RapidOCR 1.4.4 bundles the PP-OCRv4 detection and recognition models (ONNX).
A truth line counts as read "exactly" when some OCR text line equals it after
stripping, and "space-insensitively" when it equals it once all spaces are
removed from both (PP-OCR may drop or merge the space in `LOT 482913`).
"""

import json
import os
import sys

from rapidocr_onnxruntime import RapidOCR


def main():
    labels_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(labels_dir, "truth.json"), encoding="ascii") as f:
        truth = json.load(f)
    engine = RapidOCR(det_limit_side_len=960, det_limit_type="max", use_cls=False, intra_op_num_threads=1)
    total = exact = loose = 0
    for entry in truth:
        result, _ = engine(os.path.join(labels_dir, entry["image"]), use_cls=False)
        read = [text.strip() for _, text, _ in (result or [])]
        squeezed = {text.replace(" ", "") for text in read}
        marks = []
        for line in entry["lines"]:
            total += 1
            if line in read:
                exact += 1
                loose += 1
                marks.append("=")
            elif line.replace(" ", "") in squeezed:
                loose += 1
                marks.append("~")
            else:
                marks.append("x")
        print(f"{entry['image']}  {''.join(marks):4s}  truth={entry['lines']}  read={read}")
    print(f"lines read exactly: {exact}/{total} ({100 * exact / total:.1f}%), "
          f"ignoring spaces: {loose}/{total} ({100 * loose / total:.1f}%)")
    print("(= exact, ~ equal once spaces are removed, x missed)")


if __name__ == "__main__":
    main()
