"""The component side: the ``WitWorld`` class componentize-py exports, and
the host adapter over the generated bindings of ``wit/actor.wit``.

Only imported inside a component build (the bindings exist there alone).
``scripts/build-guests`` writes the entry module, which is all it takes::

    import counter                       # the actor's module
    from wactor.component import world_for
    WitWorld = world_for(counter)
"""

from __future__ import annotations

import types as _pytypes
from typing import Any, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import host as _host
from wit_world.imports import types as _wit

from .actor import Actor
from .errors import DeliveryError, RegisterError, SpawnError
from .glue import Glue, InitFailed
from .types import Pid, RawInfo, Ref

_LEVELS = {
    "trace": _wit.Level.TRACE,
    "debug": _wit.Level.DEBUG,
    "info": _wit.Level.INFO,
    "warn": _wit.Level.WARN,
    "error": _wit.Level.ERROR,
}

_DELIVERY = {
    _wit.DeliveryError_UnknownProcess: "unknown-process",
    _wit.DeliveryError_MailboxFull: "mailbox-full",
    _wit.DeliveryError_Timeout: "timeout",
    _wit.DeliveryError_NoConnection: "no-connection",
    _wit.DeliveryError_ResponseIgnored: "response-ignored",
    _wit.DeliveryError_Terminated: "terminated",
    _wit.DeliveryError_Remote: "remote",
    _wit.DeliveryError_NotAllowed: "not-allowed",
    _wit.DeliveryError_PayloadTooLarge: "payload-too-large",
}

_SPAWN = {
    _wit.SpawnError_UnknownBehaviour: "unknown-behaviour",
    _wit.SpawnError_LimitReached: "limit-reached",
    _wit.SpawnError_InitFailed: "init-failed",
}


def _pid(p: Any) -> Pid:
    return Pid(p.node, p.id, p.creation)


def _wpid(p: Pid) -> Any:
    return _wit.Pid(p.node, p.id, p.creation)


def _ref(r: Any) -> Ref:
    return Ref(r.id_hi, r.id_lo, r.deadline_ms)


def _wref(r: Ref) -> Any:
    return _wit.Ref(r.id_hi, r.id_lo, r.deadline_ms)


def _waddr(to: Any) -> Any:
    if isinstance(to, Pid):
        return _wit.Address_Pid(_wpid(to))
    return _wit.Address_Name(str(to))


def _delivery(e: Any) -> DeliveryError:
    kind = _DELIVERY.get(type(e), "remote")
    return DeliveryError(kind, getattr(e, "value", None))


def _delivered(f, *args):
    try:
        return f(*args)
    except Err as e:
        raise _delivery(e.value) from None


