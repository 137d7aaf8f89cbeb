"""The capacity search of bench/capacity.py as a pure state machine: no processes, no clock.

A `Search` says which rate to probe next (`next_rate`) and is told whether that probe passed
(`record`). It finds the highest rate that passes:

1. step up geometrically from `start` (times `factor`) while steps pass, never above `max_rate`;
2. if `start` itself fails, step down (divided by `factor`) until a step passes, never below
   `min_rate` (nothing passing there: capacity 0);
3. between the highest passing rate (`lo`) and the lowest failing one (`hi`), bisect until
   (hi - lo) / lo <= `resolution` or no rate of the grid lies between them.

Each step (a rate) is tried up to `tries` times and passes if any try passes (best of
`tries`; trying stops at the first pass). Rates lie on a grid of multiples of `quantum` (e.g.
dummyclient's chat rate is a whole number of chats per second per client). `max_probes` bounds
the number of probes (tries included), `abort` ends a search from outside (the harness's time
guard); either way the capacity is the highest rate that passed so far.

Several searches run in lockstep simply by asking each in turn for its next rate.
"""

import math

UP, DOWN, BISECT, DONE = "up", "down", "bisect", "done"


class Search:
    """One server's capacity search; see the module docs."""

    def __init__(self, start, *, factor=1.25, resolution=0.05, max_rate=math.inf,
                 min_rate=0.0, quantum=1.0, tries=3, max_probes=60):
        if factor <= 1 or resolution <= 0 or quantum <= 0 or tries < 1 or max_probes < 1:
            raise ValueError("need factor > 1, resolution > 0, quantum > 0, tries >= 1, "
                             "max_probes >= 1")
        self.factor = factor
        self.resolution = resolution
        self.quantum = quantum
        self.max_tries = tries
        self.max_probes = max_probes
        # Rates are k * quantum; all the bookkeeping is in whole k.
        self.k_max = math.floor(max_rate / quantum) if math.isfinite(max_rate) else math.inf
        self.k_min = max(1, math.ceil(min_rate / quantum))
        if self.k_max < self.k_min:
            raise ValueError(f"max_rate {max_rate} is below min_rate {min_rate} "
                             f"or one quantum {quantum}")
        self.k = min(max(self.k_min, round(start / quantum)), self.k_max)
        self.phase = UP
        self.lo = None  # highest passing k
        self.hi = None  # lowest failing k
        self.tries = 0  # tries of the current step so far
        self.probes = 0
        self.end_reason = None
        # (rate, try number starting at 1, passed) of every probe, in order.
        self.history = []

    @property
    def done(self):
        return self.phase == DONE

    @property
    def capacity(self):
        """The highest rate that passed (0 if none did)."""
        return self.lo * self.quantum if self.lo is not None else 0

    @property
    def lowest_failing(self):
        """The lowest rate that failed all its tries, or None."""
        return self.hi * self.quantum if self.hi is not None else None

    def next_rate(self):
        """The rate to probe next, or None when the search is over."""
        return None if self.done else self.k * self.quantum

    def next_try(self):
        """The try number (1-based) of the next probe of the current step."""
        return self.tries + 1

    def record(self, passed):
        """Takes the outcome of a probe at `next_rate()`."""
        if self.done:
            raise RuntimeError("the search is over")
        self.probes += 1
        self.tries += 1
        self.history.append((self.k * self.quantum, self.tries, bool(passed)))
        if passed:
            self._step_passed()
        elif self.tries >= self.max_tries:
            self._step_failed()
        if not self.done and self.probes >= self.max_probes:
            self._finish("guard: max probes")

    def abort(self, reason):
        """Ends the search now (the capacity is what passed so far)."""
        if not self.done:
            self._finish(reason)

    def _goto(self, k):
        self.k = k
        self.tries = 0

    def _finish(self, reason):
        self.phase = DONE
        self.end_reason = reason

    def _step_passed(self):
        self.lo = self.k
        if self.phase == UP:
            if self.k >= self.k_max:
                self._finish("max rate")
            else:
                self._goto(min(max(self.k + 1, round(self.k * self.factor)), self.k_max))
        else:
            self.phase = BISECT
            self._bisect()

    def _step_failed(self):
        self.hi = self.k
        if self.lo is None:
            self.phase = DOWN
            lower = min(self.k - 1, round(self.k / self.factor))
            if lower < self.k_min:
                self._finish("nothing passed down to min rate")
            else:
                self._goto(lower)
        else:
            self.phase = BISECT
            self._bisect()

    def _bisect(self):
        if (self.hi - self.lo) / self.lo <= self.resolution:
            self._finish("resolved")
        elif self.hi - self.lo < 2:
            self._finish("resolved to the grid")
        else:
            self._goto((self.lo + self.hi) // 2)
