import unittest

from wactor.testing import ActorTest

from actor import Counter


class CounterTest(unittest.TestCase):
    def test_inc_answers_the_new_count_and_get_reads_it(self):
        t = ActorTest(Counter)
        self.assertEqual(t.call("inc").value, "1")
        self.assertEqual(t.call("inc").value, "2")
        self.assertEqual(t.call("get").value, "2")

    def test_the_count_survives_a_reload_and_hibernation(self):
        t = ActorTest(Counter)
        t.call("inc")
        t.call("inc")
        t = t.reload()
        self.assertEqual(t.call("inc").value, "3")
        t = t.hibernate()
        self.assertEqual(t.call("get").value, "3")

    def test_an_unknown_request_is_refused_and_the_count_kept(self):
        t = ActorTest(Counter)
        t.call("inc")
        result = t.call("dec")
        self.assertEqual(result.kind, "defer")
        self.assertEqual(result.answered.kind, "refused")
        self.assertIn("expected `inc` or `get`", result.answered.text)
        self.assertEqual(t.call("get").value, "1")

    def test_a_message_counts_too(self):
        t = ActorTest(Counter)
        t.send("inc")
        self.assertEqual(t.call("get").value, "1")


if __name__ == "__main__":
    unittest.main()
