"""Unit-test an actor without a host.

:class:`ActorTest` runs an actor class in-process, through the same glue a
component uses, against a :class:`FakeHost` that records what the actor
does and answers what it asks from a script::

    import unittest
    from wactor import Reply
    from wactor.testing import ActorTest

    from counter import Counter

    class CounterTest(unittest.TestCase):
        def test_counts(self):
            t = ActorTest(Counter)
            self.assertEqual(t.call("inc").value, "1")
            t = t.reload()                      # hot reload: state kept
            self.assertEqual(t.call("get").value, "1")

What it gives:

* ``t.call(request)`` / ``t.call_json(value)`` / ``t.send(message)`` /
  ``t.down(...)`` / ``t.exit(...)`` drive the actor like the host would;
* ``t.host.sent``, ``t.host.responses``, ``t.host.logs``, ``t.host.spawned``
  record what it did (a deferred answer shows up in ``responses``);
* ``t.host.answer(address, fn)`` scripts the answers of the calls it makes
  (``fn(request)`` returns the answer or raises a
  :class:`~wactor.DeliveryError`); calls to anything else fail with
  ``unknown-process``;
* ``t.advance(ms)`` moves the fake clock and fires due timers (messages to
  the actor itself are handled; others are recorded in ``sent``);
* ``t.reload()`` and ``t.hibernate()`` hand the state to a new instance
  through ``snapshot``/``restore`` (JSON, with the version), as the host
  does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import codec
from .errors import DeliveryError, RegisterError, SpawnError
from .glue import Glue, InitFailed
from .types import JSON_BIT, Pid, RawInfo, Ref

#: The pid the fake host gives the actor under test.
SELF = Pid("test", 1, 1)
#: The sender of calls and messages a test makes (the host's own pid).
OUTSIDE = Pid("test", 0, 1)


@dataclass
class Sent:
    """A message the actor sent (``timer`` is set for one that came from a
    fired timer)."""

    to: Any
    payload: bytes
    important: bool = False
    timer: Optional[int] = None

    def json(self) -> Any:
        return codec.decode(self.payload, "json")

    def text(self) -> str:
        return codec.decode(self.payload, "text")


@dataclass
class Answer:
    """An answer the actor gave to a call after the call returned (a
    deferred reply): ``kind`` is ``reply``, ``error`` (``reply_error``) or
    ``refused`` (``refuse_request``)."""

    to: Pid
    ref: Ref
    kind: str
    payload: Optional[bytes] = None
    text: Optional[str] = None
    important: bool = False

    def json(self) -> Any:
        return codec.decode(self.payload or b"", "json")

    def value_text(self) -> str:
        return codec.decode(self.payload or b"", "text")


@dataclass
class Timer:
    id: int
    to: Any
    payload: bytes
    due_ms: int


@dataclass
class MadeCall:
    """A call the actor made: ``encoding`` ``json`` (``ctx.call``) or
    ``native`` (``call_text``, ``call_bytes``)."""

    to: Any
    payload: bytes
    encoding: str
    timeout_ms: Optional[int]
    important: bool


class FakeHost:
    """The host imports, played in memory. See the module docs."""

    def __init__(self, me: Pid = SELF):
        self.me = me
        self.now_ms = 1_000_000
        self.sent: List[Sent] = []
        self.responses: List[Answer] = []
        self.calls: List[MadeCall] = []
        self.async_calls: List[Tuple[Ref, MadeCall]] = []
        self.logs: List[Tuple[str, str]] = []
        self.spawned: List[Tuple[str, bytes, Pid]] = []
        self.names: Dict[str, Pid] = {}
        self.links: set = set()
        self.monitors: Dict[int, Any] = {}
        self.trapping_exits = False
        self.important = False
        self.timers: Dict[int, Timer] = {}
        self.waiting: set = set()
        self.behaviours: Dict[str, Callable[[bytes], Any]] = {}
        self._answers: Dict[str, Callable[[Any], Any]] = {}
        self._next = 100
        # Set by ActorTest: delivers a due timer's message to the actor.
        self.deliver_to_self: Optional[Callable[[Pid, bytes], None]] = None

    # ----- scripting ----------------------------------------------------

    def answer(self, to: Any, fn: Callable[[Any], Any]) -> None:
        """Calls to ``to`` (a name or a :class:`~wactor.Pid`) are answered by
        ``fn(request)``: the request decoded (JSON for ``ctx.call``, text for
        ``call_text``, bytes for ``call_bytes``), its return value the
        answer, a raised :class:`~wactor.DeliveryError` the failure."""
        self._answers[_key(to)] = fn

    def behaviour(self, name: str, init: Optional[Callable[[bytes], Any]] = None) -> None:
        """Lets ``spawn`` start ``name``; ``init(args)`` may raise
        :class:`~wactor.SpawnError`."""
        self.behaviours[name] = init or (lambda args: None)

    def _id(self) -> int:
        self._next += 1
        return self._next

    # ----- the imports ----------------------------------------------------

    def self_pid(self) -> Pid:
        return self.me

    def send(self, to: Any, payload: bytes, important: bool) -> None:
        self._check(to)
        self.sent.append(Sent(to, payload, important or self.important))

    def _check(self, to: Any) -> None:
        if isinstance(to, str) and "@" not in to and to not in self.names and _key(to) not in self._answers:
            raise DeliveryError("unknown-process")

    def _answer(self, to: Any, payload: bytes, encoding: str) -> bytes:
        if _key(to) == _key(self.me) or to in [n for n, p in self.names.items() if p == self.me]:
            raise DeliveryError("not-allowed", "a call to oneself would wait forever")
        fn = self._answers.get(_key(to))
        if fn is None and isinstance(to, str) and to in self.names:
            fn = self._answers.get(_key(self.names[to]))
        if fn is None:
            raise DeliveryError("unknown-process")
        if encoding == "json":
            return codec.to_json_bytes(fn(codec.decode(payload, "json")))
        try:
            request: Any = payload.decode("utf-8")
            text = True
        except UnicodeDecodeError:
            request, text = payload, False
        answer = fn(request)
        return codec.encode(answer, "text" if text and isinstance(answer, str) else "bytes")

    def call(self, to: Any, payload: bytes, timeout_ms: Optional[int], important: bool) -> bytes:
        self.calls.append(MadeCall(to, payload, "native", timeout_ms, important or self.important))
        return self._answer(to, payload, "native")

    def call_json(self, to: Any, payload: bytes, timeout_ms: Optional[int]) -> bytes:
        self.calls.append(MadeCall(to, payload, "json", timeout_ms, self.important))
        return self._answer(to, payload, "json")

    def call_async(self, to: Any, payload: bytes, timeout_ms: Optional[int]) -> Ref:
        self._check(to)
        ref = Ref(self._id(), self._id(), self.now_ms + (timeout_ms or 5000))
        self.async_calls.append((ref, MadeCall(to, payload, "native", timeout_ms, self.important)))
        return ref

    def _respond(self, answer: Answer) -> None:
        if answer.ref not in self.waiting:
            raise DeliveryError("response-ignored") if answer.important else DeliveryError("unknown-process")
        self.waiting.discard(answer.ref)
        self.responses.append(answer)

    def send_response(self, to: Pid, ref: Ref, payload: bytes, important: bool) -> None:
        important = important or self.important
        if ref not in self.waiting and not important:
            # A late answer is dropped by the host, silently.
            return
        self._respond(Answer(to, ref, "reply", payload=payload, important=important))

    def send_response_error(self, to: Pid, ref: Ref, text: str) -> None:
        if ref in self.waiting:
            self._respond(Answer(to, ref, "error", text=text))

    def refuse_request(self, to: Pid, ref: Ref, reason: str) -> None:
        if ref in self.waiting:
            self._respond(Answer(to, ref, "refused", text=reason))

    def ref_is_alive(self, ref: Ref) -> bool:
        return ref in self.waiting and ref.deadline_ms > self.now_ms

    def send_after(self, to: Any, payload: bytes, delay_ms: int) -> int:
        timer = Timer(self._id(), to, payload, self.now_ms + delay_ms)
        self.timers[timer.id] = timer
        return timer.id

    def cancel_timer(self, timer: int) -> bool:
        return self.timers.pop(timer, None) is not None

    def spawn(self, behaviour: str, args: bytes) -> Pid:
        init = self.behaviours.get(behaviour)
        if init is None:
            raise SpawnError("unknown-behaviour", behaviour)
        init(args)
        pid = Pid(self.me.node, self._id(), self.me.creation)
        self.spawned.append((behaviour, args, pid))
        return pid

    def spawn_pool(self, behaviour: str, size: int, args: bytes) -> Pid:
        return self.spawn(behaviour, args)

    def register(self, name: str) -> None:
        if not name or "@" in name or len(name) > 255:
            raise RegisterError("invalid", f"`{name}` is not a valid name")
        holder = self.names.get(name)
        if holder is not None and holder != self.me:
            raise RegisterError("taken", holder)
        self.names[name] = self.me

    def unregister(self, name: str) -> bool:
        if self.names.get(name) == self.me:
            del self.names[name]
            return True
        return False

    def whereis(self, name: str) -> Optional[Pid]:
        return self.names.get(name)

    def link(self, to: Pid) -> None:
        self.links.add(to)

    def unlink(self, to: Pid) -> None:
        self.links.discard(to)

    def trap_exits(self, on: bool) -> None:
        self.trapping_exits = on

    def monitor(self, to: Any) -> int:
        m = self._id()
        self.monitors[m] = to
        return m

    def demonitor(self, monitor: int) -> bool:
        return self.monitors.pop(monitor, None) is not None

    def log(self, level: str, text: str) -> None:
        self.logs.append((level, text))

    def set_important_delivery(self, on: bool) -> None:
        self.important = on


def _key(to: Any) -> str:
    if isinstance(to, Pid):
        return f"pid:{to.node}.{to.id}.{to.creation}"
    return f"name:{to}"


@dataclass
class CallResult:
    """What ``handle_call`` did: ``kind`` is ``reply``, ``defer``,
    ``reply-and-stop`` or ``stop``; ``value`` the answer decoded (JSON for a
    JSON call, else the actor's encoding) or the stop reason; ``ref`` the
    call's ref, to find a deferred answer in ``host.responses``. An answer
    the SDK gave itself (a refused request, a bad reply) is ``answered``."""

    kind: str
    value: Any = None
    ref: Optional[Ref] = None
    payload: Optional[bytes] = None
    answered: Optional[Answer] = None


class ActorTest:
    """One actor under test; see the module docs."""

    def __init__(self, actor_cls: type, args: Any = None, *, host: Optional[FakeHost] = None, raw_args: Optional[bytes] = None):
        self.actor_cls = actor_cls
        self.host = host or FakeHost()
        self.host.deliver_to_self = self._deliver_timer
        self.glue = Glue(actor_cls, self.host)
        self.stopped: Optional[str] = None
        if raw_args is None:
            raw_args = b"" if args is None else codec.encode(args, actor_cls.encoding)
        self.glue.init(raw_args)

    @classmethod
    def _restored(cls, actor_cls: type, host: FakeHost, version: int, data: bytes) -> "ActorTest":
        t = cls.__new__(cls)
        t.actor_cls = actor_cls
        t.host = host
        host.deliver_to_self = t._deliver_timer
        t.glue = Glue(actor_cls, host)
        t.stopped = None
        t.glue.restore(version, data)
        return t

    @property
    def actor(self) -> Any:
        """The actor instance (its attributes are its state)."""
        return self.glue.actor

    @property
    def ctx(self):
        return self.glue.ctx

    # ----- driving --------------------------------------------------------

    def _new_ref(self, json_call: bool, timeout_ms: int = 5000) -> Ref:
        hi = self.host._id() | (JSON_BIT if json_call else 0)
        return Ref(hi, self.host._id(), self.host.now_ms + timeout_ms)

    def call(self, request: Any, *, sender: Pid = OUTSIDE, json: bool = False) -> CallResult:
        """Calls the actor natively (``request`` in its encoding; bytes as
        they are), or in JSON with ``json=True``."""
        if json:
            payload = codec.to_json_bytes(request)
        else:
            payload = codec.encode(request, self.actor_cls.encoding)
        return self.call_raw(payload, sender=sender, json=json)

    def call_json(self, request: Any, *, sender: Pid = OUTSIDE) -> CallResult:
        """Calls the actor in JSON, as ``wactor call --json`` does."""
        return self.call(request, sender=sender, json=True)

    def call_raw(self, payload: bytes, *, sender: Pid = OUTSIDE, json: bool = False) -> CallResult:
        if self.stopped is not None:
            raise DeliveryError("unknown-process")
        ref = self._new_ref(json)
        self.host.waiting.add(ref)
        before = len(self.host.responses)
        kind, value = self.glue.handle_call(sender, ref, payload)
        encoding = "json" if json else self.actor_cls.encoding
        if kind in ("reply", "reply-and-stop"):
            self.host.waiting.discard(ref)
            result = CallResult(kind, codec.decode(value, encoding), ref, value)
        elif kind == "stop":
            self.host.waiting.discard(ref)
            result = CallResult(kind, value, ref)
        else:
            result = CallResult(kind, None, ref)
            answered = [a for a in self.host.responses[before:] if a.ref == ref]
            if answered:
                result.answered = answered[0]
        if kind in ("reply-and-stop", "stop"):
            self._stop("normal" if kind == "reply-and-stop" else value)
        return result

    def send(self, message: Any, *, sender: Pid = OUTSIDE, encoding: Optional[str] = None) -> None:
        """Delivers a message (in the actor's encoding unless told)."""
        payload = codec.encode(message, encoding or self.actor_cls.encoding)
        self.glue.handle_message(sender, payload)

    def send_raw(self, payload: bytes, *, sender: Pid = OUTSIDE) -> None:
        self.glue.handle_message(sender, payload)

    def respond(self, ref: Ref, payload: Optional[bytes] = None, *, error: Optional[DeliveryError] = None) -> None:
        """Delivers the answer to one of the actor's ``call_async`` calls."""
        self.glue.handle_info(RawInfo("response", ref=ref, payload=payload, error=error))

    def down(self, monitor: Any, pid: Pid, reason: str) -> None:
        """Delivers a monitor's ``down`` info."""
        mid = getattr(monitor, "id", monitor)
        self.host.monitors.pop(mid, None)
        self.glue.handle_info(RawInfo("down", monitor=mid, pid=pid, reason=reason))

    def exit(self, pid: Pid, reason: str) -> None:
        """Delivers a link's ``exit`` info."""
        self.glue.handle_info(RawInfo("exit", pid=pid, reason=reason))

    def advance(self, ms: int) -> List[Sent]:
        """Moves the clock ``ms`` forward and fires the timers that fall
        due, in order: a message to the actor itself is handled by it,
        others are recorded in ``host.sent``. Returns the fired ones."""
        end = self.host.now_ms + ms
        fired: List[Sent] = []
        while True:
            due = sorted((t for t in self.host.timers.values() if t.due_ms <= end), key=lambda t: (t.due_ms, t.id))
            if not due:
                break
            timer = due[0]
            del self.host.timers[timer.id]
            self.host.now_ms = max(self.host.now_ms, timer.due_ms)
            sent = Sent(timer.to, timer.payload, False, timer.id)
            fired.append(sent)
            self._deliver_timer(timer.to, timer.payload, sent)
        self.host.now_ms = end
        return fired

    def _deliver_timer(self, to: Any, payload: bytes, sent: Optional[Sent] = None) -> None:
        me = self.host.me
        if to == me or (isinstance(to, str) and self.host.names.get(to) == me):
            if self.stopped is None:
                self.glue.handle_message(me, payload)
        else:
            self.host.sent.append(sent or Sent(to, payload))

    def terminate(self, reason: str = "normal") -> None:
        """Stops the actor as the host does (``terminate`` runs)."""
        self._stop(reason)

    def _stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.glue.terminate(reason)

    # ----- state hand-off ---------------------------------------------------

    def snapshot(self) -> Optional[Tuple[int, bytes]]:
        """What the SDK hands the host: ``(state_version, JSON bytes)``."""
        return self.glue.snapshot()

    def reload(self, new_cls: Optional[type] = None) -> "ActorTest":
        """A hot upgrade to ``new_cls`` (default: the same class): the state
        goes through ``snapshot``/``restore``, timers, names and the fake
        host stay. Returns the test of the new instance; raises
        :class:`~wactor.glue.InitFailed` when restoring fails."""
        taken = self.glue.snapshot()
        if taken is None:
            raise InitFailed(f"{self.actor_cls.__name__} hands no state over")
        return ActorTest._restored(new_cls or self.actor_cls, self.host, taken[0], taken[1])

    def hibernate(self) -> "ActorTest":
        """Hibernation and wake: the same hand-off as :meth:`reload`."""
        return self.reload()
