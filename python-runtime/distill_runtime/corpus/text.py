"""JavaScript's string rules, where Python's differ, for byte-identical records on both sides.

- Whitespace: JS's trim() and regex \\s know U+FEFF and not U+001C-U+001F or U+0085; Python's strip() and \\s the
  other way round. JS_WS is JS's set (ECMAScript WhiteSpace and LineTerminator).
- String(value): a number as JS writes it (5.0 -> "5", 1e21 -> "1e+21"), booleans "true"/"false", arrays joined
  with ",", objects "[object Object]".
- A JS regex "." stops at line terminators (\\n, \\r, U+2028, U+2029), Python's only at \\n: JS_DOT.
"""

from __future__ import annotations

import math
import re
from typing import Any

JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
JS_WS_CHARS = "".join(
    ["\t\n\v\f\r \u00a0\u1680", "".join(chr(c) for c in range(0x2000, 0x200B)), "\u2028\u2029\u202f\u205f\u3000\ufeff"]
)
JS_DOT = "[^\n\r\u2028\u2029]"
_non_blank = re.compile(f"[^{JS_WS}]")
_ws_run = re.compile(f"[{JS_WS}]+")
_lone_surrogate = re.compile("[\ud800-\udfff]")


def js_trim(s: str) -> str:
    return s.strip(JS_WS_CHARS)


def js_blank(s: str) -> bool:
    """True when s.trim() === "" in JS."""
    return _non_blank.search(s) is None


def js_collapse_ws(s: str) -> str:
    """s.replace(/\\s+/g, " ")"""
    return _ws_run.sub(" ", s)


def well_formed(s: str) -> str:
    """A lone surrogate (JSON "\\ud800" decodes to one) as U+FFFD, as JS's UTF-8 encoding writes it."""
    return _lone_surrogate.sub("\ufffd", s) if not s.isascii() and _lone_surrogate.search(s) else s


def js_number(x: float) -> str:
    """Number.prototype.toString() for a finite or infinite double."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0") or "0"
    # repr gives the shortest round-trip digits; place the decimal point as ECMAScript does.
    point = len(whole) + int(exp_text or 0) if whole != "0" else -(len(fraction) - len(fraction.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exponent = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + exponent


def js_string(v: Any) -> str:
    """String(v) as JS gives it, for the values JSON, CSV, Parquet and Arrow cells hold."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return js_number(v)
    if isinstance(v, (list, tuple)):
        return ",".join("" if x is None else js_string(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    if isinstance(v, (bytes, bytearray)):
        return ",".join(str(b) for b in v)
    return str(v)
