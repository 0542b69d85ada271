"""Rectangles, results, errors and parameter declarations, free of the bindings."""

import json
from typing import Any, Dict, List, Optional, Sequence, Union

#: Error codes by name, with the platform's numbers (the WIT `error-code` enum).
ERROR_CODES = {
    "INVALID_PID": 1001,
    "IMAGE_LOAD_FAILED": 1002,
    "MODEL_NOT_FOUND": 1003,
    "OUT_OF_MEMORY": 1004,
    "TIMEOUT": 1005,
    "INVALID_PARAMS": 1006,
    "COORDINATE_INVALID": 1007,
    "UNKNOWN": 9999,
}
_CODE_NAMES = {number: name for name, number in ERROR_CODES.items()}


class Rect:
    """An axis-aligned rectangle in image pixels (origin top-left), optionally
    labelled and scored. Also accepted wherever a rect is expected: a dict with
    ``x``, ``y``, ``width``, ``height`` (and ``label``, ``score``), as the
    platform's SDK writes them.
    """

    __slots__ = ("x", "y", "width", "height", "label", "score")

    def __init__(self, x: int, y: int, width: int, height: int, label: Optional[str] = None, score: Optional[float] = None):
        self.x, self.y, self.width, self.height = int(x), int(y), int(width), int(height)
        self.label = label
        self.score = None if score is None else float(score)

    @classmethod
    def of(cls, value: Union["Rect", Dict[str, Any], Sequence[int]]) -> "Rect":
        """A rect from a Rect, a dict or an (x, y, width, height) sequence."""
        if isinstance(value, Rect):
            return value
        if isinstance(value, dict):
            return cls(value["x"], value["y"], value["width"], value["height"], value.get("label"), value.get("score"))
        x, y, width, height = value
        return cls(x, y, width, height)

    def labelled(self, label: str) -> "Rect":
        """The same rect with a label."""
        return Rect(self.x, self.y, self.width, self.height, label, self.score)

    def scored(self, score: float) -> "Rect":
        """The same rect with a confidence in [0, 1]."""
        return Rect(self.x, self.y, self.width, self.height, self.label, score)

    def as_dict(self) -> Dict[str, Any]:
        """The rect as the platform's SDK writes it."""
        out: Dict[str, Any] = {"x": self.x, "y": self.y, "width": self.width, "height": self.height}
        if self.label is not None:
            out["label"] = self.label
        if self.score is not None:
            out["score"] = self.score
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rect) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Rect({self.x}, {self.y}, {self.width}, {self.height}, label={self.label!r}, score={self.score!r})"


class AlgorithmError(Exception):
    """Raise it to fail a call with a platform error code and a message for the
    operator: ``raise AlgorithmError(1006, "threshold above 255")`` or
    ``AlgorithmError("INVALID_PARAMS", ...)``. Any other exception becomes 9999
    with its text.
    """

    def __init__(self, code: Union[int, str], message: str):
        if isinstance(code, str):
            code = ERROR_CODES.get(code.upper(), 9999)
        self.code = code if code in _CODE_NAMES else 9999
        self.message = message
        super().__init__(f"{self.code}: {message}")


class Result:
    """What ``execute`` returns: OK, or NG with a reason and defect rects.

    Build with :func:`ok` and :func:`ng`. ``execute`` may also return the
    platform SDK's dict (``{"result_status": "NG", "ng_reason": ..., "defect_rects":
    [...]}``, bare or under ``"data"``).
    """

    __slots__ = ("verdict", "ng_reason", "defect_rects", "position_rects", "debug")

    def __init__(self, verdict: str, ng_reason: Optional[str] = None, defect_rects=(), position_rects=(), debug=None):
        if verdict not in ("OK", "NG"):
            raise ValueError(f"verdict must be 'OK' or 'NG', not {verdict!r}")
        self.verdict = verdict
        self.ng_reason = ng_reason
        self.defect_rects = [Rect.of(r) for r in defect_rects]
        self.position_rects = [Rect.of(r) for r in position_rects]
        self.debug = debug

    def defect(self, rect) -> "Result":
        """Add a defect rect."""
        self.defect_rects.append(Rect.of(rect))
        return self

    def position(self, rect) -> "Result":
        """Add a position rect (shown whatever the verdict)."""
        self.position_rects.append(Rect.of(rect))
        return self

    def with_debug(self, **values) -> "Result":
        """Add debug values (a JSON object in the result)."""
        self.debug = {**(self.debug or {}), **values}
        return self

    @classmethod
    def of(cls, value) -> "Result":
        """A result from a Result or the platform SDK's dict."""
        if isinstance(value, Result):
            return value
        if isinstance(value, dict):
            if value.get("status") == "ERROR":
                raise AlgorithmError(int(value.get("error_code", 9999)), str(value.get("message", "")))
            data = value.get("data", value)
            return cls(
                str(data.get("result_status", "OK")).upper(),
                data.get("ng_reason"),
                data.get("defect_rects", ()),
                data.get("position_rects", ()),
                data.get("debug"),
            )
        raise TypeError(f"execute must return pv_guest.ok(...), pv_guest.ng(...) or a result dict, not {type(value).__name__}")


