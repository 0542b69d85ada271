"""B10's pure-Python side: tray-presence as it was before the vision
component, its pixel work in plain Python on 4x4 tiles (tile means, local
background, Otsu, 4-connected components), the slot logic and everything else
shared with ``examples/tray-presence``. Built by test-artifacts for the
benchmark only (``PY_TRAY_PRESENCE_PURE``).
"""

from typing import List, Tuple

import pv_guest
from pv_guest import otsu_threshold
from tray_presence import TrayPresence

#: Tile size of the segmentation, in pixels: parts of 30 px and more stay whole.
BLOCK = 4

#: A blob: (x, y, width, height, area in pixels, centre x, centre y), image pixels.
Blob = Tuple[int, int, int, int, int, float, float]


def block_means(pixels: bytes, width: int, height: int, block: int) -> Tuple[List[int], int, int]:
    """Mean grey of each ``block`` x ``block`` tile (partial tiles at the edges
    averaged over what they hold), row-major; and the tile grid's size."""
    bw, bh = (width + block - 1) // block, (height + block - 1) // block
    sums = [0] * (bw * bh)
    counts = [0] * (bw * bh)
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        base = (y // block) * bw
        for bx in range(bw):
            chunk = row[bx * block : (bx + 1) * block]
            sums[base + bx] += sum(chunk)
            counts[base + bx] += len(chunk)
    return [s // c for s, c in zip(sums, counts)], bw, bh


def _min_filter_1d(values: List[int], radius: int) -> List[int]:
    n = len(values)
    return [min(values[max(0, i - radius) : i + radius + 1]) for i in range(n)]


def background(tiles: List[int], bw: int, bh: int, radius: int) -> List[int]:
    """Local background: the darkest tile within ``radius`` tiles (a square
    window, rows then columns), which is tray wherever the window is wider than
    a part."""
    rows = [_min_filter_1d(tiles[y * bw : (y + 1) * bw], radius) for y in range(bh)]
    out = [0] * (bw * bh)
    for x in range(bw):
        column = _min_filter_1d([rows[y][x] for y in range(bh)], radius)
        for y in range(bh):
            out[y * bw + x] = column[y]
    return out


def otsu(values: List[int]) -> int:
    """Otsu's threshold of values in 0..255 (the SDK's, on their histogram)."""
    hist = [0] * 256
    for v in values:
        hist[min(255, max(0, v))] += 1
    return otsu_threshold(hist)


def components(mask: List[bool], bw: int, bh: int) -> List[List[int]]:
    """4-connected components of the mask: lists of tile indices."""
    seen = [False] * len(mask)
    out = []
    for start, on in enumerate(mask):
        if not on or seen[start]:
            continue
        seen[start] = True
        stack, members = [start], []
        while stack:
            i = stack.pop()
            members.append(i)
            x, y = i % bw, i // bw
            for j, inside in ((i - 1, x > 0), (i + 1, x < bw - 1), (i - bw, y > 0), (i + bw, y < bh - 1)):
                if inside and mask[j] and not seen[j]:
                    seen[j] = True
                    stack.append(j)
        out.append(members)
    return out


def find_parts(pixels: bytes, width: int, height: int, block: int, min_contrast: int) -> List[Blob]:
    """Bright parts on a darker tray, as blobs in image pixels."""
    tiles, bw, bh = block_means(pixels, width, height, block)
    # A window about three parts wide: every window holds some tray.
    back = background(tiles, bw, bh, max(2, 60 // block))
    contrast = [max(0, t - b) for t, b in zip(tiles, back)]
    level = max(min_contrast, otsu(contrast))
    mask = [c > level for c in contrast]
    blobs = []
    for members in components(mask, bw, bh):
        xs = [i % bw for i in members]
        ys = [i // bw for i in members]
        x0, y0 = min(xs) * block, min(ys) * block
        x1, y1 = min(width, (max(xs) + 1) * block), min(height, (max(ys) + 1) * block)
        cx = (sum(xs) / len(xs) + 0.5) * block
        cy = (sum(ys) / len(ys) + 0.5) * block
        blobs.append((x0, y0, x1 - x0, y1 - y0, len(members) * block * block, cx, cy))
    return blobs




class PureTrayPresence(TrayPresence):
    """The same check with the pixel work in pure Python."""

    def find_parts(self, cur_image, min_contrast, min_area):
        gray = cur_image.gray()
        blobs = find_parts(gray.pixels, gray.width, gray.height, BLOCK, min_contrast)
        return [b for b in blobs if b[4] >= min_area]


Algorithm = pv_guest.export(PureTrayPresence)
