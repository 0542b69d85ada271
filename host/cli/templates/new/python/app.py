"""{{name}}: an inspection algorithm for pv-host, in Python.

It checks that a frame is bright enough: OK when its mean grey level is at
least ``min_mean``, NG with the whole frame as the defect otherwise. Replace the
check with yours; the shape stays: the class attributes describe the algorithm
(``pv-host pack`` copies name, version and pids into the package's manifest:
this is the one place they are written), ``setup`` loads what every call needs,
``execute`` gives the verdict.
"""

import pv_guest
from pv_guest import Param, Rect, Step, log, ng, ok


class {{type_name}}(pv_guest.Algorithm):
    name = "{{name}}"
    version = "0.1.0"
    description = "Checks that the frame is bright enough"
    pids = [{{pid_list}}]
    steps = [
        Step(
            1,
            "check brightness",
            "OK when the mean grey level is at least min_mean",
            # Every param needs a default: `pv-host test` runs each step with
            # the defaults.
            params=[Param.int("min_mean", default=40, min=0, max=255, description="darkest acceptable mean grey level")],
        )
    ]

    def setup(self):
        # Load models and tables once here: pv_guest.assets.read("model.onnx").
        pass

    def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        gray = cur_image.gray().pixels  # bytes, one per pixel, row by row
        mean = sum(gray) / max(len(gray), 1)
        min_mean = self.params["min_mean"]
        log.debug("mean grey %.1f", mean)
        pv_guest.diagnostics.publish("mean", mean)
        if mean < min_mean:
            whole = Rect(0, 0, cur_image.width, cur_image.height, label="too dark")
            return ng(f"too dark: mean grey {mean:.0f}, need {min_mean}", [whole])
        return ok(debug={"mean": mean})


Algorithm = pv_guest.export({{type_name}})
