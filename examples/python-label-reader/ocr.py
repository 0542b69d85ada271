"""PP-OCRv4 text reading in Python, the heavy work in the vision component.

The same pipeline as the Rust label reader (``examples/label-reader``) and as
PaddleOCR/RapidOCR, step by step, each step a call an OpenCV author knows:

1. **Detect.** The frame, scaled so its longer side is at most 960 px and both
   sides are multiples of 32, goes through the DB detector: a map of the
   probability that each pixel lies in a text line. The map is thresholded,
   dilated 2x2, and each region becomes its minimum-area rectangle
   (``cv2.findContours`` + ``cv2.minAreaRect``); regions with a low mean
   probability inside them are dropped, and the rest grown back by the
   "unclip" rule the network was trained with.
2. **Recognise.** Each line is cropped upright (``cv2.warpPerspective``,
   bicubic), lines of similar length are batched, and the CRNN recogniser gives
   per step the probability of each character; greedy CTC decoding reads them.

Pixels, maps and probabilities stay in the vision component; what crosses into
Python is a handful of rectangles and, per line, the winning class of each step.
Scalar arithmetic is Python's ``float`` (``f64``), as PaddleOCR's and as the Rust
reader's, so both read the same boxes and the same text.
"""

import array
import math
from typing import List, NamedTuple, Sequence, Tuple

from pv_guest import AlgorithmError
from pv_guest.vision import Model, RotatedRect, Tensor, VisionImage

#: The asset names the package ships the models under.
DETECTOR_ASSET = "det.onnx"
RECOGNIZER_ASSET = "rec.onnx"

# Detection: PaddleOCR's defaults for PP-OCRv4.
#: Longer side of the detector's input, in pixels (larger frames are scaled down).
LIMIT_SIDE_LEN = 960
#: A pixel is text when its probability is above this.
THRESH = 0.3
#: A region is kept when its mean probability is at least this.
BOX_THRESH = 0.5
#: How far a kept region is grown back, relative to area / perimeter.
UNCLIP_RATIO = 1.6
#: Regions looked at, at most (bounds the work on a frame that is all texture).
MAX_CANDIDATES = 1000
#: Regions narrower than this (detector pixels) are noise.
MIN_SIDE = 3.0

# Recognition.
#: The recogniser's input height, in pixels.
LINE_HEIGHT = 48
#: The narrowest input: shorter lines are padded to it.
MIN_LINE_WIDTH = 320
#: Lines per inference, batched by length as PaddleOCR does.
BATCH = 6
#: The widest input (a 1:40 line); wider crops are squeezed to it.
MAX_LINE_WIDTH = 48 * 40
#: A word gap is read as a space when the space's probability reaches this at
#: one of the gap's blank steps (the Rust reader's ``SPACE_RESCUE``: PP-OCR often
#: puts a word gap's space a little under the blank).
SPACE_RESCUE = 0.2

