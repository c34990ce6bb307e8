"""The exceptions an actor sees when the host cannot do what it asked."""

from __future__ import annotations

from typing import Any, Optional

#: The kinds of :class:`DeliveryError`, as the WIT contract names them, plus
#: ``decode`` for a payload that could not be encoded or decoded on this side.
DELIVERY_ERROR_KINDS = (
    "unknown-process",
    "mailbox-full",
    "timeout",
    "no-connection",
    "response-ignored",
    "terminated",
    "remote",
    "not-allowed",
    "payload-too-large",
    "decode",
)


class DeliveryError(Exception):
    """A message, call or response did not get through.

    ``kind`` is one of :data:`DELIVERY_ERROR_KINDS`; ``detail`` carries the
    variant's value: the exit reason for ``terminated``, the callee's text
    for ``remote``, the reason for ``not-allowed`` (a request the callee
    could not decode starts with ``bad request: ``), the byte limit for
    ``payload-too-large``, the decoder's complaint for ``decode``, ``None``
    otherwise.

    These are transport-class failures. An application's own errors belong
    in its reply (``{"Err": ...}``), where the caller reads them like any
    answer.
    """

    def __init__(self, kind: str, detail: Any = None):
        if kind not in DELIVERY_ERROR_KINDS:
            raise ValueError(f"unknown delivery error kind {kind!r}")
        self.kind = kind
        self.detail = detail
        super().__init__(self._text())

    def _text(self) -> str:
        if self.detail is None:
            return self.kind
        return f"{self.kind}: {self.detail}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeliveryError) and (self.kind, self.detail) == (other.kind, other.detail)

    def __hash__(self) -> int:
        return hash((self.kind, str(self.detail)))

    def __repr__(self) -> str:
        return f"DeliveryError({self.kind!r}, {self.detail!r})"


class SpawnError(Exception):
    """``spawn`` failed: ``kind`` is ``unknown-behaviour``, ``limit-reached``
    or ``init-failed``; ``detail`` says which behaviour, limit or why."""

    def __init__(self, kind: str, detail: Optional[str] = None):
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail is not None else kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpawnError) and (self.kind, self.detail) == (other.kind, other.detail)

    def __hash__(self) -> int:
        return hash((self.kind, self.detail))


class RegisterError(Exception):
    """``register`` failed: ``kind`` is ``taken`` (``detail`` is the holder's
    :class:`~wactor.Pid`) or ``invalid`` (``detail`` says why)."""

    def __init__(self, kind: str, detail: Any = None):
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail is not None else kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegisterError) and (self.kind, self.detail) == (other.kind, other.detail)

    def __hash__(self) -> int:
        return hash((self.kind, str(self.detail)))
