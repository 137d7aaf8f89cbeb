#!/usr/bin/env python3
"""Unit tests of bench/capacity.py's pure parts: the search state machine (fed with fake probe
functions), the probe verdict and the summaries. Run: python3 bench/test_capacity.py"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capacity import Config, HarnessError, Scenario  # noqa: E402
from capacity_report import notes, ratio_spread, spread, summarize, table  # noqa: E402
from capacity_search import Search  # noqa: E402
from capacity_probe import CpuSampler, phase_split, verdict  # noqa: E402


def run(search, probe):
    """Drives `search` with `probe(rate, try_number) -> passed` to its end; returns the rates
    probed in order."""
    rates = []
    while not search.done:
        rate = search.next_rate()
        rates.append(rate)
        search.record(probe(rate, search.next_try()))
    return rates


def below(threshold):
    return lambda rate, _try: rate <= threshold


class SearchTest(unittest.TestCase):
    def assert_brackets(self, s, threshold):
        """The capacity passed, the rate above it failed, and they are within the resolution."""
        self.assertLessEqual(s.capacity, threshold)
        self.assertGreater(s.lowest_failing, threshold)
        self.assertLessEqual((s.lowest_failing - s.capacity) / s.capacity, s.resolution)

    def test_steps_up_then_bisects_to_the_threshold(self):
        for threshold in (40_000, 41_234, 99_999, 123_456, 777_777):
            s = Search(40_000, factor=1.25, resolution=0.05, max_rate=1e6)
            rates = run(s, below(threshold))
            self.assertEqual(s.end_reason, "resolved", threshold)
            self.assert_brackets(s, threshold)
            # Geometric steps up first: 40,000, 50,000, 62,500, ...
            self.assertEqual(rates[:2], [40_000, 50_000][:len(rates[:2])])
            # Every failing rate was tried 3 times, every passing one once.
            for rate in set(rates):
                self.assertEqual(rates.count(rate), 1 if rate <= threshold else 3, rate)

    def test_start_failing_steps_down(self):
        s = Search(40_000, factor=1.25, resolution=0.05, min_rate=400)
        rates = run(s, below(17_000))
        self.assertEqual(rates[:6], [40_000] * 3 + [32_000] * 3)
        self.assertTrue(all(r >= 400 for r in rates))
        self.assertEqual(s.end_reason, "resolved")
        self.assert_brackets(s, 17_000)

    def test_nothing_passing_gives_zero_and_stops_at_the_min_rate(self):
        s = Search(40_000, factor=1.25, min_rate=10_000, max_probes=1000)
        rates = run(s, lambda rate, _try: False)
        self.assertEqual(s.capacity, 0)
        self.assertIsNone(s.lo)
        self.assertTrue(s.end_reason.startswith("nothing passed"))
        self.assertGreaterEqual(min(rates), 10_000)
        self.assertLess(min(rates) / 1.25, 10_000, "stepped down as far as allowed")

    def test_respects_the_max_rate(self):
        s = Search(40_000, factor=1.25, max_rate=100_000)
        rates = run(s, below(10**9))
        self.assertEqual(max(rates), 100_000)
        self.assertEqual(s.capacity, 100_000)
        self.assertEqual(s.end_reason, "max rate")
        # A start above the max starts at the max.
        s = Search(500_000, max_rate=100_000)
        self.assertEqual(run(s, below(10**9)), [100_000])

    def test_threshold_just_below_the_max_bisects_under_it(self):
        s = Search(40_000, factor=1.25, max_rate=100_000)
        rates = run(s, below(90_000))
        self.assertLessEqual(max(rates), 100_000)
        self.assert_brackets(s, 90_000)

    def test_guard_stops_after_max_probes(self):
        s = Search(1_000, factor=1.01, resolution=0.0001, max_probes=7)
        rates = run(s, below(10**9))
        self.assertEqual(len(rates), 7)
        self.assertEqual(s.probes, 7)
        self.assertTrue(s.end_reason.startswith("guard"))
        self.assertEqual(s.capacity, rates[-1], "capacity is the highest passing rate so far")

    def test_abort_ends_the_search_keeping_what_passed(self):
        s = Search(1_000)
        s.record(True)
        s.abort("guard: time")
        self.assertTrue(s.done)
        self.assertIsNone(s.next_rate())
        self.assertEqual(s.capacity, 1_000)
        self.assertEqual(s.end_reason, "guard: time")
        with self.assertRaises(RuntimeError):
            s.record(True)

    def test_best_of_three_stops_at_the_first_pass(self):
        # Fails the first two tries of every rate, passes the third up to the threshold.
        flaky = (lambda rate, attempt: attempt == 3 and rate <= 60_000)
        s = Search(40_000)
        rates = run(s, flaky)
        self.assert_brackets(s, 60_000)
        for rate in set(rates):
            self.assertEqual(rates.count(rate), 3, rate)
        # Passing on the second try: no third.
        s = Search(40_000, max_rate=40_000)
        self.assertEqual(run(s, lambda rate, attempt: attempt == 2), [40_000, 40_000])
        self.assertEqual(s.history, [(40_000, 1, False), (40_000, 2, True)])

    def test_coarse_grid_ends_when_nothing_lies_between(self):
        # Chat: rates in whole chats/s per client, 25,000 deliveries/s each.
        s = Search(500_000, quantum=25_000, resolution=0.01, max_rate=20e6)
        rates = run(s, below(1_010_000))
        self.assertTrue(all(r % 25_000 == 0 for r in rates))
        self.assertEqual(s.capacity, 1_000_000)
        self.assertEqual(s.lowest_failing, 1_025_000)
        self.assertEqual(s.end_reason, "resolved to the grid")
        # Stepping down on the grid goes one step at least and stops at one quantum.
        s = Search(75_000, quantum=25_000, max_probes=100)
        rates = run(s, lambda rate, _try: False)
        self.assertEqual(sorted(set(rates)), [25_000, 50_000, 75_000])
        self.assertEqual(s.capacity, 0)

    def test_bad_parameters_are_refused(self):
        for kwargs in ({"factor": 1.0}, {"resolution": 0}, {"tries": 0},
                       {"max_rate": 10, "quantum": 100}):
            with self.assertRaises(ValueError):
                Search(1_000, **kwargs)


class PhaseSplitTest(unittest.TestCase):
    def sampler(self, samples):
        s = CpuSampler(pid=0)
        s.samples = samples
        return s

    def test_interpolates_between_samples_and_clamps_outside(self):
        s = self.sampler([(10.0, 0), (11.0, 1_000), (12.0, 5_000)])
        self.assertEqual(s.at(10.5), 500)
        self.assertEqual(s.at(11.5), 3_000)
        self.assertEqual(s.at(9.0), 0)
        self.assertEqual(s.at(13.0), 5_000)
        self.assertIsNone(self.sampler([(10.0, 0)]).at(10.0))

    def test_connect_phase_apart_from_the_load(self):
        # Client started at 10.0 and was connected 0.5 s later: 500 ns before, 4,500 after.
        s = self.sampler([(10.0, 0), (11.0, 1_000), (12.0, 5_000)])
        connect_us, per_unit = phase_split(s, 10.0, {"connect_secs": 0.5}, units=9)
        self.assertAlmostEqual(connect_us, 0.5)
        self.assertAlmostEqual(per_unit, 4.5 / 9)
        self.assertEqual(phase_split(s, 10.0, {}, units=9), (None, None))
        self.assertEqual(phase_split(s, 10.0, {"connect_secs": 0.5}, units=0)[1], None)


class VerdictTest(unittest.TestCase):
    GOOD = {"errors": 0, "connect_failures": 0, "lost": 0, "late_sends": 0, "p99_us": 900,
            "msgs_per_sec": 9_900}

    def test_a_clean_run_passes(self):
        self.assertEqual(verdict(0, self.GOOD, "msgs_per_sec", 10_000, 5_000), [])

    def test_every_failure_is_named(self):
        report = dict(self.GOOD, errors=3, lost=2, late_sends=1, connect_failures=4,
                      p99_us=7_000, msgs_per_sec=9_000)
        reasons = verdict(2, report, "msgs_per_sec", 10_000, 5_000)
        for word in ("exit 2", "errors 3", "lost 2", "late_sends 1", "connect_failures 4",
                     "p99", "rate"):
            self.assertTrue(any(word in r for r in reasons), (word, reasons))

    def test_missing_report_fails(self):
        self.assertEqual(verdict(1, None, "msgs_per_sec", 10_000, 5_000),
                         ["exit 1", "no report"])


class SummaryTest(unittest.TestCase):
    def test_spread_is_median_min_max(self):
        self.assertEqual(spread([3, 1, 2]), (2, 1, 3))
        self.assertEqual(spread([None, 4]), (4, 4, 4))
        self.assertEqual(spread([]), (None, None, None))

    def test_ratio_spread_is_within_each_repeat(self):
        # Repeat 1: 100 vs 50 (2.0); repeat 2: 90 vs 60 (1.5): the spread is 1.5-2.0, not
        # min/max of the medians.
        self.assertEqual(ratio_spread([100, 90], [50, 60]), (1.5, 2.0))
        self.assertEqual(ratio_spread([100, 90], [0, 60]), (1.5, 1.5))
        self.assertEqual(ratio_spread([100], [0]), (None, None))

    @staticmethod
    def search(capacity, client_share, end_reason="resolved"):
        return {"capacity": capacity, "client_cpu_share_at_capacity": client_share,
                "end_reason": end_reason, "other_load_max": 0.01}

    @staticmethod
    def cost(us_per_unit, passed=True, user_share=0.25):
        return {"server_cpu_us_per_unit": us_per_unit, "offered": 50, "passed": passed,
                "server_user_us_per_unit": us_per_unit * user_share,
                "server_system_us_per_unit": us_per_unit * (1 - user_share),
                "other_load_on_server_cpu": 0.02}

    def test_summary_rows_compare_with_the_reference(self):
        searches = {"gs": [self.search(300, 0.5), self.search(200, 0.95, "guard: max probes"),
                           self.search(260, 0.4)],
                    "ref": [self.search(100, 0.3), self.search(100, 0.3),
                            self.search(130, 0.3)]}
        costs = {"gs": [self.cost(1.0), self.cost(2.0, passed=False), self.cost(3.0)],
                 "ref": [self.cost(4.0), self.cost(4.0), self.cost(5.0)]}
        gs, ref = summarize("echo", ["gs", "ref"], "ref", searches, costs)
        self.assertEqual((gs["capacity_median"], gs["capacity_min"], gs["capacity_max"]),
                         (260, 200, 300))
        self.assertEqual(gs["capacity_ratio"], 2.6)
        self.assertEqual((gs["capacity_ratio_min"], gs["capacity_ratio_max"]), (2.0, 3.0))
        self.assertEqual(gs["client_cpu_share_at_capacity_median"], 0.5)
        self.assertTrue(gs["client_bound"], "one repeat's capacity probe used 95% of its core")
        self.assertFalse(ref["client_bound"])
        self.assertEqual(gs["cost_us_per_unit_median"], 2.0)
        self.assertEqual(gs["cost_ratio"], 0.5)
        # Per round: 1/4, 2/4, 3/5.
        self.assertEqual((gs["cost_ratio_min"], gs["cost_ratio_max"]), (0.25, 0.6))
        self.assertEqual(gs["cost_ratio_round_median"], 0.5)
        self.assertEqual(gs["cost_failed_runs"], 1)
        # The split's medians: user 0.25, 0.5, 0.75 and system 0.75, 1.5, 2.25 per unit.
        self.assertEqual(gs["cost_user_us_per_unit_median"], 0.5)
        self.assertEqual(gs["cost_system_us_per_unit_median"], 1.5)
        self.assertEqual(ref["capacity_ratio"], 1.0)

        class Tick:
            tick = True
        flags = notes(gs, Tick)
        for word in ("client-bound?", "guard", "1 cost runs failed"):
            self.assertIn(word, flags)
        self.assertNotIn("no send tick", notes(ref, Tick), "a gameserver reference has the tick")
        tokio = dict(ref, server="tokio_chat", reference="tokio_chat")
        self.assertIn("no send tick", notes(tokio, Tick))

    def test_table_shows_every_server_and_the_cost_rate(self):
        scenario = Scenario("chat-tick", "chat", start=500_000, max_rate=20e6, bound_us=50_000,
                            tick=True)
        searches = {"gameserver-epoll+--flush-interval-ms+5": [self.search(1_000_000, 0.95)],
                    "tokio_chat": [self.search(400_000, 0.3)]}
        costs = {s: [dict(self.cost(2.0, user_share=0.125), offered=200_000)] for s in searches}
        rows = summarize("chat-tick", list(searches), "tokio_chat", searches, costs)
        text = table(scenario, rows)
        for word in ("gameserver-epoll+--flush-interval-ms+5", "1,000,000", "2.50", "1.00 [1.00-1.00]",
                     "client-bound?", "no send tick", "cost at 200,000 delivery/s", "0.250+1.750",
                     "--flush-interval-ms 20", "--chat-rate r"):
            self.assertIn(word, text)
        self.assertEqual(scenario.client_args(1_000_000)[-4:-2], ["--chat-rate", "40"])

    def test_each_scenario_runs_its_own_servers(self):
        cfg = Config(servers=["gameserver-uring+--flag", "mio_echo", "tokio_echo", "tokio_chat"])
        self.assertEqual(cfg.servers_for(cfg.scenario("echo")),
                         ["gameserver-uring+--flag", "mio_echo", "tokio_echo"])
        self.assertEqual(cfg.servers_for(cfg.scenario("chat")),
                         ["gameserver-uring+--flag", "tokio_chat"])
        with self.assertRaises(HarnessError):
            Config(servers=["nginx"]).servers_for(cfg.scenario("echo"))

    def test_tls_scenarios_add_the_flags_and_have_a_tls_reference(self):
        tls_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no-such-dir")
        cfg = Config(servers=["gameserver-epoll", "mio_echo", "tokio_echo", "tokio_tls_echo"],
                     tls_dir=tls_dir)
        echo = cfg.scenario("tls-echo")
        self.assertEqual(echo.reference, "tokio_tls_echo")
        self.assertEqual(cfg.servers_for(echo), ["gameserver-epoll", "tokio_tls_echo"])
        self.assertEqual(cfg.scenario("tls-chat").reference, "tokio_chat")
        # The files are checked when a command is made: a missing TLS_DIR fails before a run.
        with self.assertRaises(HarnessError):
            cfg.server_cmd("gameserver-epoll", echo)
        with self.assertRaises(HarnessError):
            echo.client_args(1_000, "")
        self.assertEqual(cfg.scenario("echo").client_args(1_000, "")[-2:], ["--rate", "1000"])
        with tempfile.TemporaryDirectory() as d:
            for name in ("ca.pem", "server.pem", "server.key"):
                open(os.path.join(d, name), "w").close()
            cfg.tls_dir = d
            cmd = cfg.server_cmd("tokio_tls_echo+--x", echo)
            self.assertEqual(cmd[1:], ["--tls-cert", os.path.join(d, "server.pem"),
                                       "--tls-key", os.path.join(d, "server.key"), "--x"])
            self.assertIn("--tls-cert", cfg.server_cmd("gameserver-uring", echo))
            self.assertNotIn("--tls-cert", cfg.server_cmd("gameserver-uring",
                                                          cfg.scenario("echo")))
            self.assertEqual(echo.client_args(1_000, d)[-3:],
                             ["--tls", "--tls-ca", os.path.join(d, "ca.pem")])

    def test_summary_without_cost_runs(self):
        searches = {"gs": [self.search(0, None, "nothing passed down to min rate")],
                    "ref": [self.search(0, None, "nothing passed down to min rate")]}
        gs, _ = summarize("chat", ["gs", "ref"], "ref", searches, {})
        self.assertIsNone(gs["capacity_ratio"])
        self.assertIsNone(gs["cost_us_per_unit_median"])
        self.assertFalse(gs["client_bound"])


if __name__ == "__main__":
    unittest.main()
