"""Native tests of the image processing: ``python3 -m unittest discover -s examples/tray-presence``."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import vision  # noqa: E402


def tray(rows, columns, missing=(), pitch=40, radius=12, width=None, height=None):
    """A dark tray with bright discs in a grid; ``missing`` lists (row, column) left empty."""
    width = width or columns * pitch + pitch
    height = height or rows * pitch + pitch
    pixels = bytearray([40]) * (width * height)
    for r in range(rows):
        for c in range(columns):
            if (r, c) in missing:
                continue
            cx, cy = pitch + c * pitch, pitch + r * pitch
            for y in range(cy - radius, cy + radius + 1):
                for x in range(cx - radius, cx + radius + 1):
                    if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
                        pixels[y * width + x] = 200
    return bytes(pixels), width, height


class VisionTest(unittest.TestCase):
    def test_a_full_tray_has_every_part_and_no_empty_slot(self):
        pixels, w, h = tray(3, 4)
        parts = [b for b in vision.find_parts(pixels, w, h, 4, 12) if b[4] >= 200]
        self.assertEqual(len(parts), 12)
        self.assertEqual(vision.missing_slots(parts, 3, 4), [])

    def test_an_empty_slot_is_found_where_the_part_should_be(self):
        for gap in [(1, 2), (0, 0), (2, 3)]:
            pixels, w, h = tray(3, 4, missing={gap})
            parts = [b for b in vision.find_parts(pixels, w, h, 4, 12) if b[4] >= 200]
            self.assertEqual(len(parts), 11)
            (box,) = vision.missing_slots(parts, 3, 4)
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            self.assertLess(abs(cx - (40 + gap[1] * 40)), 8, (gap, box))
            self.assertLess(abs(cy - (40 + gap[0] * 40)), 8, (gap, box))


if __name__ == "__main__":
    unittest.main()
