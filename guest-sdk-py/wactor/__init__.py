"""Write wactor actors in Python.

A wactor actor is a WebAssembly component that exports the
``wactor:actor/actor`` world; componentize-py builds one from a Python
module, and this package turns the contract into ordinary Python: a class
to subclass, a :class:`Context` for everything the host offers, and a fake
host (:mod:`wactor.testing`) to unit-test an actor with ``unittest`` or
pytest::

    from wactor import Actor, Reply

    class Counter(Actor):
        encoding = "text"          # requests and answers are plain text

        def init(self, ctx, args):
            self.count = 0         # the state: handed over on hot reload

        def handle_call(self, ctx, call, request):
            if request == "inc":
                self.count += 1
            return Reply(str(self.count))

``scripts/build-guests`` builds every module in ``examples/*-py/`` into
``target/actors/NAME.wasm``; ``wactor new NAME --lang python`` starts a
project.
"""

from .actor import DEFER, Actor, Defer, Outcome, Reply, ReplyAndStop, Stop
from .context import Context
from .errors import DELIVERY_ERROR_KINDS, DeliveryError, RegisterError, SpawnError
from .types import Address, Call, Down, Exit, Info, Monitor, Pid, Ref, Response, Timer

__all__ = [
    "Actor", "Reply", "Defer", "DEFER", "ReplyAndStop", "Stop", "Outcome",
    "Context", "DeliveryError", "SpawnError", "RegisterError", "DELIVERY_ERROR_KINDS",
    "Pid", "Ref", "Call", "Address", "Response", "Down", "Exit", "Info", "Timer", "Monitor",
]