class ComponentHost:
    """The host imports, in the SDK's types."""

    def self_pid(self) -> Pid:
        return _pid(_host.self())

    def send(self, to, payload: bytes, important: bool) -> None:
        f = _host.send_important if important else _host.send
        _delivered(f, _waddr(to), payload)

    def call(self, to, payload: bytes, timeout_ms: Optional[int], important: bool) -> bytes:
        f = _host.call_important if important else _host.call
        return _delivered(f, _waddr(to), payload, timeout_ms)

    def call_json(self, to, payload: bytes, timeout_ms: Optional[int]) -> bytes:
        return _delivered(_host.call_json, _waddr(to), payload, timeout_ms)

    def call_async(self, to, payload: bytes, timeout_ms: Optional[int]) -> Ref:
        return _ref(_delivered(_host.call_async, _waddr(to), payload, timeout_ms))

    def send_response(self, to: Pid, ref: Ref, payload: bytes, important: bool) -> None:
        f = _host.send_response_important if important else _host.send_response
        _delivered(f, _wpid(to), _wref(ref), payload)

    def send_response_error(self, to: Pid, ref: Ref, text: str) -> None:
        _delivered(_host.send_response_error, _wpid(to), _wref(ref), text)

    def refuse_request(self, to: Pid, ref: Ref, reason: str) -> None:
        _delivered(_host.refuse_request, _wpid(to), _wref(ref), reason)

    def ref_is_alive(self, ref: Ref) -> bool:
        return _host.ref_is_alive(_wref(ref))

    def send_after(self, to, payload: bytes, delay_ms: int) -> int:
        return _host.send_after(_waddr(to), payload, delay_ms)

    def cancel_timer(self, timer: int) -> bool:
        return _host.cancel_timer(timer)

    def spawn(self, behaviour: str, args: bytes) -> Pid:
        try:
            return _pid(_host.spawn(behaviour, args))
        except Err as e:
            raise SpawnError(_SPAWN.get(type(e.value), "init-failed"), e.value.value) from None

    def spawn_pool(self, behaviour: str, size: int, args: bytes) -> Pid:
        try:
            return _pid(_host.spawn_pool(behaviour, size, args))
        except Err as e:
            raise SpawnError(_SPAWN.get(type(e.value), "init-failed"), e.value.value) from None

    def register(self, name: str) -> None:
        try:
            _host.register(name)
        except Err as e:
            if isinstance(e.value, _wit.RegisterError_Taken):
                raise RegisterError("taken", _pid(e.value.value)) from None
            raise RegisterError("invalid", e.value.value) from None

    def unregister(self, name: str) -> bool:
        return _host.unregister(name)

    def whereis(self, name: str) -> Optional[Pid]:
        p = _host.whereis(name)
        return None if p is None else _pid(p)

    def link(self, to: Pid) -> None:
        _delivered(_host.link, _wpid(to))

    def unlink(self, to: Pid) -> None:
        _host.unlink(_wpid(to))

    def trap_exits(self, on: bool) -> None:
        _host.trap_exits(on)

    def monitor(self, to) -> int:
        return _host.monitor(_waddr(to))

    def demonitor(self, monitor: int) -> bool:
        return _host.demonitor(monitor)

    def log(self, level: str, text: str) -> None:
        _host.log(_LEVELS[level], text)

    def set_important_delivery(self, on: bool) -> None:
        _host.set_important_delivery(on)


def _raw_info(info: Any) -> RawInfo:
    if isinstance(info, _wit.Info_Response):
        outcome = info.value.outcome
        ref = _ref(info.value.r)
        if isinstance(outcome, Err):
            return RawInfo("response", ref=ref, error=_delivery(outcome.value))
        return RawInfo("response", ref=ref, payload=outcome.value)
    if isinstance(info, _wit.Info_Down):
        d = info.value
        return RawInfo("down", monitor=d.monitor, pid=_pid(d.pid), reason=d.reason)
    e = info.value
    return RawInfo("exit", pid=_pid(e.pid), reason=e.reason)


def find_actor(module: _pytypes.ModuleType) -> type:
    """The actor class of ``module``: its ``ACTOR`` attribute, or else the
    one subclass of :class:`~wactor.Actor` defined in it."""
    chosen = getattr(module, "ACTOR", None)
    if chosen is not None:
        return chosen
    found = [
        v for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Actor) and v is not Actor and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(
            f"module {module.__name__} must define exactly one subclass of wactor.Actor "
            f"(found {names}); set ACTOR = TheClass to choose"
        )
    return found[0]


def world_for(module: _pytypes.ModuleType) -> type:
    """The ``WitWorld`` class for the actor defined in ``module``."""
    glue = Glue(find_actor(module), ComponentHost())

    class WitWorld(wit_world.WitWorld):
        def init(self, args: bytes) -> None:
            try:
                glue.init(args)
            except InitFailed as e:
                raise Err(str(e)) from None

        def handle_message(self, from_: Any, message: bytes) -> None:
            glue.handle_message(_pid(from_), message)

        def handle_call(self, from_: Any, r: Any, request: bytes) -> Any:
            kind, value = glue.handle_call(_pid(from_), _ref(r), request)
            if kind == "reply":
                return _wit.CallOutcome_Reply(value)
            if kind == "reply-and-stop":
                return _wit.CallOutcome_ReplyAndStop(value)
            if kind == "stop":
                return _wit.CallOutcome_Stop(value)
            return _wit.CallOutcome_Defer()

        def handle_info(self, info: Any) -> None:
            glue.handle_info(_raw_info(info))

        def terminate(self, reason: str) -> None:
            glue.terminate(reason)

        def snapshot(self) -> Any:
            taken = glue.snapshot()
            if taken is None:
                return None
            return _wit.State(taken[0], taken[1])

        def restore(self, state: Any) -> None:
            try:
                glue.restore(state.version, state.data)
            except InitFailed as e:
                raise Err(str(e)) from None

    return WitWorld
