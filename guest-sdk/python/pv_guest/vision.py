"""Fast image operations and ONNX inference for Python algorithms.

The work runs in the vision component (Rust, ``guest-sdk/vision-component``)
that ``pv-host pack --compose`` puts inside the package: pixels stay there, and
only handles and small results (levels, rectangles, statistics) cross into
Python. Calls read like NumPy and OpenCV; each method names the OpenCV function
it matches::

    from pv_guest import vision

    img = vision.VisionImage.from_frame(cur_image)       # one copy of the frame
    mask = img.gray().blur(3).threshold_otsu()
    parts = mask.components(min_area=50)                 # [Component(area, x, y, ...)]

Build against ``wit/vision`` (``componentize-py -d wit -d wit/vision -w
procvision:vision/python-algorithm@1.0.0 componentize ...``). Import this module
only in such an algorithm: a plain ``inspection-algorithm`` build has no
``ops`` to import. A failed operation raises :class:`pv_guest.AlgorithmError`
with the platform's code (1006 for parameters out of range, 1003 for a model
that cannot be loaded). The work counts against the package's fuel, deadline
and memory cap like the algorithm's own.
"""

from typing import List, NamedTuple, Optional, Sequence, Tuple

from componentize_py_types import Err
from wit_world.imports import ops

from .image import Image
from .types import AlgorithmError

#: Regions :meth:`VisionImage.components` returns at most unless told.
MAX_COMPONENTS = 100_000


def _upload(width, height, channels, order, pixels):
    """An image handle from packed pixels (bytes, bytearray or memoryview).

    The pixels go as a latin-1 str, one char per byte: componentize-py 0.19 to
    0.25.1 never frees the copy it makes of a ``bytes`` argument to an import
    (a whole frame per call), but frees the copy of a str.
    """
    return _call(ops.Image.from_latin1, width, height, channels, order, str(pixels, "latin-1"))


def _call(operation, *args):
    """Run a vision operation; its error becomes an AlgorithmError with its code."""
    try:
        return operation(*args)
    except Err as err:
        value = err.value
        raise AlgorithmError(getattr(value, "code", 9999), getattr(value, "message", str(value))) from None


class Component(NamedTuple):
    """A connected region: ``cv2.connectedComponentsWithStats``' stats and centroid."""

    area: int
    x: int
    y: int
    width: int
    height: int
    cx: float
    cy: float


