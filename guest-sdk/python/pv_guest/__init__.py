"""pv_guest: write pv-host inspection algorithms in Python.

A pure-Python SDK over the bindings componentize-py generates from ``wit/``:
the author subclasses :class:`Algorithm` (the platform SDK's methods), works
with :class:`Image`, :class:`Rect`, params as a dict, :func:`ok` / :func:`ng`,
and the host services :data:`log`, :data:`session`, :data:`diagnostics` and
:data:`assets`; the generated types never show. See ``README.md`` beside this
package.

    import pv_guest
    from pv_guest import Param, Rect, ng, ok

    class Brightness(pv_guest.Algorithm):
        name, version, pids = "brightness", "1.0.0", ["P-1"]
        steps = [pv_guest.Step(1, "check", params=[Param.int("min_mean", default=40, min=0, max=255)])]

        def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
            mean = cur_image.gray().mean()
            if mean < self.params["min_mean"]:
                whole = Rect(0, 0, cur_image.width, cur_image.height, label="dark")
                return ng(f"frame too dark: mean {mean:.0f}", [whole])
            return ok()

    Algorithm = pv_guest.export(Brightness)
"""

from .algorithm import Algorithm, export
from .host import assets, diagnostics, log, session
from .image import Image, otsu_threshold
from .types import ERROR_CODES, AlgorithmError, Param, Prepared, Rect, Result, Step, group_guide_info, ng, ok

__all__ = [
    "ERROR_CODES",
    "Algorithm",
    "AlgorithmError",
    "Image",
    "Param",
    "Prepared",
    "Rect",
    "Result",
    "Step",
    "assets",
    "diagnostics",
    "export",
    "group_guide_info",
    "log",
    "ng",
    "ok",
    "otsu_threshold",
    "session",
]
