"""Tray presence check: every slot of a rows x columns tray holds a part.

Bright parts (coins, caps, screws) on a darker tray. ``pre_execute`` checks the
lighting; ``execute`` finds the parts on the full-resolution frame with the
vision component (``pv_guest.vision``: blur, local background by erosion,
Otsu's threshold, connected components with stats), and says NG when parts are
missing, with a defect rect at each empty slot (``layout.py``), or when there
are too many. Build against ``wit/vision`` and pack with ``--compose
pv_vision_component.wasm`` (see the README's Python section).
"""

import pv_guest
from pv_guest import AlgorithmError, Param, Prepared, Rect, Step, log, ng, ok
from pv_guest.vision import VisionImage

import layout

#: Smoothing before segmentation (``cv2.blur``), in pixels: evens out a coin's
#: engraving and the camera's noise.
SMOOTH = 5

#: Side of the window the local background is the darkest pixel of
#: (``cv2.erode``), in pixels: over twice a part's width, so every window holds
#: some tray. (On coins.png, 91 leaves every coin at 1074 px or more and nothing
#: else above 9 px; OpenCV's blur, erode, absdiff and Otsu give the same.)
BACKGROUND = 91

#: Most defect and position rects reported: the host's default caps. The reason
#: still counts every problem.
MAX_DEFECTS = 20
MAX_POSITIONS = 1000



class TrayPresence(pv_guest.Algorithm):
    name = "tray-presence"
    version = "1.1.0"
    description = "Checks that every slot of a tray holds a part; NG with the empty slots marked"
    pids = ["T01", "T02"]
    steps = [
        Step(
            1,
            "check the tray",
            "check the lighting, then find the parts and the empty slots",
            params=[
                Param.int("rows", default=4, min=1, max=100, description="rows of slots on the tray"),
                Param.int("columns", default=6, min=1, max=100, description="slots per row"),
                Param.int("min_area", default=600, min=16, max=1_000_000, description="smallest part, in pixels"),
                Param.int("min_contrast", default=12, min=1, max=255, description="least grey step from tray to part"),
                Param.int("min_mean", default=30, min=0, max=255, description="darkest acceptable frame (mean grey)"),
                Param.int("max_mean", default=220, min=0, max=255, description="brightest acceptable frame (mean grey)"),
            ],
        )
    ]

    def pre_execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        mean = VisionImage.from_frame(cur_image).gray().mean()
        lo, hi = self.params["min_mean"], self.params["max_mean"]
        if not lo <= mean <= hi:
            raise AlgorithmError("IMAGE_LOAD_FAILED", f"lighting out of range: mean grey {mean:.0f}, need {lo}..{hi}")
        return Prepared(f"lighting ok: mean grey {mean:.0f}", debug={"mean": round(mean, 1)})

    def find_parts(self, cur_image, min_contrast, min_area):
        """The parts on the frame, as ``layout.Blob`` tuples: bright regions
        against the local background, in the vision component."""
        smooth = VisionImage.from_frame(cur_image).gray().blur(SMOOTH)
        # Brighter than the darkest pixel around: the parts, whatever the light.
        contrast = smooth.absdiff(smooth.erode(BACKGROUND))
        found = contrast.threshold_otsu(at_least=min_contrast).components(min_area=min_area)
        return [(c.x, c.y, c.width, c.height, c.area, c.cx, c.cy) for c in found]

    def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        p = self.params
        parts = self.find_parts(cur_image, p["min_contrast"], p["min_area"])
        expected = p["rows"] * p["columns"]
        positions = [Rect(b[0], b[1], b[2], b[3], label="part") for b in parts][:MAX_POSITIONS]
        pv_guest.diagnostics.publish("parts", len(parts))
        log.debug("found %d parts of %d", len(parts), expected)
        debug = {"parts": len(parts), "expected": expected}
        if len(parts) == expected:
            return ok(positions, debug)
        if len(parts) > expected:
            return ng(f"{len(parts)} parts on a {expected}-slot tray", positions[:MAX_DEFECTS], positions, debug)
        empty = layout.missing_slots(parts, p["rows"], p["columns"])
        defects = [_clip(Rect(*box, label="empty slot"), cur_image) for box in empty]
        defects = [d for d in defects if d is not None]
        if not defects:
            # No layout to place the gap in: the whole frame is the defect.
            defects = [Rect(0, 0, cur_image.width, cur_image.height, label="parts missing")]
        missing = expected - len(parts)
        return ng(f"{missing} of {expected} parts missing", defects[:MAX_DEFECTS], positions, debug)


def _clip(rect, image):
    """The rect clipped to the image (the host refuses rects outside it), or None."""
    x0, y0 = max(0, rect.x), max(0, rect.y)
    x1, y1 = min(image.width, rect.x + rect.width), min(image.height, rect.y + rect.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return Rect(x0, y0, x1 - x0, y1 - y0, rect.label)


Algorithm = pv_guest.export(TrayPresence)
