"""How values become payload bytes and back.

An actor chooses its *native* encoding with the class attribute
``encoding``: ``"json"`` (the default), ``"text"`` (UTF-8 strings) or
``"bytes"`` (bytes as they are). It applies to the messages it receives,
its init arguments, and the requests and answers of calls made to it
natively. A call made in JSON (its ref has the JSON bit: ``wactor call
--json``, HTTP with ``Content-Type: application/json``, ``ctx.call`` from
any actor, ``Context::call_json`` in Rust) is always decoded and answered
in JSON, whatever the native encoding.

``bytes`` values are sent as they are in every encoding, so an actor can
always fall back to its own format.

The JSON form of Rust types is serde's default (externally tagged):

========================================  =============================
Rust                                      JSON (and Python)
========================================  =============================
``Divide(7, 2)`` (tuple variant)          ``{"Divide": [7, 2]}``
``Add(5)`` (newtype variant)              ``{"Add": 5}``
``Get`` (unit variant)                    ``"Get"``
``Move { x: 1 }`` (struct variant)        ``{"Move": {"x": 1}}``
``Point { x: 1, y: 2 }`` (struct)         ``{"x": 1, "y": 2}``
``Ok(3)``, ``Err(E::DivisionByZero)``     ``{"Ok": 3}``, ``{"Err": "DivisionByZero"}``
``None``, ``Some(3)``                     ``None``, ``3``
========================================  =============================
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .errors import DeliveryError

ENCODINGS = ("json", "text", "bytes")


def _default(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON. Pids, refs, calls and dataclasses
    are written as objects."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise DeliveryError("decode", f"could not encode {type(value).__name__} as JSON: {e}") from None


def encode(value: Any, encoding: str) -> bytes:
    """The payload for ``value`` in ``encoding``; ``bytes`` pass unchanged."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if encoding == "json":
        return to_json_bytes(value)
    if encoding == "text":
        if isinstance(value, str):
            return value.encode("utf-8")
        raise DeliveryError("decode", f"a text payload must be a str, not {type(value).__name__}")
    if encoding == "bytes":
        raise DeliveryError("decode", f"a bytes payload must be bytes, not {type(value).__name__}")
    raise ValueError(f"unknown encoding {encoding!r} (use one of {ENCODINGS})")


def decode(data: bytes, encoding: str) -> Any:
    """Reads a whole payload in ``encoding``; raises
    :class:`DeliveryError` of kind ``decode`` when it does not read."""
    if encoding == "bytes":
        return bytes(data)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DeliveryError("decode", f"expected UTF-8 {encoding}: {e}") from None
    if encoding == "text":
        return text
    if encoding == "json":
        try:
            return json.loads(text)
        except ValueError as e:
            raise DeliveryError("decode", f"expected JSON: {e}") from None
    raise ValueError(f"unknown encoding {encoding!r} (use one of {ENCODINGS})")


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r} (use one of {ENCODINGS})")
    return encoding
