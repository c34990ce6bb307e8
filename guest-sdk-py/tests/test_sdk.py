"""The Python SDK's own tests, on the fake host (python -m unittest)."""

import json
import unittest

from wactor import (
    DEFER,
    Actor,
    Call,
    DeliveryError,
    Down,
    Exit,
    Pid,
    RegisterError,
    Reply,
    ReplyAndStop,
    Response,
    SpawnError,
    Stop,
)
from wactor.glue import InitFailed
from wactor.testing import SELF, ActorTest


class Echo(Actor):
    """Answers every request with an outcome the request names."""

    def init(self, ctx, args):
        self.args = args
        self.seen = []
        self.infos = []
        self.pending = []
        self.terminated = None

    def handle_call(self, ctx, call, request):
        match request:
            case {"reply": v}:
                return Reply(v)
            case {"reply_and_stop": v}:
                return ReplyAndStop(v)
            case {"stop": reason}:
                return Stop(reason)
            case "defer":
                self.pending.append(call)
                return DEFER
            case "flush":
                for c in self.pending:
                    ctx.reply(c, {"flushed": len(self.pending)})
                self.pending = []
                return Reply(None)
            case "nothing":
                return None
            case {"bad_reply": _}:
                return Reply({1, 2} and object())
        return Reply(request)

    def handle_message(self, ctx, sender, message):
        self.seen.append([str(sender), message])

    def handle_info(self, ctx, info):
        self.infos.append(info)

    def terminate(self, ctx, reason):
        self.terminated = reason


class OutcomesTest(unittest.TestCase):
    def test_each_of_the_four_outcomes(self):
        t = ActorTest(Echo)
        r = t.call({"reply": 3})
        self.assertEqual((r.kind, r.value), ("reply", 3))
        r = t.call("defer")
        self.assertEqual(r.kind, "defer")
        self.assertEqual(t.call("flush").value, None)
        self.assertEqual(len(t.host.responses), 1)
        self.assertEqual(t.host.responses[0].ref, r.ref)
        self.assertEqual(t.host.responses[0].json(), {"flushed": 1})
        r = t.call({"reply_and_stop": "bye"})
        self.assertEqual((r.kind, r.value), ("reply-and-stop", "bye"))
        self.assertEqual(t.stopped, "normal")
        self.assertEqual(t.glue.actor, None)

    def test_stop_ends_with_the_reason_and_terminate_runs(self):
        t = ActorTest(Echo)
        actor = t.actor
        r = t.call({"stop": "enough"})
        self.assertEqual((r.kind, r.value), ("stop", "enough"))
        self.assertEqual(actor.terminated, "enough")
        with self.assertRaises(DeliveryError) as e:
            t.call("anything")
        self.assertEqual(e.exception.kind, "unknown-process")

    def test_a_json_call_is_answered_in_json_a_native_one_natively(self):
        class Text(Actor):
            encoding = "text"

            def handle_call(self, ctx, call, request):
                return Reply(f"{call.encoding}:{request}")

        t = ActorTest(Text)
        native = t.call("hi")
        self.assertEqual(native.payload, b"native:hi")
        js = t.call_json("hi")
        self.assertEqual(js.payload, b'"json:hi"')

    def test_a_request_that_does_not_decode_is_refused_and_the_actor_runs_on(self):
        t = ActorTest(Echo)
        r = t.call_raw(b"{not json")
        self.assertEqual(r.kind, "defer")
        self.assertEqual(r.answered.kind, "refused")
        self.assertIn("could not decode the request as json", r.answered.text)
        self.assertEqual(t.call({"reply": 1}).value, 1)

    def test_a_handler_that_returns_no_outcome_answers_an_error(self):
        t = ActorTest(Echo)
        r = t.call("nothing")
        self.assertEqual(r.answered.kind, "error")
        self.assertIn("bad outcome", r.answered.text)
        self.assertEqual(t.call({"reply": 2}).value, 2)

    def test_a_reply_that_does_not_encode_answers_an_error(self):
        t = ActorTest(Echo)
        r = t.call({"bad_reply": 1})
        self.assertEqual(r.answered.kind, "error")
        self.assertIn("bad reply", r.answered.text)

    def test_a_deferred_json_call_is_answered_in_json(self):
        class Later(Actor):
            encoding = "text"

            def handle_call(self, ctx, call, request):
                try:
                    ctx.reply(call, {"got": request})
                except DeliveryError as e:
                    self.failed = e.kind
                return DEFER

        t = ActorTest(Later)
        r = t.call_json("x")
        self.assertEqual(r.answered.json(), {"got": "x"})
        # A dict has no text form: the caller hears why, the actor gets a
        # decode error.
        r = t.call("y")
        self.assertEqual(r.answered.kind, "error")
        self.assertIn("bad reply", r.answered.text)
        self.assertEqual(t.actor.failed, "decode")