def ok(position_rects=(), debug=None) -> Result:
    """An OK verdict."""
    return Result("OK", None, (), position_rects, debug)


def ng(reason: str, defect_rects=(), position_rects=(), debug=None) -> Result:
    """An NG verdict: a reason and at least one defect rect (the host refuses NG without them)."""
    return Result("NG", reason, defect_rects, position_rects, debug)


class Prepared:
    """What ``pre_execute`` returns: a status message and calibration rects. It may
    also return a plain string (the message) or ``None``.
    """

    __slots__ = ("message", "calibration_rects", "debug")

    def __init__(self, message: str = "", calibration_rects=(), debug=None):
        self.message = message
        self.calibration_rects = [Rect.of(r) for r in calibration_rects]
        self.debug = debug

    @classmethod
    def of(cls, value) -> "Prepared":
        if isinstance(value, Prepared):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            data = value.get("data", value)
            return cls(str(data.get("message", "")), data.get("calibration_rects", ()), data.get("debug"))
        raise TypeError(f"pre_execute must return pv_guest.Prepared, a string, a dict or None, not {type(value).__name__}")


class Param:
    """A step parameter's declaration. Build with the class methods:
    ``Param.int("threshold", default=128, min=0, max=255)``, ``Param.float``,
    ``Param.bool``, ``Param.text``, ``Param.rect``, ``Param.choice``. The host checks
    every value against it before the algorithm sees it.
    """

    __slots__ = ("name", "kind", "description", "required", "default", "rules")

    def __init__(self, name: str, kind: str, description: str = "", required: bool = False, default=None, **rules):
        self.name, self.kind, self.description = name, kind, description
        self.required, self.default, self.rules = required, default, rules

    @classmethod
    def int(cls, name, default=None, min=None, max=None, description="", required=False) -> "Param":
        return cls(name, "int", description, required, default, min=min, max=max)

    @classmethod
    def float(cls, name, default=None, min=None, max=None, description="", required=False) -> "Param":
        return cls(name, "float", description, required, default, min=min, max=max)

    @classmethod
    def bool(cls, name, default=None, description="", required=False) -> "Param":
        return cls(name, "bool", description, required, default)

    @classmethod
    def text(cls, name, default=None, min_length=None, max_length=None, pattern=None, description="", required=False) -> "Param":
        return cls(name, "text", description, required, default, min_length=min_length, max_length=max_length, pattern=pattern)

    @classmethod
    def rect(cls, name, default=None, description="", required=False) -> "Param":
        return cls(name, "rect", description, required, default)

    @classmethod
    def choice(cls, name, choices, default=None, description="", required=False) -> "Param":
        return cls(name, "choice", description, required, default, choices=list(choices))

    @classmethod
    def of(cls, value) -> "Param":
        """A Param, or a dict ``{"name", "type", "default", "min", "max", "choices", ...}``."""
        if isinstance(value, Param):
            return value
        value = dict(value)
        name, kind = value.pop("name"), value.pop("type", "text")
        kind = {"str": "text", "string": "text", "boolean": "bool", "enum": "choice", "enumeration": "choice"}.get(kind, kind)
        return cls(name, kind, value.pop("description", ""), value.pop("required", False), value.pop("default", None), **value)


class Step:
    """One inspection step: index (from 1), name, description, params."""

    __slots__ = ("index", "name", "description", "params")

    def __init__(self, index: int, name: str, description: str = "", params=()):
        self.index, self.name, self.description = index, name, description
        self.params = [Param.of(p) for p in params]

    @classmethod
    def of(cls, value) -> "Step":
        if isinstance(value, Step):
            return value
        return cls(value["index"], value["name"], value.get("description", ""), value.get("params", ()))


def json_text(value) -> Optional[str]:
    """Debug data as the JSON object text the contract carries."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def group_guide_info(rects: List[Rect]) -> List[Dict[str, Any]]:
    """Guide rects in the platform's shape: ``[{"label": "1", "posList": [{x, y,
    width, height}, ...]}, ...]``, grouped by label in order of appearance."""
    groups: Dict[str, List[Dict[str, int]]] = {}
    for rect in rects:
        groups.setdefault(rect.label or "", []).append(
            {"x": rect.x, "y": rect.y, "width": rect.width, "height": rect.height}
        )
    return [{"label": label, "posList": positions} for label, positions in groups.items()]
