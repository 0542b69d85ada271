"""Label reader in Python: reads the printed text on a part label (lot number,
date code, serial number) and checks it against a pattern.

The Python twin of ``examples/label-reader``: the same PP-OCRv4 models (package
assets ``det.onnx`` and ``rec.onnx``), the same steps (``ocr.py``), the same
parameters and verdicts. OK when one line matches the ``expected`` regular
expression; NG otherwise, with a defect rect on every line that does not match
(or on the whole frame when nothing was read). Inference and pixel work run in
the vision component: build against ``wit/vision`` and pack with ``--compose
pv_vision_component.wasm --asset det.onnx=... --asset rec.onnx=...``.
"""

import re

import pv_guest
from pv_guest import AlgorithmError, Param, Rect, Step, ng, ok
from pv_guest.vision import VisionImage

import ocr

#: The pattern a label must contain unless the step says otherwise.
DEFAULT_EXPECTED = r"LOT\s*\d{6}"
#: Lines read with less confidence than this are ignored (PaddleOCR's ``text_score``).
DEFAULT_MIN_SCORE = 0.5
#: Lines read at most unless the step says otherwise: reading costs about 2.3
#: Gfuel a line on top of about 19 Gfuel to find them on a 960 px frame; 8 keeps
#: a full frame within the host's default fuel per call.
DEFAULT_MAX_LINES = 8
#: The most lines a step may ask to read: each unmatched line is a defect rect,
#: and the platform takes at most 20 a result.
MAX_LINES = 20


class LabelReader(pv_guest.Algorithm):
    name = "python-label-reader"
    version = "1.0.0"
    description = "Reads the printed text on a part label (PP-OCRv4, in Python) and checks it against a pattern"
    pids = ["LBL-1", "LBL-2"]
    steps = [
        Step(
            1,
            "read label",
            "OK when a line of the label matches `expected`; every line read is a position rect",
            params=[
                Param.text(
                    "expected",
                    default=DEFAULT_EXPECTED,
                    min_length=1,
                    max_length=512,
                    description="regular expression a line must contain, e.g. LOT\\s*\\d{6}",
                ),
                Param.float(
                    "min_score", default=DEFAULT_MIN_SCORE, min=0.0, max=1.0, description="lines read with less confidence are ignored"
                ),
                Param.int(
                    "max_lines",
                    default=DEFAULT_MAX_LINES,
                    min=1,
                    max=MAX_LINES,
                    description="a frame with more lines of text than this is not the label expected: NG, nothing read",
                ),
            ],
        )
    ]

    def setup(self):
        self.reader = ocr.Reader()

    def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        p = self.params
        expected, min_score, max_lines = p["expected"], p["min_score"], p["max_lines"]
        try:
            pattern = re.compile(expected)
        except re.error as err:
            raise AlgorithmError("INVALID_PARAMS", f"`expected` is not a valid regular expression: {err}") from None
        frame = VisionImage.from_frame(cur_image)
        found = self.reader.find_lines(frame)
        pv_guest.diagnostics.publish("lines_found", len(found))
        if len(found) > max_lines:
            # Not read: the recogniser's cost grows with every line. The first
            # regions in reading order are marked, as many as a result may hold.
            regions = [Rect(*box.bounds(), label="text region", score=_unit(box.score)) for box in found[:MAX_LINES]]
            return ng(f"{len(found)} lines of text found, more than max_lines ({max_lines}): not the label expected", regions)
        lines = [line for line in self.reader.read_lines(frame, found) if line.score >= min_score and line.text.strip()]
        matching = next((line for line in lines if pattern.search(line.text)), None)
        debug = {
            "expected": expected,
            "matched": matching.text if matching else None,
            "lines": [{"text": line.text, "score": round(line.score, 3), "corners": [list(p) for p in line.corners]} for line in lines],
        }
        pv_guest.diagnostics.publish("lines_read", len(lines))
        positions = [Rect(*line.bounds(), label=line.text, score=_unit(line.score)) for line in lines]
        if matching is not None:
            return ok(positions, debug)
        if not lines:
            whole = Rect(0, 0, cur_image.width, cur_image.height, label="no text found")
            return ng(f"no text read; expected `{expected}`", [whole], debug=debug)
        read = [line.text for line in lines]
        defects = [rect.labelled(f"does not match: {rect.label}") for rect in positions]
        return ng(f"no line matches `{expected}`; read {read}", defects, positions, debug)


def _unit(score: float) -> float:
    return min(max(score, 0.0), 1.0)


Algorithm = pv_guest.export(LabelReader)
