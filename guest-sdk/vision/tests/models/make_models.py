#!/usr/bin/env python3
"""Write the tiny ONNX models pv-vision's tests load (no weights, a few hundred bytes).

- unsupported-op.onnx: one node of an operator no engine knows (`GridWarp3D`).
- add-one.onnx: y = x + 1 on a [N, 3, H, W] input, with a metadata entry.

Needs `pip install onnx`; the outputs are committed, so the tests do not.
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent


def image_input(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 3, "h", "w"])


def main():
    odd = helper.make_graph(
        [helper.make_node("GridWarp3D", ["x"], ["y"], name="warp_node")],
        "unsupported", [image_input("x")], [image_input("y")])
    model = helper.make_model(odd, opset_imports=[helper.make_opsetid("", 17)], producer_name="pv-vision tests")
    (HERE / "unsupported-op.onnx").write_bytes(model.SerializeToString())

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    add = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"], name="add_one")],
        "add_one", [image_input("x")], [image_input("y")], initializer=[one])
    model = helper.make_model(add, opset_imports=[helper.make_opsetid("", 17)], producer_name="pv-vision tests")
    helper.set_model_props(model, {"character": "a\nb"})
    (HERE / "add-one.onnx").write_bytes(model.SerializeToString())


if __name__ == "__main__":
    main()
