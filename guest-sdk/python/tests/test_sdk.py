"""Unit tests of the SDK parts that need no component: run with
``python3 -m unittest discover -s guest-sdk/python/tests`` (host/tests/python.rs
runs them too)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pv_guest  # noqa: E402
from pv_guest import AlgorithmError, Image, Param, Rect, Result, Step, group_guide_info, ng, ok, otsu_threshold  # noqa: E402


class ImageTest(unittest.TestCase):
    def test_gray_pixels_rows_and_numpy_order_indexing(self):
        img = Image(3, 2, bytes([1, 2, 3, 4, 5, 6]))
        self.assertEqual((img.width, img.height, img.channels, img.shape), (3, 2, 1, (2, 3)))
        self.assertEqual(img.row(1), bytes([4, 5, 6]))
        self.assertEqual(list(img.rows()), [bytes([1, 2, 3]), bytes([4, 5, 6])])
        self.assertEqual(img.pixel(2, 0), 3)
        self.assertEqual(img[1, 0], 4)
        self.assertEqual(img.crop(1, 0, 5, 5).pixels, bytes([2, 3, 5, 6]))
        with self.assertRaises(IndexError):
            img.pixel(3, 0)

    def test_colour_converts_to_luma_in_either_channel_order(self):
        rgb = Image(2, 1, bytes([255, 0, 0, 0, 0, 255]), "rgb8")
        bgr = Image(2, 1, bytes([0, 0, 255, 255, 0, 0]), "bgr8")
        self.assertEqual(rgb[0, 0], (255, 0, 0))
        self.assertEqual(rgb.gray().pixels, bgr.gray().pixels)
        self.assertEqual(rgb.gray().pixels, bytes([77, 29]))

    def test_a_wrong_length_is_refused(self):
        with self.assertRaises(ValueError):
            Image(2, 2, bytes(3))
        with self.assertRaises(ValueError):
            Image(1, 1, bytes(1), "yuv")

    def test_otsu_splits_two_levels(self):
        img = Image(4, 1, bytes([10, 10, 200, 200]))
        level = otsu_threshold(img.histogram())
        self.assertTrue(10 <= level < 200, level)


class ResultTest(unittest.TestCase):
    def test_helpers_and_the_platform_dict_give_the_same_result(self):
        helper = ng("scratch", [Rect(1, 2, 3, 4, label="s")], debug={"n": 1})
        platform = Result.of(
            {"status": "OK", "data": {"result_status": "NG", "ng_reason": "scratch",
                                      "defect_rects": [{"x": 1, "y": 2, "width": 3, "height": 4, "label": "s"}],
                                      "debug": {"n": 1}}}
        )
        for result in (helper, platform):
            self.assertEqual((result.verdict, result.ng_reason, result.debug), ("NG", "scratch", {"n": 1}))
            self.assertEqual(result.defect_rects, [Rect(1, 2, 3, 4, label="s")])
        self.assertEqual(ok().verdict, "OK")

    def test_a_platform_error_dict_raises_its_code(self):
        with self.assertRaises(AlgorithmError) as caught:
            Result.of({"status": "ERROR", "error_code": "1006", "message": "bad threshold"})
        self.assertEqual((caught.exception.code, caught.exception.message), (1006, "bad threshold"))
        self.assertEqual(AlgorithmError("INVALID_PID", "x").code, 1001)
        self.assertEqual(AlgorithmError(4242, "x").code, 9999)

    def test_anything_else_is_a_type_error(self):
        with self.assertRaises(TypeError):
            Result.of(42)


class InfoTest(unittest.TestCase):
    def test_params_from_builders_and_dicts_agree(self):
        built = Param.int("threshold", default=128, min=0, max=255)
        described = Param.of({"name": "threshold", "type": "int", "default": 128, "min": 0, "max": 255})
        self.assertEqual((built.kind, built.default, built.rules), (described.kind, described.default, described.rules))
        self.assertEqual(Param.of({"name": "mode", "type": "enum", "choices": ["a"]}).kind, "choice")
        step = Step.of({"index": 1, "name": "s", "params": [{"name": "on", "type": "bool"}]})
        self.assertEqual((step.index, step.params[0].kind), (1, "bool"))

    def test_the_default_info_reads_the_class_attributes(self):
        class Counter(pv_guest.Algorithm):
            name, version, pids = "counter", "2.0.0", ["A"]
            steps = [Step(1, "count")]

        info = Counter().get_info()
        self.assertEqual((info["name"], info["version"], info["supported_pids"]), ("counter", "2.0.0", ["A"]))

    def test_guide_info_groups_by_label_like_the_platform(self):
        groups = group_guide_info([Rect(0, 0, 1, 1, "1"), Rect(2, 2, 1, 1, "2"), Rect(4, 4, 1, 1, "1")])
        self.assertEqual([g["label"] for g in groups], ["1", "2"])
        self.assertEqual(len(groups[0]["posList"]), 2)

    def test_services_say_they_need_a_component(self):
        with self.assertRaises(RuntimeError):
            pv_guest.log.info("hello")
        with self.assertRaises(RuntimeError):
            pv_guest.export(pv_guest.Algorithm)


if __name__ == "__main__":
    unittest.main()
