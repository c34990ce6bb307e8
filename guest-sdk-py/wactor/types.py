"""The plain values actors pass around: pids, refs, calls, infos."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .errors import DeliveryError

#: The top bit of a ref's ``id_hi``: set when the call is in JSON.
JSON_BIT = 1 << 63


@dataclass(frozen=True)
class Pid:
    """Names one actor process, anywhere in a cluster. ``id`` 0 is the host
    itself: the sender of messages and calls from outside (HTTP, the CLI)."""

    node: str
    id: int
    creation: int

    def is_host(self) -> bool:
        return self.id == 0

    def __str__(self) -> str:
        return f"<{self.node}.{self.id}.{self.creation}>"

    def to_json(self) -> dict:
        return {"node": self.node, "id": self.id, "creation": self.creation}

    @classmethod
    def from_json(cls, value: Any) -> "Pid":
        if isinstance(value, Pid):
            return value
        return cls(str(value["node"]), int(value["id"]), int(value["creation"]))


@dataclass(frozen=True)
class Ref:
    """Identifies one pending call. The top bit of ``id_hi`` is the call's
    encoding (see :attr:`encoding`)."""

    id_hi: int
    id_lo: int
    deadline_ms: int

    @property
    def encoding(self) -> str:
        """``"json"`` for a call made in JSON, ``"native"`` otherwise."""
        return "json" if self.id_hi & JSON_BIT else "native"

    def to_json(self) -> dict:
        return {"id_hi": self.id_hi, "id_lo": self.id_lo, "deadline_ms": self.deadline_ms}

    @classmethod
    def from_json(cls, value: Any) -> "Ref":
        if isinstance(value, Ref):
            return value
        return cls(int(value["id_hi"]), int(value["id_lo"]), int(value["deadline_ms"]))


#: Where a message goes: a :class:`Pid`, or a registered name (``"name"`` or
#: ``"name@node"``).
Address = Union[Pid, str]


@dataclass(frozen=True)
class Call:
    """One pending call: who waits (``from_``) and for what (``ref``).

    Keep it and return :data:`~wactor.DEFER` to answer later with
    ``ctx.reply(call, value)``. It is JSON-serialisable (``to_json`` /
    ``from_json``, and it can be kept in the actor's state), so it can be
    handed to another actor, which may then answer the caller itself.
    """

    from_: Pid
    ref: Ref

    @property
    def encoding(self) -> str:
        """``"json"`` when the caller asked in JSON: the answer goes in JSON."""
        return self.ref.encoding

    def to_json(self) -> dict:
        return {"from": self.from_.to_json(), "ref": self.ref.to_json()}

    @classmethod
    def from_json(cls, value: Any) -> "Call":
        if isinstance(value, Call):
            return value
        return cls(Pid.from_json(value["from"]), Ref.from_json(value["ref"]))


@dataclass
class Response:
    """Info: the answer to ``ctx.call_async``, tagged with the ref it
    returned. ``value`` is the decoded answer, or ``error`` the
    :class:`DeliveryError` that says why there is none."""

    ref: Ref
    value: Any = None
    error: Optional[DeliveryError] = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Down:
    """Info: a monitored process ended (``reason`` ``unknown-process`` when it
    was not alive when the monitor was set up)."""

    monitor: int
    pid: Pid
    reason: str


@dataclass
class Exit:
    """Info: a linked process ended; only for an actor that traps exits."""

    pid: Pid
    reason: str


Info = Union[Response, Down, Exit]


@dataclass(frozen=True)
class Timer:
    """A pending timer, from ``ctx.send_after``."""

    id: int


@dataclass(frozen=True)
class Monitor:
    """A monitor, from ``ctx.monitor``; named again in the :class:`Down`."""

    id: int


LEVELS = ("trace", "debug", "info", "warn", "error")


@dataclass
class RawInfo:
    """An info as the host gives it, before the SDK decodes an answer."""

    kind: str
    ref: Optional[Ref] = None
    payload: Optional[bytes] = None
    error: Optional[DeliveryError] = None
    monitor: int = 0
    pid: Optional[Pid] = None
    reason: str = ""
    extra: dict = field(default_factory=dict)
