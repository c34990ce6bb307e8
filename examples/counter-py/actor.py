"""counter-py: a counter in Python.

``wactor call counter-py inc`` adds one and answers the new count as
decimal text; ``get`` answers the count. The count is the actor's state
(an attribute), so a hot reload or hibernation hands it to the next
instance.
"""

from wactor import DEFER, Actor, Reply


class Counter(Actor):
    encoding = "text"  # requests and answers are plain text

    def init(self, ctx, args):
        self.count = 0

    def handle_call(self, ctx, call, request):
        if request == "inc":
            self.count += 1
        elif request != "get":
            ctx.refuse_request(call, f"expected `inc` or `get`, got {request!r}")
            return DEFER
        return Reply(str(self.count))

    def handle_message(self, ctx, sender, message):
        # `wactor send counter-py inc` counts too, without an answer.
        if message == "inc":
            self.count += 1
