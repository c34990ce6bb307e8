"""Between the host's exports and an :class:`~wactor.Actor`: decoding,
encoding, outcomes and the state hand-off. Not part of the public API.

The glue talks to a *host* object with one method per import of the WIT
contract, in the SDK's own types (pids, refs, bytes; failures raised as
:class:`~wactor.DeliveryError`). In a component it is
:mod:`wactor.component`'s adapter over the generated bindings; in unit
tests it is :class:`wactor.testing.FakeHost`.
"""

from __future__ import annotations

import traceback
from typing import Any, Optional, Tuple

from . import codec
from .actor import Actor, Defer, Reply, ReplyAndStop, Stop
from .context import Context
from .errors import DeliveryError
from .types import Call, Down, Exit, Pid, RawInfo, Ref, Response


class InitFailed(Exception):
    """``init`` or ``restore`` failed; the text goes to the host."""


class Glue:
    """One actor instance: what the component's exports call."""

    def __init__(self, actor_cls: type, host: Any):
        if not (isinstance(actor_cls, type) and issubclass(actor_cls, Actor)):
            raise TypeError(f"{actor_cls!r} is not a subclass of wactor.Actor")
        codec.check_encoding(actor_cls.encoding)
        self.actor_cls = actor_cls
        self.host = host
        self.actor: Optional[Actor] = None
        self.important = False
        # Refs of async calls still unanswered, with the encoding to read
        # their answers in.
        self.async_encodings: dict = {}
        self.ctx = Context(self)

    # ----- exports --------------------------------------------------------

    def init(self, args: bytes) -> None:
        """Raises :class:`InitFailed` with the reason."""
        try:
            value = None if len(args) == 0 else codec.decode(args, self.actor_cls.encoding)
        except DeliveryError as e:
            raise InitFailed(f"bad init arguments: {e.detail}") from None
        actor = self.actor_cls()
        try:
            actor.init(self.ctx, value)
        except Exception as e:  # the author's failure, reported to the spawner
            raise InitFailed(_describe(e)) from None
        self.actor = actor

    def handle_message(self, sender: Pid, message: bytes) -> None:
        actor = self._live()
        try:
            value = codec.decode(message, self.actor_cls.encoding)
        except DeliveryError as e:
            self.ctx.warn(f"dropped a message from {sender}: {e.detail}")
            return
        self._guard("handle_message", lambda: actor.handle_message(self.ctx, sender, value))

    def handle_call(self, sender: Pid, ref: Ref, request: bytes) -> Tuple[str, Any]:
        """``("reply", bytes)``, ``("defer", None)``,
        ``("reply-and-stop", bytes)`` or ``("stop", reason)``."""
        actor = self._live()
        call = Call(sender, ref)
        encoding = "json" if ref.encoding == "json" else self.actor_cls.encoding
        try:
            value = codec.decode(request, encoding)
        except DeliveryError as e:
            # The caller sent something this actor cannot read: its fault,
            # and the actor runs on.
            self._quietly(lambda: self.host.refuse_request(sender, ref, f"could not decode the request as {encoding}: {e.detail}"))
            return ("defer", None)
        outcome = self._guard("handle_call", lambda: actor.handle_call(self.ctx, call, value))
        if isinstance(outcome, Reply) or isinstance(outcome, ReplyAndStop):
            kind = "reply" if isinstance(outcome, Reply) else "reply-and-stop"
            try:
                payload = self.encode_reply(call, outcome.value)
            except DeliveryError as e:
                self._quietly(lambda: self.host.send_response_error(sender, ref, f"bad reply: {e.detail}"))
                return ("defer", None) if kind == "reply" else ("stop", f"bad reply: {e.detail}")
            return (kind, payload)
        if isinstance(outcome, Defer):
            return ("defer", None)
        if isinstance(outcome, Stop):
            return ("stop", str(outcome.reason))
        # Not an outcome (a forgotten `return`, say): the caller is told,
        # and the actor runs on.
        text = (
            f"bad outcome: {type(actor).__name__}.handle_call returned {outcome!r}; "
            "return Reply(value), DEFER, ReplyAndStop(value) or Stop(reason)"
        )
        self.ctx.error(text)
        self._quietly(lambda: self.host.send_response_error(sender, ref, text))
        return ("defer", None)

    def handle_info(self, raw: RawInfo) -> None:
        actor = self._live()
        if raw.kind == "response":
            encoding = self.async_encodings.pop(raw.ref, "json")
            if raw.error is not None:
                info: Any = Response(raw.ref, None, raw.error)
            else:
                try:
                    info = Response(raw.ref, codec.decode(raw.payload or b"", encoding))
                except DeliveryError as e:
                    info = Response(raw.ref, None, e)
        elif raw.kind == "down":
            info = Down(raw.monitor, raw.pid, raw.reason)
        else:
            info = Exit(raw.pid, raw.reason)
        self._guard("handle_info", lambda: actor.handle_info(self.ctx, info))

    def terminate(self, reason: str) -> None:
        actor, self.actor = self.actor, None
        if actor is not None:
            self._guard("terminate", lambda: actor.terminate(self.ctx, reason))

    def snapshot(self) -> Optional[Tuple[int, bytes]]:
        actor = self._live()
        if not self.actor_cls.stateful:
            return None
        state = self._guard("to_state", actor.to_state)
        return (int(self.actor_cls.state_version), codec.to_json_bytes(state))

    def restore(self, version: int, data: bytes) -> None:
        """Raises :class:`InitFailed` with the reason; the host then keeps
        the actor on its old instance."""
        cls = self.actor_cls
        if not cls.stateful:
            raise InitFailed(f"state version {version} cannot be restored: {cls.__name__} keeps no state across versions")
        try:
            state = codec.decode(data, "json")
        except DeliveryError as e:
            raise InitFailed(f"cannot decode the state of version {version}: {e.detail}") from None
        try:
            if version != cls.state_version:
                state = cls.migrate(version, state)
            actor = cls.__new__(cls)
            actor.from_state(state)
        except Exception as e:
            raise InitFailed(f"cannot restore the state of version {version}: {_describe(e)}") from None
        self.actor = actor

    # ----- for the context ----------------------------------------------------

    def encode_reply(self, call: Call, value: Any) -> bytes:
        encoding = "json" if call.encoding == "json" else self.actor_cls.encoding
        return codec.encode(value, encoding)

    def call_json(self, to: Any, payload: bytes, timeout_ms: Optional[int], important: bool) -> bytes:
        # There is no important form of `call-json`; the actor's
        # important-delivery switch makes it one for this call.
        if important and not self.important:
            self.host.set_important_delivery(True)
            try:
                return self.host.call_json(to, payload, timeout_ms)
            finally:
                self.host.set_important_delivery(False)
        return self.host.call_json(to, payload, timeout_ms)

    # ----- helpers ----------------------------------------------------------

    def _live(self) -> Actor:
        if self.actor is None:
            # Only a host that breaks the world's protocol gets here.
            raise RuntimeError(f"{self.actor_cls.__name__}: called before a successful init")
        return self.actor

    def _guard(self, what: str, f):
        """Runs the author's code; an exception is a bug: logged with its
        traceback, then raised on, which traps the instance (as a panic
        does in Rust)."""
        try:
            return f()
        except Exception:
            try:
                self.host.log("error", f"{self.actor_cls.__name__}.{what} raised:\n{traceback.format_exc()}")
            except Exception:
                pass
            raise

    def _quietly(self, f) -> None:
        try:
            f()
        except DeliveryError as e:
            self.ctx.debug(f"could not answer a call: {e}")


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
