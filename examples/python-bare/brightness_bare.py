"""A Python algorithm written against wit/ alone, with no SDK: what
componentize-py's generated bindings look like when used directly. It checks
that the frame's mean grey level is within a range.

Build (from the repository root):

    componentize-py -d wit -w inspection-algorithm componentize \\
        -p examples/python-bare brightness_bare -o brightness-bare.wasm

componentize-py generates the ``wit_world`` package from wit/ while it builds;
``componentize-py -d wit -w inspection-algorithm bindings out/`` writes it out
for an editor to read.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import (
    AlgorithmError,
    AlgorithmInfo,
    ErrorCode,
    ExecuteOutput,
    IntRange,
    ParamKind_Int,
    ParamSpec,
    ParamValue_Int,
    PreExecuteOutput,
    Rect,
    StepSpec,
    Verdict,
)


def _mean(image):
    """Mean over every byte of the frame (the grey level on a gray8 frame)."""
    pixels = image.pixels
    return sum(pixels) / len(pixels)


class Algorithm(exports.Algorithm):
    def get_info(self):
        limit = ParamKind_Int(IntRange(min=0, max=255))
        return AlgorithmInfo(
            name="brightness-bare",
            version="1.0.0",
            description="NG when the frame's mean grey level is outside min_mean..max_mean",
            supported_pids=["A01"],
            steps=[
                StepSpec(
                    index=1,
                    name="brightness",
                    description="mean grey level within range",
                    params=[
                        ParamSpec("min_mean", "darkest acceptable mean", limit, False, ParamValue_Int(40)),
                        ParamSpec("max_mean", "brightest acceptable mean", limit, False, ParamValue_Int(220)),
                    ],
                )
            ],
        )

    def setup(self):
        pass

    def teardown(self):
        pass

    def pre_execute(self, input):
        return PreExecuteOutput(message="nothing to prepare", calibration_rects=[], debug=None)

    def execute(self, input):
        params = {p.name: p.value.value for p in input.params}
        lo, hi = params["min_mean"], params["max_mean"]
        if lo > hi:
            raise Err(AlgorithmError(ErrorCode.INVALID_PARAMS, f"min_mean {lo} is above max_mean {hi}"))
        mean = _mean(input.image)
        log.log(log.Level.INFO, f"mean grey {mean:.1f}", [log.Field("range", f"{lo}..{hi}")])
        debug = json.dumps({"mean": round(mean, 2)})
        if lo <= mean <= hi:
            return ExecuteOutput(Verdict.OK, None, [], [], debug)
        whole = Rect(0, 0, input.image.meta.width, input.image.meta.height, "brightness", None)
        return ExecuteOutput(Verdict.NG, f"mean grey {mean:.1f} outside {lo}..{hi}", [whole], [], debug)

    def reset(self):
        pass

    def on_step_start(self, step_index, pid):
        pass

    def on_step_finish(self, step_index, pid, outcome):
        pass
