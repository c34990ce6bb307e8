"""The :class:`Actor` base class and the four outcomes of a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .types import Call, Info, Pid


@dataclass(frozen=True)
class Reply:
    """Answer the caller now and keep running."""

    value: Any


@dataclass(frozen=True)
class Defer:
    """Answer later with ``ctx.reply(call, value)`` (or ``ctx.reply_error``),
    possibly from another actor that was handed the call."""


@dataclass(frozen=True)
class ReplyAndStop:
    """Answer the caller, then end normally."""

    value: Any


@dataclass(frozen=True)
class Stop:
    """End with this reason without answering; the caller gets a
    ``terminated`` :class:`~wactor.DeliveryError` at once."""

    reason: str


#: The one :class:`Defer` outcome.
DEFER = Defer()

Outcome = Reply | Defer | ReplyAndStop | Stop


class Actor:
    """Subclass it and override the handlers you need.

    The instance *is* the actor's state: its attributes are handed to the
    next instance as JSON on a hot upgrade or when the actor hibernates
    (see :meth:`to_state`). Class attributes configure the actor:

    * ``encoding``: the native encoding of its messages, init arguments,
      requests and answers: ``"json"`` (default), ``"text"`` or ``"bytes"``;
    * ``state_version``: the shape of the state; raise it when the shape
      changes and teach :meth:`migrate` the old one;
    * ``stateful``: ``False`` to hand nothing over (a new instance then
      starts with ``init`` and the original arguments).

    Handlers never overlap: while one runs (including while it waits in
    ``ctx.call``), nothing else enters the actor.
    """

    encoding: str = "json"
    state_version: int = 1
    stateful: bool = True

    def init(self, ctx: "Context", args: Any) -> None:
        """Runs once at start with the ``spawn`` arguments (``None`` when
        there are none, as for an actor started from a file). An exception
        stops the actor before it handles anything; a spawner sees an
        ``init-failed`` :class:`~wactor.SpawnError` with its text."""

    def handle_message(self, ctx: "Context", sender: "Pid", message: Any) -> None:
        """Handles one message sent with ``send`` or ``send_after``. A
        message that does not decode never gets here: it is logged as a
        warning and dropped."""

    def handle_call(self, ctx: "Context", call: "Call", request: Any) -> Outcome:
        """Handles one request and returns :class:`Reply`, :data:`DEFER`,
        :class:`ReplyAndStop` or :class:`Stop`. A request that does not
        decode never gets here: the caller gets ``not-allowed("bad request:
        ...")`` and the actor keeps running."""
        return Stop(f"{type(self).__name__} does not take calls")

    def handle_info(self, ctx: "Context", info: "Info") -> None:
        """Handles an info: a :class:`~wactor.Response` to ``call_async``, a
        monitor's :class:`~wactor.Down`, a link's :class:`~wactor.Exit`. The
        default logs it at debug level."""
        ctx.debug(f"unhandled info: {info!r}")

    def terminate(self, ctx: "Context", reason: str) -> None:
        """Runs when the actor ends for a reason other than a trap:
        ``"normal"`` after :class:`ReplyAndStop`, the reason of a
        :class:`Stop`, or the host's."""

    # ----- state hand-off ---------------------------------------------

    def to_state(self) -> Any:
        """The state to hand over, as a JSON value. The default is the
        instance's attributes (``vars(self)``); override it (with
        :meth:`from_state`) for values JSON cannot hold."""
        return dict(vars(self))

    def from_state(self, state: Any) -> None:
        """Sets the instance up from a state of the current
        ``state_version``. The default sets the attributes."""
        if not isinstance(state, dict):
            raise TypeError(f"the state of {type(self).__name__} must be a JSON object, got {type(state).__name__}")
        for key, value in state.items():
            setattr(self, key, value)

    @classmethod
    def migrate(cls, from_version: int, state: Any) -> Any:
        """Turns the state of an older ``state_version`` into the current
        shape (given to :meth:`from_state`). The default refuses, and the
        host keeps the actor on its old version."""
        raise ValueError(f"no migration from state version {from_version} to {cls.state_version}")