class InitAndMessagesTest(unittest.TestCase):
    def test_init_gets_its_arguments_and_none_without(self):
        self.assertEqual(ActorTest(Echo, {"start": 5}).actor.args, {"start": 5})
        self.assertIsNone(ActorTest(Echo).actor.args)

    def test_an_init_that_raises_fails_with_its_text(self):
        class Picky(Actor):
            def init(self, ctx, args):
                raise ValueError("no thanks")

        with self.assertRaises(InitFailed) as e:
            ActorTest(Picky)
        self.assertEqual(str(e.exception), "ValueError: no thanks")

    def test_messages_arrive_decoded_and_bad_ones_are_dropped_with_a_warning(self):
        t = ActorTest(Echo)
        t.send({"n": 1})
        t.send_raw(b"\xff")
        self.assertEqual(t.actor.seen, [[str(t.host.me.__class__("test", 0, 1)), {"n": 1}]])
        self.assertEqual(t.host.logs[-1][0], "warn")
        self.assertIn("dropped a message", t.host.logs[-1][1])


class ContextTest(unittest.TestCase):
    def test_calls_in_json_and_text_and_errors_with_their_kind(self):
        class Caller(Actor):
            def handle_call(self, ctx, call, request):
                try:
                    return Reply([ctx.call("calc", {"Add": [1, 2]}), ctx.call_text("echo", "hi")])
                except DeliveryError as e:
                    return Reply({"kind": e.kind, "detail": e.detail})

        t = ActorTest(Caller)
        t.host.answer("calc", lambda req: {"Ok": sum(req["Add"])})
        t.host.answer("echo", lambda text: text.upper())
        self.assertEqual(t.call(None).value, [{"Ok": 3}, "HI"])
        self.assertEqual([c.encoding for c in t.host.calls], ["json", "native"])

        def gone(req):
            raise DeliveryError("terminated", "trap: boom")

        t.host.answer("calc", gone)
        self.assertEqual(t.call(None).value, {"kind": "terminated", "detail": "trap: boom"})

    def test_a_call_to_nobody_is_unknown_process_and_to_oneself_not_allowed(self):
        t = ActorTest(Echo)
        with self.assertRaises(DeliveryError) as e:
            t.ctx.call("nobody", 1)
        self.assertEqual(e.exception.kind, "unknown-process")
        with self.assertRaises(DeliveryError) as e:
            t.ctx.call(SELF, 1)
        self.assertEqual(e.exception.kind, "not-allowed")

    def test_sends_are_recorded_plain_and_important(self):
        t = ActorTest(Echo)
        t.host.answer("sink", lambda r: None)
        t.ctx.send("sink", {"a": 1})
        t.ctx.send_text("sink", "hi", important=True)
        t.ctx.send_bytes(Pid("test", 7, 1), b"\x00\x01")
        self.assertEqual(t.host.sent[0].json(), {"a": 1})
        self.assertEqual((t.host.sent[1].text(), t.host.sent[1].important), ("hi", True))
        self.assertEqual(t.host.sent[2].payload, b"\x00\x01")

    def test_an_important_json_call_is_made_with_important_delivery_on(self):
        t = ActorTest(Echo)
        t.host.answer("calc", lambda r: r)
        t.ctx.call("calc", 1, important=True)
        t.ctx.call("calc", 2)
        self.assertEqual([c.important for c in t.host.calls], [True, False])
        self.assertFalse(t.host.important)
        t.ctx.set_important_delivery(True)
        t.ctx.call("calc", 3, important=True)
        self.assertTrue(t.host.important)

    def test_timers_fire_when_the_clock_is_advanced_and_can_be_cancelled(self):
        t = ActorTest(Echo)
        t.ctx.send_after(SELF, "tick", 100)
        cancelled = t.ctx.send_after(SELF, "never", 50)
        t.ctx.send_after("elsewhere", "out", 150)
        self.assertTrue(t.ctx.cancel_timer(cancelled))
        self.assertFalse(t.ctx.cancel_timer(cancelled))
        self.assertEqual(t.advance(99), [])
        self.assertEqual(t.actor.seen, [])
        fired = t.advance(100)
        self.assertEqual([f.json() for f in fired], ["tick", "out"])
        self.assertEqual(t.actor.seen, [[str(SELF), "tick"]])
        self.assertEqual(t.host.sent[-1].to, "elsewhere")

    def test_spawn_names_links_and_monitors(self):
        t = ActorTest(Echo)
        with self.assertRaises(SpawnError) as e:
            t.ctx.spawn("worker", {"n": 1})
        self.assertEqual(e.exception.kind, "unknown-behaviour")
        t.host.behaviour("worker")
        pid = t.ctx.spawn("worker", {"n": 1})
        self.assertEqual(json.loads(t.host.spawned[0][1]), {"n": 1})
        t.ctx.register("me")
        self.assertEqual(t.ctx.whereis("me"), SELF)
        t.host.names["taken"] = pid
        with self.assertRaises(RegisterError) as e:
            t.ctx.register("taken")
        self.assertEqual((e.exception.kind, e.exception.detail), ("taken", pid))
        t.ctx.link(pid)
        t.ctx.trap_exits(True)
        self.assertEqual((t.host.links, t.host.trapping_exits), ({pid}, True))
        m = t.ctx.monitor(pid)
        t.down(m, pid, "crashed")
        t.exit(pid, "linked end")
        self.assertEqual(t.actor.infos, [Down(m.id, pid, "crashed"), Exit(pid, "linked end")])

    def test_an_async_call_answer_arrives_as_a_response_info(self):
        t = ActorTest(Echo)
        t.host.answer("calc", lambda r: r)
        ref = t.ctx.call_async("calc", {"Add": [1, 1]})
        t.respond(ref, b'{"Ok":2}')
        ref2 = t.ctx.call_async("calc", "x", encoding="text")
        t.respond(ref2, error=DeliveryError("timeout"))
        self.assertEqual(t.actor.infos, [Response(ref, {"Ok": 2}), Response(ref2, None, DeliveryError("timeout"))])

    def test_a_call_is_kept_as_json_and_answered_by_another_actor(self):
        class Forwarder(Actor):
            def handle_call(self, ctx, call, request):
                ctx.send("worker", {"job": request, "call": call})
                return DEFER

        t = ActorTest(Forwarder)
        t.host.answer("worker", lambda r: None)
        r = t.call_json("work")
        sent = t.host.sent[0].json()
        worker = ActorTest(Echo, host=t.host)
        worker.ctx.reply(Call.from_json(sent["call"]), "done")
        self.assertEqual(t.host.responses[-1].ref, r.ref)
        self.assertEqual(t.host.responses[-1].json(), "done")


