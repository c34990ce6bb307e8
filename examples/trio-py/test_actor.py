import unittest

from wactor import DeliveryError
from wactor.testing import ActorTest

from actor import Trio


class TrioTest(unittest.TestCase):
    def test_relays_to_echo_as_text_and_names_itself(self):
        t = ActorTest(Trio)
        t.host.answer("echo", lambda text: text)
        self.assertEqual(t.call_json({"Relay": "hello"}).value, "trio-py > echo: hello")
        self.assertEqual(t.call("hi").value, "trio-py > echo: hi")
        self.assertEqual([c.encoding for c in t.host.calls], ["native", "native"])

    def test_a_failed_hop_is_named_with_its_kind(self):
        t = ActorTest(Trio)

        def gone(text):
            raise DeliveryError("unknown-process")

        t.host.answer("echo", gone)
        self.assertEqual(t.call("hi").value, "trio-py > echo failed (unknown-process): ")


if __name__ == "__main__":
    unittest.main()
