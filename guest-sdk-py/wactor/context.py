"""The :class:`Context`: what an actor can ask of its host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import codec
from .errors import DeliveryError
from .types import Address, Call, Monitor, Pid, Ref, Timer, LEVELS

if TYPE_CHECKING:  # pragma: no cover
    from .glue import Glue


class Context:
    """The actor's handle on its host, passed to every handler.

    Addresses are a :class:`~wactor.Pid` or a registered name (``"name"``,
    or ``"name@node"`` for a name on another node). Failures raise
    :class:`~wactor.DeliveryError` (with its ``kind``),
    :class:`~wactor.SpawnError` or :class:`~wactor.RegisterError`.

    Typed values go as JSON, the encoding every wactor SDK reads; the
    ``*_text`` and ``*_bytes`` forms send UTF-8 text or bytes as they are
    (what a Rust actor with ``Raw`` requests, like ``echo``, reads).
    """

    def __init__(self, glue: "Glue"):
        self._glue = glue
        self._host = glue.host

    # ----- who am I -----------------------------------------------------

    def self_pid(self) -> Pid:
        """This actor's own pid."""
        return self._host.self_pid()

    # ----- messages -----------------------------------------------------

    def send(self, to: Address, message: Any, *, encoding: str = "json", important: bool = False) -> None:
        """Puts ``message`` (JSON unless ``encoding`` says ``text`` or
        ``bytes``) in ``to``'s mailbox. Errors are immediate for local
        recipients (``unknown-process``, ``mailbox-full``,
        ``payload-too-large``). ``important=True``: across hosts, returns
        only once the message is in the remote mailbox."""
        payload = codec.encode(message, codec.check_encoding(encoding))
        self._host.send(_address(to), payload, important)

    def send_text(self, to: Address, text: str, *, important: bool = False) -> None:
        """Sends UTF-8 text as it is."""
        self.send(to, text, encoding="text", important=important)

    def send_bytes(self, to: Address, data: bytes, *, important: bool = False) -> None:
        """Sends bytes as they are."""
        self.send(to, bytes(data), encoding="bytes", important=important)

    def send_important(self, to: Address, message: Any, *, encoding: str = "json") -> None:
        """``send(..., important=True)``."""
        self.send(to, message, encoding=encoding, important=True)

    def send_after(self, to: Address, message: Any, delay_ms: int, *, encoding: str = "json") -> Timer:
        """Sends ``message`` to ``to`` after ``delay_ms`` milliseconds; the
        :class:`~wactor.Timer` can be cancelled."""
        payload = codec.encode(message, codec.check_encoding(encoding))
        return Timer(self._host.send_after(_address(to), payload, _u32(delay_ms)))

    def cancel_timer(self, timer: Timer) -> bool:
        """Cancels a timer; ``True`` if it had not fired yet."""
        return self._host.cancel_timer(timer.id if isinstance(timer, Timer) else int(timer))

    # ----- calls --------------------------------------------------------

    def call(self, to: Address, request: Any, *, timeout_ms: Optional[int] = None, important: bool = False) -> Any:
        """Calls ``to`` in JSON and returns its answer, decoded. Any typed
        actor understands it: a Rust one answers with its serde JSON form.

        Only this actor waits; the host runs every other actor meanwhile.
        ``timeout_ms`` defaults to the host's call timeout. Raises
        :class:`~wactor.DeliveryError`: ``timeout``, ``unknown-process``,
        ``terminated`` (the callee ended first), ``remote`` (it answered
        with ``reply_error``), ``not-allowed`` (a call to oneself or around
        a cycle, or ``bad request: ...`` when the callee could not read
        the request). ``important=True``: a request that cannot be
        delivered fails at once."""
        payload = codec.to_json_bytes(request)
        answer = self._glue.call_json(_address(to), payload, _timeout(timeout_ms), important)
        return codec.decode(answer, "json")

    def call_text(self, to: Address, text: str, *, timeout_ms: Optional[int] = None, important: bool = False) -> str:
        """Calls with UTF-8 text as it is (a native call) and returns the
        answer as text."""
        answer = self.call_bytes(to, codec.encode(text, "text"), timeout_ms=timeout_ms, important=important)
        return codec.decode(answer, "text")

    def call_bytes(self, to: Address, data: bytes, *, timeout_ms: Optional[int] = None, important: bool = False) -> bytes:
        """Calls with bytes as they are (a native call) and returns the
        answer's bytes."""
        return self._host.call(_address(to), bytes(data), _timeout(timeout_ms), important)

    def call_important(self, to: Address, request: Any, *, timeout_ms: Optional[int] = None) -> Any:
        """``call(..., important=True)``."""
        return self.call(to, request, timeout_ms=timeout_ms, important=True)

    def call_async(self, to: Address, request: Any, *, encoding: str = "json", timeout_ms: Optional[int] = None) -> Ref:
        """Sends a request (natively, in ``encoding``) and returns its ref at
        once; the answer, decoded the same way, or why there is none,
        arrives later in ``handle_info`` as a :class:`~wactor.Response`
        with that ref. Errors known at once are raised here."""
        codec.check_encoding(encoding)
        payload = codec.encode(request, encoding)
        ref = self._host.call_async(_address(to), payload, _timeout(timeout_ms))
        self._glue.async_encodings[ref] = encoding
        return ref

    # ----- answering calls ---------------------------------------------

    def reply(self, call: Call, value: Any, *, important: bool = False) -> None:
        """Answers a deferred call, in the encoding its caller used. Any
        actor holding the call may answer it. ``important=True`` returns
        only once the caller took it (or raises ``response-ignored``)."""
        call = Call.from_json(call)
        try:
            payload = self._glue.encode_reply(call, value)
        except DeliveryError as e:
            self.reply_error(call, f"bad reply: {e.detail}")
            raise
        self._host.send_response(call.from_, call.ref, payload, important)

    def reply_important(self, call: Call, value: Any) -> None:
        """``reply(..., important=True)``."""
        self.reply(call, value, important=True)

    def reply_error(self, call: Call, error: str) -> None:
        """Answers a deferred call with an error: the caller gets
        ``remote(error)``, a transport-class failure next to ``timeout``.
        An error of the application's protocol belongs in the reply."""
        call = Call.from_json(call)
        self._host.send_response_error(call.from_, call.ref, str(error))

    def refuse_request(self, call: Call, reason: str) -> None:
        """Answers a call whose request this actor cannot read: the caller
        gets ``not-allowed("bad request: " + reason)``. The SDK does this
        itself for requests that do not decode."""
        call = Call.from_json(call)
        self._host.refuse_request(call.from_, call.ref, str(reason))

    def is_alive(self, call: Call) -> bool:
        """True while the caller behind ``call`` still waits."""
        return self._host.ref_is_alive(Call.from_json(call).ref)

    def set_important_delivery(self, on: bool) -> None:
        """Makes every later send, call and answer of this actor important
        (or plain again)."""
        self._glue.important = bool(on)
        self._host.set_important_delivery(bool(on))

    # ----- processes and names -------------------------------------------

    def spawn(self, behaviour: str, args: Any = None, *, encoding: str = "json") -> Pid:
        """Starts an actor of a loaded behaviour and returns its pid once its
        ``init`` succeeded. ``args=None`` sends no arguments."""
        return self._host.spawn(behaviour, _args(args, encoding))

    def spawn_pool(self, behaviour: str, size: int, args: Any = None, *, encoding: str = "json") -> Pid:
        """Starts a pool: one pid in front of ``size`` workers."""
        return self._host.spawn_pool(behaviour, _u32(size), _args(args, encoding))

    def register(self, name: str) -> None:
        """Registers ``name`` for this actor (released when it ends)."""
        self._host.register(name)

    def unregister(self, name: str) -> bool:
        """Releases a name; ``False`` if this actor held no such name."""
        return self._host.unregister(name)

    def whereis(self, name: str) -> Optional[Pid]:
        """The pid registered as ``name`` (or ``name@node``), if any."""
        return self._host.whereis(name)

    # ----- supervision ----------------------------------------------------

    def link(self, to: Pid) -> None:
        """Links this actor and ``to`` both ways (see the WIT contract)."""
        self._host.link(Pid.from_json(to))

    def unlink(self, to: Pid) -> None:
        self._host.unlink(Pid.from_json(to))

    def trap_exits(self, on: bool) -> None:
        """With ``True``, a linked process's end arrives as an
        :class:`~wactor.Exit` info instead of ending this actor."""
        self._host.trap_exits(bool(on))

    def monitor(self, to: Address) -> Monitor:
        """Watches ``to``: one :class:`~wactor.Down` info when it ends."""
        return Monitor(self._host.monitor(_address(to)))

    def demonitor(self, monitor: Monitor) -> bool:
        return self._host.demonitor(monitor.id if isinstance(monitor, Monitor) else int(monitor))

    # ----- logging ---------------------------------------------------------

    def log(self, level: str, text: str) -> None:
        """Writes a line to the host's log, tagged with this actor."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} (use one of {LEVELS})")
        self._host.log(level, str(text))

    def trace(self, text: str) -> None:
        self.log("trace", text)

    def debug(self, text: str) -> None:
        self.log("debug", text)

    def info(self, text: str) -> None:
        self.log("info", text)

    def warn(self, text: str) -> None:
        self.log("warn", text)

    def error(self, text: str) -> None:
        self.log("error", text)


def _address(to: Address) -> Address:
    if isinstance(to, (Pid, str)):
        return to
    if isinstance(to, dict):
        return Pid.from_json(to)
    raise TypeError(f"an address is a Pid or a name, not {type(to).__name__}")


def _u32(n: int) -> int:
    n = int(n)
    if n < 0:
        raise ValueError(f"{n} is negative")
    return min(n, 0xFFFF_FFFF)


def _timeout(ms: Optional[int]) -> Optional[int]:
    return None if ms is None else _u32(ms)


def _args(args: Any, encoding: str) -> bytes:
    if args is None:
        return b""
    return codec.encode(args, codec.check_encoding(encoding))
