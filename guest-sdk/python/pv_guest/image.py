"""Images as the algorithm sees them: 8-bit pixels, row-major, tightly packed."""

from typing import Iterator, Optional, Tuple, Union

#: Channels per pixel format, by the names the WIT contract gives them.
CHANNELS = {"gray8": 1, "rgb8": 3, "bgr8": 3, "rgba8": 4}

# Integer weights of ITU-R BT.601 luma (sum 256), so a conversion is exact integer
# arithmetic and gives the same grey on every run.
_WR, _WG, _WB = 77, 150, 29


class Image:
    """A frame: ``width`` x ``height`` pixels of ``channels`` bytes each.

    ``pixels`` is the raw buffer (``bytes``, row-major, no row padding). Index it
    like a NumPy array of shape (height, width, channels): ``image[y, x]`` is an
    ``int`` on a gray image and a tuple on a colour one; ``image.row(y)`` is the
    bytes of one row; ``image.gray()`` converts to one channel.
    """

    __slots__ = ("width", "height", "format", "channels", "pixels", "timestamp_ms", "camera_id")

    def __init__(
        self,
        width: int,
        height: int,
        pixels: Union[bytes, bytearray],
        format: str = "gray8",
        timestamp_ms: int = 0,
        camera_id: str = "",
    ):
        if format not in CHANNELS:
            raise ValueError(f"unknown pixel format {format!r} (known: {', '.join(CHANNELS)})")
        channels = CHANNELS[format]
        if width < 1 or height < 1 or len(pixels) != width * height * channels:
            raise ValueError(
                f"a {width}x{height} {format} image needs {width * height * channels} bytes, got {len(pixels)}"
            )
        self.width = width
        self.height = height
        self.format = format
        self.channels = channels
        self.pixels = bytes(pixels)
        self.timestamp_ms = timestamp_ms
        self.camera_id = camera_id

    @property
    def shape(self) -> Tuple[int, ...]:
        """(height, width) for gray, (height, width, channels) otherwise, as NumPy says it."""
        if self.channels == 1:
            return (self.height, self.width)
        return (self.height, self.width, self.channels)

    @property
    def stride(self) -> int:
        """Bytes per row."""
        return self.width * self.channels

    def row(self, y: int) -> bytes:
        """The bytes of row ``y`` (``width * channels`` of them)."""
        if not 0 <= y < self.height:
            raise IndexError(f"row {y} is outside a {self.height}-row image")
        start = y * self.stride
        return self.pixels[start : start + self.stride]

    def rows(self) -> Iterator[bytes]:
        """Every row, top to bottom."""
        stride = self.stride
        for start in range(0, len(self.pixels), stride):
            yield self.pixels[start : start + stride]

    def pixel(self, x: int, y: int) -> Union[int, Tuple[int, ...]]:
        """The pixel at column ``x``, row ``y``: an int on gray, a tuple on colour."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(f"pixel ({x}, {y}) is outside a {self.width}x{self.height} image")
        at = (y * self.width + x) * self.channels
        if self.channels == 1:
            return self.pixels[at]
        return tuple(self.pixels[at : at + self.channels])

    def __getitem__(self, index: Tuple[int, int]) -> Union[int, Tuple[int, ...]]:
        y, x = index
        return self.pixel(x, y)

    def gray(self) -> "Image":
        """The image as one channel of luma (itself when already gray)."""
        if self.channels == 1:
            return self
        c, p = self.channels, self.pixels
        if self.format == "bgr8":
            r, g, b = p[2::c], p[1::c], p[0::c]
        else:
            r, g, b = p[0::c], p[1::c], p[2::c]
        luma = bytes((_WR * rv + _WG * gv + _WB * bv + 128) >> 8 for rv, gv, bv in zip(r, g, b))
        return Image(self.width, self.height, luma, "gray8", self.timestamp_ms, self.camera_id)

    def crop(self, x: int, y: int, width: int, height: int) -> "Image":
        """The part of the image inside the rectangle, clipped to the image."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + width), min(self.height, y + height)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"the rectangle ({x}, {y}, {width}, {height}) misses the image")
        c = self.channels
        out = bytearray()
        for row in range(y0, y1):
            start = (row * self.width + x0) * c
            out += self.pixels[start : start + (x1 - x0) * c]
        return Image(x1 - x0, y1 - y0, out, self.format, self.timestamp_ms, self.camera_id)

    def mean(self) -> float:
        """Mean of every byte (on gray, the mean grey level)."""
        return sum(self.pixels) / len(self.pixels)

    def histogram(self) -> list:
        """256 counts of the byte values (use on a gray image)."""
        counts = [0] * 256
        for value in range(256):
            counts[value] = self.pixels.count(value)
        return counts

    def __repr__(self) -> str:
        return f"Image({self.width}x{self.height} {self.format})"


def otsu_threshold(histogram: list) -> int:
    """Otsu's threshold of a 256-bin histogram: the level that best splits it in two."""
    total = sum(histogram)
    if total == 0:
        return 0
    sum_all = sum(i * h for i, h in enumerate(histogram))
    best, best_level = -1.0, 0
    weight_back, sum_back = 0, 0
    for level in range(256):
        weight_back += histogram[level]
        if weight_back == 0:
            continue
        weight_fore = total - weight_back
        if weight_fore == 0:
            break
        sum_back += level * histogram[level]
        mean_back = sum_back / weight_back
        mean_fore = (sum_all - sum_back) / weight_fore
        between = weight_back * weight_fore * (mean_back - mean_fore) ** 2
        if between > best:
            best, best_level = between, level
    return best_level


def _from_wit(image) -> "Image":
    fmt = image.meta.format.name.lower()
    return Image(image.meta.width, image.meta.height, image.pixels, fmt, image.meta.timestamp_ms, image.meta.camera_id)


def _maybe_from_wit(image) -> Optional["Image"]:
    return None if image is None else _from_wit(image)