class RotatedRect(NamedTuple):
    """``cv2.minAreaRect``: centre, size, and the angle in degrees of the
    ``width`` side from the x axis (clockwise on screen)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float

    def box_points(self) -> List[Tuple[float, float]]:
        """The four corners (``cv2.boxPoints``); for an angle of 0: top-left,
        top-right, bottom-right, bottom-left. Computed by the vision component,
        so they are the same as its own to the last bit."""
        corners = ops.box_points(ops.RotatedRect(self.cx, self.cy, self.width, self.height, self.angle))
        return [(p.x, p.y) for p in corners]


def _points(corners) -> list:
    return [ops.Point(float(x), float(y)) for x, y in corners]


class Match(NamedTuple):
    """The best place of a template: top-left corner and ``TM_CCOEFF_NORMED`` score."""

    x: int
    y: int
    score: float


_ORDER = {"rgb8": ops.ChannelOrder.RGB, "rgba8": ops.ChannelOrder.RGB, "bgr8": ops.ChannelOrder.BGR, "gray8": ops.ChannelOrder.RGB}


class VisionImage:
    """An 8-bit image held by the vision component (1, 3 or 4 channels)."""

    __slots__ = ("_handle",)

    def __init__(self, handle):
        self._handle = handle

    # -- making and reading -------------------------------------------------

    @classmethod
    def from_frame(cls, image: Image) -> "VisionImage":
        """The frame a step got, copied once into the vision component."""
        return cls(_upload(image.width, image.height, image.channels, _ORDER[image.format], image.pixels))

    @classmethod
    def from_bytes(cls, width: int, height: int, pixels: bytes, channels: int = 1, bgr: bool = False) -> "VisionImage":
        """An image from packed pixels (``np.frombuffer(...).reshape(h, w, c)``)."""
        order = ops.ChannelOrder.BGR if bgr else ops.ChannelOrder.RGB
        return cls(_upload(width, height, channels, order, pixels))

    @classmethod
    def full(cls, width: int, height: int, value: int = 0) -> "VisionImage":
        """A gray image of one value (``np.full((h, w), value, np.uint8)``)."""
        return cls(_call(ops.Image.filled, width, height, value))

    @property
    def width(self) -> int:
        return self._handle.width()

    @property
    def height(self) -> int:
        return self._handle.height()

    @property
    def channels(self) -> int:
        return self._handle.channels()

    @property
    def shape(self) -> Tuple[int, ...]:
        """As NumPy says it: (height, width) or (height, width, channels)."""
        if self.channels == 1:
            return (self.height, self.width)
        return (self.height, self.width, self.channels)

    def tobytes(self) -> bytes:
        """The pixels, copied out (``img.tobytes()``)."""
        return self._handle.pixels()

    # -- the operations -----------------------------------------------------

    def gray(self) -> "VisionImage":
        """``cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)`` (BT.601)."""
        return VisionImage(self._handle.gray())

    def resize(self, width: int, height: int) -> "VisionImage":
        """``cv2.resize(img, (width, height))``, bilinear."""
        return VisionImage(_call(self._handle.resize, width, height))

    def crop(self, x: int, y: int, width: int, height: int) -> "VisionImage":
        """``img[y:y+height, x:x+width]``, clipped to the image."""
        return VisionImage(_call(self._handle.crop, ops.Rect(x, y, width, height)))

    def blur(self, k: int) -> "VisionImage":
        """``cv2.blur(img, (k, k))``."""
        return VisionImage(_call(self._handle.blur, k))

    def gaussian_blur(self, k: int, sigma: float = 0.0) -> "VisionImage":
        """``cv2.GaussianBlur(img, (k, k), sigma)``."""
        return VisionImage(_call(self._handle.gaussian_blur, k, float(sigma)))

    def threshold(self, level: int) -> "VisionImage":
        """``cv2.threshold(img, level, 255, cv2.THRESH_BINARY)[1]``."""
        return VisionImage(_call(self._handle.threshold, level))

    def otsu_level(self) -> int:
        """``cv2.threshold(img, 0, 255, cv2.THRESH_OTSU)[0]``."""
        return _call(self._handle.otsu_level)

    def threshold_otsu(self, at_least: int = 0) -> "VisionImage":
        """Binarised at Otsu's level (or ``at_least``, when higher)."""
        return self.threshold(max(at_least, self.otsu_level()))

    def adaptive_threshold(self, block: int, c: float) -> "VisionImage":
        """``cv2.adaptiveThreshold(img, 255, ADAPTIVE_THRESH_MEAN_C, THRESH_BINARY, block, c)``."""
        return VisionImage(_call(self._handle.adaptive_threshold, block, float(c)))

    def erode(self, k: int, kw: Optional[int] = None) -> "VisionImage":
        """``cv2.erode(img, np.ones((k, kw)))``: the minimum over each window."""
        return VisionImage(_call(self._handle.erode, k, kw or k))

    def dilate(self, k: int, kw: Optional[int] = None) -> "VisionImage":
        """``cv2.dilate(img, np.ones((k, kw)))``: the maximum over each window."""
        return VisionImage(_call(self._handle.dilate, k, kw or k))

    def open(self, k: int, kw: Optional[int] = None) -> "VisionImage":
        """``cv2.morphologyEx(img, cv2.MORPH_OPEN, np.ones((k, kw)))``."""
        return VisionImage(_call(self._handle.open, k, kw or k))

    def close(self, k: int, kw: Optional[int] = None) -> "VisionImage":
        """``cv2.morphologyEx(img, cv2.MORPH_CLOSE, np.ones((k, kw)))``."""
        return VisionImage(_call(self._handle.close, k, kw or k))

    def absdiff(self, other: "VisionImage") -> "VisionImage":
        """``cv2.absdiff(img, other)``."""
        return VisionImage(_call(self._handle.abs_diff, other._handle))

    def histogram(self) -> List[int]:
        """``cv2.calcHist([img], [0], None, [256], [0, 256])``, as a list of 256 counts."""
        return list(_call(self._handle.histogram))

    def mean(self) -> float:
        """``img.mean()``."""
        return _call(self._handle.mean)

    def components(self, min_area: int = 0, max_count: int = MAX_COMPONENTS) -> List[Component]:
        """The 8-connected regions of the non-zero pixels with at least ``min_area``
        pixels (``cv2.connectedComponentsWithStats``), in raster order."""
        found = _call(self._handle.components, min_area, max_count)
        return [
            Component(c.area, c.bounds.x, c.bounds.y, c.bounds.width, c.bounds.height, c.centroid_x, c.centroid_y)
            for c in found
        ]

    def min_area_rects(self, min_area: int = 0, max_count: int = MAX_COMPONENTS) -> List[RotatedRect]:
        """``cv2.minAreaRect`` of each region :meth:`components` finds."""
        found = _call(self._handle.min_area_rects, min_area, max_count)
        return [RotatedRect(r.center_x, r.center_y, r.width, r.height, r.angle) for r in found]

    def match_template(self, template: "VisionImage") -> Match:
        """Where ``template`` fits best (``cv2.matchTemplate`` with ``TM_CCOEFF_NORMED``, then ``cv2.minMaxLoc``)."""
        found = _call(self._handle.match_template, template._handle)
        return Match(found.x, found.y, found.score)

    def warp_quad(self, corners, width: int, height: int, cubic: bool = True) -> Optional["VisionImage"]:
        """The quadrilateral ``corners`` ((x, y) of top-left, top-right,
        bottom-right, bottom-left) straightened into a ``width`` x ``height``
        image: ``cv2.warpPerspective(img, cv2.getPerspectiveTransform(corners,
        dst), (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)``
        (``INTER_LINEAR`` with ``cubic=False``). None when three corners are
        (nearly) on one line."""
        interpolation = ops.Interpolation.CUBIC if cubic else ops.Interpolation.LINEAR
        handle = _call(self._handle.warp_quad, _points(corners), width, height, interpolation)
        return None if handle is None else VisionImage(handle)

    def rot90(self, k: int = 1) -> "VisionImage":
        """``np.rot90(img, k)``: ``k`` quarter turns counter-clockwise."""
        return VisionImage(self._handle.rot90(k % 4))