#: PP-OCR's input normalisation: ``(v / 255 - 0.5) / 0.5``, planes in BGR order.
_NORMALIZE = {"bgr": True, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

Point = Tuple[float, float]


class TextBox(NamedTuple):
    """A text line the detector found: corners in frame pixels (top-left,
    top-right, bottom-right, bottom-left) and its mean text probability."""

    corners: List[Point]
    score: float

    def bounds(self) -> Tuple[int, int, int, int]:
        return bounds(self.corners)


class Line(NamedTuple):
    """A line read: where, what, and the recogniser's confidence in [0, 1]."""

    corners: List[Point]
    text: str
    score: float

    def bounds(self) -> Tuple[int, int, int, int]:
        return bounds(self.corners)


def bounds(corners: Sequence[Point]) -> Tuple[int, int, int, int]:
    """The axis-aligned box around the corners: (x, y, width, height)."""
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return int(min(xs)), int(min(ys)), _round(max(xs) - min(xs)) + 1, _round(max(ys) - min(ys)) + 1


def _round(v: float) -> int:
    """Half away from zero (Rust's ``round``; Python's rounds half to even)."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def input_size(height: int, width: int, limit: int = LIMIT_SIDE_LEN) -> Tuple[int, int]:
    """The detector's input for a frame: longer side at most ``limit``, both
    sides rounded (half to even, as PaddleOCR) to a multiple of 32, at least 32."""
    longer = max(height, width, 1)
    ratio = limit / longer if longer > limit else 1.0

    def side(n: int) -> int:
        return max(round(math.trunc(n * ratio) / 32) * 32, 32)

    return side(height), side(width)


def ordered(corners: Sequence[Point]) -> List[Point]:
    """Corners clockwise from the top-left: of the two leftmost the upper is
    top-left, of the two rightmost the upper is top-right."""
    by_x = sorted(corners, key=lambda p: p[0])
    left = sorted(by_x[:2], key=lambda p: p[1])
    right = sorted(by_x[2:], key=lambda p: p[1])
    return [left[0], right[0], right[1], left[1]]


def unclip(rect: RotatedRect, ratio: float = UNCLIP_RATIO) -> RotatedRect:
    """Every side moved out by ``area * ratio / perimeter`` (PP-OCR's unclip)."""
    distance = rect.width * rect.height * ratio / (2.0 * (rect.width + rect.height))
    return rect._replace(width=max(rect.width + 2.0 * distance, 0.0), height=max(rect.height + 2.0 * distance, 0.0))


def _f32(v: float) -> float:
    """``v`` rounded to the ``f32`` the vision component keeps it as (for a
    comparison that must fall as it does there)."""
    return array.array("f", [v])[0]


def sort_reading_order(boxes: List[TextBox]) -> List[TextBox]:
    """Top to bottom by the top-left corner; boxes whose tops are within 10 px
    are one row, read left to right."""
    boxes = sorted(boxes, key=lambda b: (b.corners[0][1], b.corners[0][0]))
    for i in range(len(boxes) - 1):
        for j in range(i, -1, -1):
            upper, lower = boxes[j].corners[0], boxes[j + 1].corners[0]
            if abs(lower[1] - upper[1]) < 10 and lower[0] < upper[0]:
                boxes[j], boxes[j + 1] = boxes[j + 1], boxes[j]
            else:
                break
    return boxes


def boxes_from_map(prob: Tensor, map_h: int, map_w: int, frame_h: int, frame_w: int) -> List[TextBox]:
    """DB post-processing: from the detector's map to boxes on the frame."""
    # A 2x2 dilation joins characters the threshold left a pixel apart.
    mask = prob.threshold(THRESH).dilate(2)
    boxes = []
    for rect in mask.min_area_rects(max_count=MAX_CANDIDATES):
        if min(rect.width, rect.height) < MIN_SIDE:
            continue
        score = prob.mean_in_polygon(ordered(rect.box_points()))
        if score < BOX_THRESH:
            continue
        grown = unclip(rect)
        if min(_f32(grown.width), _f32(grown.height)) < MIN_SIDE + 2.0:
            continue

        def to_frame(p: Point) -> Point:
            # Rounded and clipped as PaddleOCR does, then to the last pixel.
            x = min(max(_round(p[0] / map_w * frame_w), 0), frame_w)
            y = min(max(_round(p[1] / map_h * frame_h), 0), frame_h)
            return float(min(x, frame_w - 1)), float(min(y, frame_h - 1))

        corners = [to_frame(p) for p in ordered(grown.box_points())]
        (x0, y0), (x1, y1), _, (x3, y3) = corners
        if math.trunc(math.hypot(x0 - x1, y0 - y1)) <= 3 or math.trunc(math.hypot(x0 - x3, y0 - y3)) <= 3:
            continue
        boxes.append(TextBox(corners, score))
    return sort_reading_order(boxes)


def crop_line(frame: VisionImage, corners: Sequence[Point]):
    """The line cut out upright (bicubic, as PaddleOCR crops), or None for a
    degenerate box. A crop at least 1.5 times higher than wide is a vertical
    line: turned a quarter left."""
    tl, tr, br, bl = corners
    width = int(max(math.hypot(tl[0] - tr[0], tl[1] - tr[1]), math.hypot(br[0] - bl[0], br[1] - bl[1])))
    height = int(max(math.hypot(tl[0] - bl[0], tl[1] - bl[1]), math.hypot(tr[0] - br[0], tr[1] - br[1])))
    if width == 0 or height == 0:
        return None
    crop = frame.warp_quad(corners, width, height, cubic=True)
    if crop is not None and height >= 1.5 * width:
        crop = crop.rot90(1)
    return crop


def ctc_greedy(indices: Sequence[int], values: Sequence[float], spaces: Sequence[float], charset: Sequence[str]):
    """Greedy CTC decoding of one line: repeats collapsed, blanks (0) dropped, a
    space kept where a gap's blank steps nearly hid one. Returns (text, score),
    the score the mean probability of the characters kept."""
    space = len(charset) - 1
    text, total, kept = [], 0.0, 0
    previous, gap_space = -1, 0.0
    for best, probability, space_probability in zip(indices, values, spaces):
        if best == 0:
            gap_space = max(gap_space, space_probability)
        elif best != previous:
            after_a_word = bool(text) and text[-1] != " "
            if best != space and after_a_word and gap_space >= SPACE_RESCUE:
                text.append(" ")
            text.append(charset[best])
            total += probability
            kept += 1
            gap_space = 0.0
        previous = best
    return "".join(text), (total / kept if kept else 0.0)


class Reader:
    """PP-OCR's detector and recogniser, loaded once (in ``setup``)."""

    def __init__(self):
        self.detector = Model(DETECTOR_ASSET)
        self.recognizer = Model(RECOGNIZER_ASSET)
        characters = self.recognizer.metadata("character")
        if characters is None:
            raise AlgorithmError(
                "MODEL_NOT_FOUND", f"model `{RECOGNIZER_ASSET}` has no `character` metadata: it is not a PaddleOCR recogniser"
            )
        # Index 0 is CTC's blank; the model's list; a space last.
        self.charset = [""] + [c.rstrip("\r") for c in characters.split("\n")] + [" "]

    def find_lines(self, frame: VisionImage) -> List[TextBox]:
        """Where the lines of text are, in reading order."""
        input_h, input_w = input_size(frame.height, frame.width)
        prob = self.detector.run(Tensor.from_image(frame, input_w, input_h, **_NORMALIZE))
        shape = prob.shape
        if len(shape) != 4 or shape[0] != 1 or shape[2:] != (input_h, input_w):
            raise AlgorithmError("UNKNOWN", f"the detector returned shape {shape}, expected (1, 1, {input_h}, {input_w})")
        return boxes_from_map(prob, input_h, input_w, frame.height, frame.width)

    def read_lines(self, frame: VisionImage, boxes: Sequence[TextBox]) -> List[Line]:
        """Read the lines :meth:`find_lines` found, in its order (a box too thin
        to crop is left out)."""
        kept, crops = [], []
        for found in boxes:
            crop = crop_line(frame, found.corners)
            if crop is not None:
                kept.append(found)
                crops.append(crop)
        readings = self.recognize(crops)
        return [Line(found.corners, text, score) for found, (text, score) in zip(kept, readings)]

    def recognize(self, crops: Sequence[VisionImage]) -> List[Tuple[str, float]]:
        ratios = [crop.width / max(crop.height, 1) for crop in crops]
        # Batches of lines of similar length waste little on padding.
        order = sorted(range(len(crops)), key=lambda i: ratios[i])
        readings = [("", 0.0)] * len(crops)
        classes = len(self.charset)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            widest = max([MIN_LINE_WIDTH / LINE_HEIGHT] + [ratios[i] for i in batch])
            batch_width = min(int(LINE_HEIGHT * widest), MAX_LINE_WIDTH)
            widths = [min(max(math.ceil(LINE_HEIGHT * ratios[i]), 1), batch_width) for i in batch]
            images = [crops[i] for i in batch]
            probabilities = self.recognizer.run(Tensor.from_images(images, widths, batch_width, LINE_HEIGHT, **_NORMALIZE))
            shape = probabilities.shape
            if len(shape) != 3 or shape[0] != len(batch) or shape[2] != classes:
                raise AlgorithmError(
                    "UNKNOWN",
                    f"the recogniser returned shape {shape}, expected ({len(batch)}, steps, {classes}) for its character list",
                )
            indices, values = probabilities.argmax()
            spaces = probabilities.take(classes - 1)
            steps = shape[1]
            for slot, line in enumerate(batch):
                window = slice(slot * steps, (slot + 1) * steps)
                readings[line] = ctc_greedy(indices[window], values[window], spaces[window], self.charset)
        return readings