class StateTest(unittest.TestCase):
    def test_the_state_goes_as_json_with_its_version(self):
        t = ActorTest(Echo, 1)
        t.call("defer")
        version, data = t.snapshot()
        self.assertEqual(version, 1)
        state = json.loads(data)
        self.assertEqual(state["args"], 1)
        self.assertEqual(len(state["pending"]), 1)
        t2 = t.reload()
        self.assertEqual(t2.actor.args, 1)
        # A deferred call kept in the state is answered by the new instance.
        t2.call("flush")
        self.assertEqual(t2.host.responses[-1].json(), {"flushed": 1})

    def test_an_older_state_is_migrated_or_refused(self):
        class V1(Actor):
            def init(self, ctx, args):
                self.total = 7

        class V2(Actor):
            state_version = 2

            @classmethod
            def migrate(cls, from_version, state):
                return {"count": state["total"], "label": "migrated"}

        class V2Strict(Actor):
            state_version = 2

        t = ActorTest(V1).reload(V2)
        self.assertEqual((t.actor.count, t.actor.label), (7, "migrated"))
        with self.assertRaises(InitFailed) as e:
            ActorTest(V1).reload(V2Strict)
        self.assertIn("no migration from state version 1 to 2", str(e.exception))

    def test_a_stateless_actor_hands_nothing_over(self):
        class Stateless(Actor):
            stateful = False

        t = ActorTest(Stateless)
        self.assertIsNone(t.snapshot())
        with self.assertRaises(InitFailed):
            t.reload()


class HandlerBugsTest(unittest.TestCase):
    def test_an_exception_in_a_handler_is_logged_and_raised_on(self):
        class Buggy(Actor):
            def handle_call(self, ctx, call, request):
                raise KeyError("missing")

        t = ActorTest(Buggy)
        with self.assertRaises(KeyError):
            t.call(1)
        level, text = t.host.logs[-1]
        self.assertEqual(level, "error")
        self.assertIn("Buggy.handle_call raised", text)
        self.assertIn("KeyError", text)


if __name__ == "__main__":
    unittest.main()
