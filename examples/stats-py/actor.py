"""stats-py: typed requests in JSON, and a typed Rust actor called in JSON.

It keeps numbers and answers with their mean, which it has the Rust
``calculator`` work out (its ``CalcRequest::Divide(i64, i64)``, answered
with ``Result<i64, CalcError>``). Requests and answers use serde's JSON
form, so a Rust, Python or JavaScript actor, the CLI and HTTP all speak it
without hand-encoding::

    wactor call stats-py --json '{"Record":4}'   # {"Ok":1}  (numbers kept)
    wactor call stats-py --json '"Mean"'         # {"Ok":4}
    wactor call stats-py --json '"Reset"'        # {"Ok":0}
    wactor call stats-py --json '"Mean"'         # {"Err":"NoData"}

``{"Err": ...}`` is the application's error, part of the answer; a request
of another shape is refused (``bad-request``) and the actor runs on.
"""

from wactor import DEFER, Actor, DeliveryError, Reply


class Stats(Actor):
    def init(self, ctx, args):
        self.sum = 0
        self.count = 0

    def handle_call(self, ctx, call, request):
        match request:
            case {"Record": int(n)} if not isinstance(n, bool):
                self.sum += n
                self.count += 1
                return Reply({"Ok": self.count})
            case "Reset":
                self.sum = 0
                self.count = 0
                return Reply({"Ok": 0})
            case "Mean":
                # The calculator answers {"Ok": n} or {"Err": "DivisionByZero"}:
                # its Rust `Result<i64, CalcError>`.
                try:
                    answer = ctx.call("calculator", {"Divide": [self.sum, self.count]})
                except DeliveryError as e:
                    return Reply({"Err": {"Unavailable": str(e)}})
                if answer.get("Err") == "DivisionByZero":
                    return Reply({"Err": "NoData"})
                return Reply(answer)
        ctx.refuse_request(call, 'expected {"Record": integer}, "Mean" or "Reset"')
        return DEFER
