"""probe-py: a test guest that does, on request, each thing the host and
the SDK must get right (tests/languages.rs). The requests are those of
probe-js (see its actor.js), in JSON."""

from wactor import DEFER, Actor, Call, DeliveryError, Reply, ReplyAndStop, Stop


def failure(e):
    return {"Err": {"kind": e.kind, "detail": e.detail}}


class Probe(Actor):
    def init(self, ctx, args):
        self.count = 0

    def to_state(self):
        return {"count": self.count}

    def handle_call(self, ctx, call, request):
        match request:
            case "Get":
                return Reply(self.count)
            case "Whoami":
                return Reply(str(ctx.self_pid()))
            case "Spin":
                while True:
                    self.count += 1
            case {"Alloc": int(mib)}:
                self.held = getattr(self, "held", []) + [bytearray(b"\x01" * (mib << 20))]
                return Reply(len(self.held))
            case {"Add": int(n)}:
                self.count += n
                return Reply(self.count)
            case {"Defer": int(ms)}:
                ctx.send_after(ctx.self_pid(), {"Answer": call}, ms)
                return DEFER
            case {"ReplyAndStop": value}:
                return ReplyAndStop(value)
            case {"Stop": str(reason)}:
                return Stop(reason)
            case {"Fail": str(text)}:
                ctx.reply_error(call, text)
                return DEFER
            case {"Divide": [int(a), int(b)]}:
                return Reply(ctx.call("calculator", {"Divide": [a, b]}))
            case {"CallText": {"to": str(to), "text": str(text), "important": bool(important)}}:
                try:
                    return Reply({"Ok": ctx.call_text(to, text, important=important)})
                except DeliveryError as e:
                    return Reply(failure(e))
            case {"SendText": {"to": str(to), "text": str(text), "important": bool(important)}}:
                try:
                    ctx.send_text(to, text, important=important)
                    return Reply({"Ok": None})
                except DeliveryError as e:
                    return Reply(failure(e))
        ctx.refuse_request(call, f"unknown probe request {request!r}")
        return DEFER

    def handle_message(self, ctx, sender, message):
        if isinstance(message, dict) and "Answer" in message:
            ctx.reply(Call.from_json(message["Answer"]), "deferred")
