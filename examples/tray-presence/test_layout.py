"""Native tests of the layout logic: ``python3 -m unittest discover -s examples/tray-presence``."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import layout  # noqa: E402


def parts(rows, columns, missing=(), pitch=40, size=24):
    """The parts of a rows x columns tray as the vision component reports them;
    ``missing`` lists (row, column) left empty."""
    found = []
    for r in range(rows):
        for c in range(columns):
            if (r, c) in missing:
                continue
            cx, cy = pitch + c * pitch, pitch + r * pitch
            found.append((cx - size // 2, cy - size // 2, size, size, size * size, float(cx), float(cy)))
    return found


class LayoutTest(unittest.TestCase):
    def test_a_full_tray_has_no_empty_slot(self):
        self.assertEqual(layout.missing_slots(parts(3, 4), 3, 4), [])

    def test_an_empty_slot_is_found_where_the_part_should_be(self):
        for gap in [(1, 2), (0, 0), (2, 3)]:
            (box,) = layout.missing_slots(parts(3, 4, missing={gap}), 3, 4)
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            self.assertLess(abs(cx - (40 + gap[1] * 40)), 8, (gap, box))
            self.assertLess(abs(cy - (40 + gap[0] * 40)), 8, (gap, box))

    def test_rows_split_at_the_widest_gaps(self):
        rows = layout.split_rows(parts(3, 2), 3)
        self.assertEqual([len(row) for row in rows], [2, 2, 2])
        self.assertEqual(layout.median([3.0, 1.0, 2.0, 10.0]), 2.5)


if __name__ == "__main__":
    unittest.main()