class Tensor:
    """A float tensor held by the vision component."""

    __slots__ = ("_handle",)

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def from_image(
        cls,
        image: VisionImage,
        width: int,
        height: int,
        bgr: bool = False,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> "Tensor":
        """``cv2.dnn.blobFromImage``: resized, ``(v / 255 - mean) / std`` per channel, NCHW."""
        order = ops.ChannelOrder.BGR if bgr else ops.ChannelOrder.RGB
        return cls(_call(ops.Tensor.from_image, image._handle, width, height, order, list(mean), list(std)))

    @classmethod
    def from_images(
        cls,
        images: Sequence[VisionImage],
        widths: Sequence[int],
        width: int,
        height: int,
        bgr: bool = False,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> "Tensor":
        """A batch ``[n, 3, height, width]``: image ``i`` resized to ``widths[i]``
        columns and padded with zeros on the right (how text recognisers take
        lines of several lengths in one run); otherwise as :meth:`from_image`."""
        order = ops.ChannelOrder.BGR if bgr else ops.ChannelOrder.RGB
        handles = [image._handle for image in images]
        return cls(_call(ops.Tensor.from_images, handles, list(widths), width, height, order, list(mean), list(std)))

    @classmethod
    def from_list(cls, shape: Sequence[int], data: Sequence[float]) -> "Tensor":
        """A tensor of ``shape`` from row-major values."""
        return cls(_call(ops.Tensor.from_data, list(shape), list(data)))

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self._handle.shape())

    def tolist(self) -> List[float]:
        """The values, row-major, copied out."""
        return list(self._handle.data())

    # A map is a tensor whose dimensions but the last two are 1, such as a
    # segmentation model's [1, 1, h, w] output.

    def threshold(self, level: float) -> VisionImage:
        """A map as a mask: ``((map > level) * 255).astype(np.uint8)``."""
        return VisionImage(_call(self._handle.threshold, float(level)))

    def mean_in_polygon(self, polygon) -> float:
        """The map's mean inside ``polygon`` ((x, y) points): ``cv2.fillPoly`` on
        the polygon's bounding box, then ``cv2.mean`` with that mask, as PP-OCR
        scores a text box."""
        return _call(self._handle.mean_in_polygon, _points(polygon))

    def argmax(self) -> Tuple[List[int], List[float]]:
        """``np.argmax(t, -1)`` and ``np.max(t, -1)``, flattened row-major: the
        winning index and its value at every position of the last axis."""
        found = _call(self._handle.argmax)
        return [w.index for w in found], [w.value for w in found]

    def take(self, index: int) -> List[float]:
        """``t[..., index].ravel()``: one entry of the last axis everywhere."""
        return list(_call(self._handle.take, index))


class Model:
    """An ONNX model shipped as a package asset, parsed once: load it in ``setup``."""

    __slots__ = ("_handle", "name")

    def __init__(self, name: str):
        self.name = name
        self._handle = _call(ops.Model.load, name)

    def metadata(self, key: str) -> Optional[str]:
        return self._handle.metadata(key)

    def run(self, tensor: Tensor) -> Tensor:
        """The model's first output for ``tensor``."""
        return Tensor(_call(self._handle.run, tensor._handle))
