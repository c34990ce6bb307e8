import json
import unittest

from wactor import DeliveryError
from wactor.testing import ActorTest

from actor import Stats


def calculator(request):
    """The calculator's JSON face, as the Rust actor answers."""
    a, b = request["Divide"]
    return {"Err": "DivisionByZero"} if b == 0 else {"Ok": int(a / b)}


class StatsTest(unittest.TestCase):
    def test_records_numbers_and_asks_the_calculator_for_their_mean(self):
        t = ActorTest(Stats)
        t.host.answer("calculator", calculator)
        self.assertEqual(t.call_json({"Record": 4}).value, {"Ok": 1})
        self.assertEqual(t.call_json({"Record": 8}).value, {"Ok": 2})
        self.assertEqual(t.call_json("Mean").value, {"Ok": 6})
        made = t.host.calls[0]
        self.assertEqual((made.to, made.encoding), ("calculator", "json"))
        self.assertEqual(json.loads(made.payload), {"Divide": [12, 2]})

    def test_the_calculators_typed_error_becomes_this_actors(self):
        t = ActorTest(Stats)
        t.host.answer("calculator", calculator)
        self.assertEqual(t.call_json("Mean").value, {"Err": "NoData"})

    def test_a_calculator_that_cannot_be_reached_is_an_answer_too(self):
        t = ActorTest(Stats)

        def down(request):
            raise DeliveryError("timeout")

        t.host.answer("calculator", down)
        t.call_json({"Record": 1})
        self.assertEqual(t.call_json("Mean").value, {"Err": {"Unavailable": "timeout"}})

    def test_a_request_of_another_shape_is_refused(self):
        t = ActorTest(Stats)
        r = t.call_json({"Record": "four"})
        self.assertEqual(r.kind, "defer")
        self.assertEqual(r.answered.kind, "refused")


if __name__ == "__main__":
    unittest.main()
