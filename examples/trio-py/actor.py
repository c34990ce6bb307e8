"""trio-py: the middle hop of a chain through three languages.

trio-js (JavaScript) asks it in JSON, ``{"Relay": text}``; it asks the
Rust ``echo`` with the text as it is and answers ``trio-py > echo: TEXT``.
Called natively with plain text (``wactor call trio-py hello``) it does the
same, answering in text.
"""

from wactor import DEFER, Actor, DeliveryError, Reply


class Trio(Actor):
    encoding = "text"

    def handle_call(self, ctx, call, request):
        match request:
            case {"Relay": str(text)} | str(text):
                pass
            case _:
                ctx.refuse_request(call, 'expected text, or {"Relay": text} in JSON')
                return DEFER
        try:
            echoed = ctx.call_text("echo", text)
        except DeliveryError as e:
            return Reply(f"trio-py > echo failed ({e.kind}): {e.detail or ''}")
        return Reply(f"trio-py > echo: {echoed}")
