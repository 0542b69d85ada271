"""Where the parts of a tray should be: the layout logic of the tray presence
check, on the parts the vision component found. Plain Python, free of the SDK
and the bindings, so it runs (and is tested) natively too.
"""

from typing import List, Tuple

#: A part: (x, y, width, height, area in pixels, centre x, centre y), image pixels.
Blob = Tuple[int, int, int, int, int, float, float]


def median(values: List[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def split_rows(parts: List[Blob], rows: int) -> List[List[Blob]]:
    """The parts grouped into ``rows`` rows by their centres' y, cut at the widest gaps."""
    ordered = sorted(parts, key=lambda b: b[6])
    if rows <= 1 or len(ordered) < rows:
        return [ordered]
    gaps = sorted(range(1, len(ordered)), key=lambda i: ordered[i][6] - ordered[i - 1][6], reverse=True)[: rows - 1]
    out, start = [], 0
    for cut in sorted(gaps):
        out.append(ordered[start:cut])
        start = cut
    out.append(ordered[start:])
    return [sorted(row, key=lambda b: b[5]) for row in out]


def missing_slots(parts: List[Blob], rows: int, columns: int) -> List[Tuple[int, int, int, int]]:
    """Where parts are missing in a ``rows`` x ``columns`` layout: boxes (x, y, w, h)
    at the empty slots, placed from the spacing of the parts around them."""
    if not parts:
        return []
    size_w = median([b[2] for b in parts])
    size_h = median([b[3] for b in parts])
    grouped = split_rows(parts, rows)
    full = [row for row in grouped if len(row) >= columns]
    spacings = [b[5] - a[5] for row in grouped for a, b in zip(row, row[1:])]
    pitch = median(spacings) if spacings else size_w * 1.5
    # Where full rows start and end: a part missing at the end of a row shows there.
    left = median([row[0][5] for row in full]) if full else None
    right = median([row[-1][5] for row in full]) if full else None
    boxes = []
    for row in grouped:
        lacking = columns - len(row)
        if lacking <= 0:
            continue
        cy = sum(b[6] for b in row) / len(row)
        centres = []
        xs = [b[5] for b in row]
        for a, b in zip(xs, xs[1:]):
            gap = round((b - a) / pitch) - 1
            centres += [a + (k + 1) * (b - a) / (gap + 1) for k in range(max(0, gap))]
        if len(centres) < lacking and left is not None and xs[0] - left > pitch / 2:
            centres.append(xs[0] - pitch)
        if len(centres) < lacking and right is not None and right - xs[-1] > pitch / 2:
            centres.append(xs[-1] + pitch)
        for cx in centres[:lacking]:
            boxes.append((int(cx - size_w / 2), int(cy - size_h / 2), int(size_w), int(size_h)))
    return boxes
