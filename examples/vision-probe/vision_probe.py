"""A Python algorithm that uses the vision component, for the tests of
composition (``pv-host pack --compose``): one product id per behaviour.

- ``COUNT``: counts bright parts the OpenCV way, in the vision component
  (gray, Gaussian blur, Otsu's threshold, connected components with stats), OK
  when there are ``expected`` of them.
- ``HUGE``: asks the vision component for a 20000 x 20000 image (400 MB, over
  the package's 256 MiB): the memory cap stops it (1004). A 60000 x 60000 one
  (3.6 GB, more than any wasm32 memory) is refused by the component itself (1004).
- ``HUGE_WARP``: warps a corner of the frame to 20000 x 20000: the memory cap
  stops it (1004).
- ``ENDLESS``: matches a template over and over, forever: the fuel stops it (1005).
- ``REFUSED``: asks for what the component refuses without trapping (a warp of
  three corners, a batch no wasm32 memory holds, a map of a 4-D batch, an index
  past the last axis) and reports each error code in ``debug``; OK.
"""

import pv_guest
from pv_guest import Param, Rect, Step, log, ng, ok
from pv_guest.vision import Tensor, VisionImage


class VisionProbe(pv_guest.Algorithm):
    name = "vision-probe"
    version = "1.0.0"
    description = "Counts bright parts with the vision component; misbehaves on purpose on HUGE and ENDLESS"
    pids = ["COUNT", "HUGE", "HUGE_WARP", "ENDLESS", "REFUSED"]
    steps = [
        Step(
            1,
            "count parts",
            params=[
                Param.int("expected", default=24, min=0, max=10_000, description="parts there should be"),
                Param.int("min_area", default=50, min=1, max=1_000_000, description="smallest part, in pixels"),
            ],
        )
    ]

    def execute(self, step_index, step_desc, cur_image, guide_image, guide_info):
        pid = self.pid
        if pid == "HUGE":
            try:
                VisionImage.full(60_000, 60_000, 0)
            except pv_guest.AlgorithmError as refused:
                log.info("refused: %s", refused.message, code=refused.code)
            VisionImage.full(20_000, 20_000, 0)
            return ok()
        if pid == "HUGE_WARP":
            frame = VisionImage.from_frame(cur_image)
            frame.warp_quad([(0, 0), (10, 0), (10, 10), (0, 10)], 20_000, 20_000)
            return ok()
        if pid == "REFUSED":
            return ok(debug={"codes": self.refusals(VisionImage.from_frame(cur_image))})
        if pid == "ENDLESS":
            frame = VisionImage.from_frame(cur_image).gray()
            template = frame.crop(0, 0, 64, 64)
            while True:
                frame.match_template(template)
        gray = VisionImage.from_frame(cur_image).gray()
        blurred = gray.gaussian_blur(5)
        level = blurred.otsu_level()
        parts = blurred.threshold(level).components(min_area=self.params["min_area"])
        log.info("otsu level %d, %d parts", level, len(parts))
        positions = [Rect(p.x, p.y, p.width, p.height, label="part") for p in parts]
        debug = {"otsu": level, "parts": len(parts), "centroids": [[round(p.cx, 1), round(p.cy, 1)] for p in parts]}
        expected = self.params["expected"]
        if len(parts) == expected:
            return ok(positions, debug)
        whole = Rect(0, 0, cur_image.width, cur_image.height, label="count")
        return ng(f"{len(parts)} parts, expected {expected}", [whole], positions, debug)


    @staticmethod
    def refusals(frame):
        """The error code of each request the component must refuse."""
        square = [(0, 0), (10, 0), (10, 10), (0, 10)]
        batch = Tensor.from_images([frame, frame], [20, 20], 20, 20)
        attempts = {
            "three_corners": lambda: frame.warp_quad(square[:3], 10, 10),
            "batch_too_large": lambda: Tensor.from_images([frame] * 64, [60_000] * 64, 60_000, 48),
            "widths_missing": lambda: Tensor.from_images([frame, frame], [20], 20, 20),
            "not_a_map": lambda: batch.threshold(0.5),
            "index_past_the_axis": lambda: batch.take(20),
        }
        codes = {}
        for name, attempt in attempts.items():
            try:
                attempt()
                codes[name] = "accepted"
            except pv_guest.AlgorithmError as refused:
                codes[name] = refused.code
        return codes


Algorithm = pv_guest.export(VisionProbe)
