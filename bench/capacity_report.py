"""Summaries and the table of bench/capacity.py: per scenario and server, the capacity over the
repeats (median [min-max]), its ratio to the reference's (median over median, and the spread of
the ratios taken within each repeat), the client's CPU share at the capacity probe, and the cost
below saturation (server CPU us per unit, median [min-max], and its ratio to the reference's:
median over median, with the spread, and the median, of the ratios within each round), and that
cost apart: the medians of its user time (the server's own code) and system time (the kernel's).
"""

import statistics

# A client using at least this share of its core at the capacity probe may have been the limit.
CLIENT_BOUND_SHARE = 0.90
# Busy time of the server's CPU outside the server above this share of a probe's wall time is
# flagged: other processes competed with it (io_uring's kernel workers count here too).
NOISY_SHARE = 0.05


def spread(values):
    """(median, min, max) of the values that are not None; (None, None, None) if none are."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def round_ratios(mine, reference):
    """mine[i] / reference[i] over the repeats i where both are known and the reference's is
    not 0 (the servers alternate, so repeat i saw about the same machine state for both)."""
    return [m / r for m, r in zip(mine, reference) if m is not None and r]


def ratio_spread(mine, reference):
    """(min, max) of the per-repeat ratios; (None, None) if there is none."""
    ratios = round_ratios(mine, reference)
    return (min(ratios), max(ratios)) if ratios else (None, None)


def ratio(mine, reference):
    return mine / reference if mine is not None and reference else None


def summarize(scenario, servers, reference, searches, costs):
    """Summary records of one scenario. `searches[server]` is the list of that server's search
    records (one a repeat, in order), `costs[server]` its list of cost-run records."""
    caps = {s: [r["capacity"] for r in searches[s]] for s in servers}
    costs = {s: costs.get(s, []) for s in servers}
    cost = {s: [r["server_cpu_us_per_unit"] for r in costs[s]] for s in servers}
    ref_cap = spread(caps.get(reference, []))[0]
    ref_cost = spread(cost.get(reference, []))[0]
    out = []
    for s in servers:
        cap = spread(caps[s])
        lo, hi = ratio_spread(caps[s], caps.get(reference, []))
        client = [r["client_cpu_share_at_capacity"] for r in searches[s]]
        c = spread(cost[s])
        cost_rounds = spread(round_ratios(cost[s], cost.get(reference, [])))
        out.append({
            "type": "summary", "scenario": scenario, "server": s, "reference": reference,
            "repeats": len(caps[s]),
            "capacity_median": cap[0], "capacity_min": cap[1], "capacity_max": cap[2],
            "capacities": caps[s],
            "capacity_ratio": ratio(cap[0], ref_cap),
            "capacity_ratio_min": lo, "capacity_ratio_max": hi,
            "client_cpu_share_at_capacity_median": spread(client)[0],
            "client_bound": any(x is not None and x >= CLIENT_BOUND_SHARE for x in client),
            "end_reasons": [r["end_reason"] for r in searches[s]],
            "other_load_max": spread([r["other_load_max"] for r in searches[s]]
                                     + [r["other_load_on_server_cpu"] for r in costs[s]])[2],
            "cost_us_per_unit_median": c[0], "cost_us_per_unit_min": c[1],
            "cost_us_per_unit_max": c[2],
            "cost_ratio": ratio(c[0], ref_cost),
            "cost_ratio_round_median": cost_rounds[0],
            "cost_ratio_min": cost_rounds[1], "cost_ratio_max": cost_rounds[2],
            "cost_user_us_per_unit_median":
                spread([r.get("server_user_us_per_unit") for r in costs[s]])[0],
            "cost_system_us_per_unit_median":
                spread([r.get("server_system_us_per_unit") for r in costs[s]])[0],
            "cost_rate": costs[s][0]["offered"] if costs[s] else None,
            "cost_failed_runs": sum(1 for r in costs[s] if not r["passed"]),
        })
    return out


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def notes(row, scenario):
    """The flags of a table row."""
    out = []
    if row["server"] == row["reference"]:
        no_tick = scenario.tick and row["server"].startswith("tokio_")
        out.append("reference" + (" (no send tick: runs as-is)" if no_tick else ""))
    if row["client_bound"]:
        out.append("client-bound?")
    reasons = row["end_reasons"]
    if any(r == "max rate" for r in reasons):
        out.append("hit MAX_RATE")
    if any(r.startswith("guard") for r in reasons):
        out.append("guard stopped a search")
    if any(r.startswith("nothing passed") for r in reasons):
        out.append("START failed, nothing passed")
    if (row["other_load_max"] or 0) > NOISY_SHARE:
        out.append(f"other load on server cpu up to {row['other_load_max']:.0%}")
    if row["cost_failed_runs"]:
        out.append(f"{row['cost_failed_runs']} cost runs failed")
    return ", ".join(out)


def table(scenario, rows):
    """The scenario's table as text."""
    unit = scenario.unit_short
    width = max(len("server"), *(len(r["server"]) for r in rows))
    header = (f"{'server':<{width}} {'capacity ' + unit + '/s median [min-max]':>36} "
              f"{'vs ref [spread]':>18} {'client%@cap':>11} "
              f"{'cost us/' + unit + ' median [min-max]':>30} {'cost vs ref [spread]':>20} "
              f"{'user+system':>13}  notes")
    lines = [f"scenario {scenario.name}: {scenario.describe()}", header, "-" * len(header)]
    for r in rows:
        cap = (f"{fmt(r['capacity_median'], ',.0f')} "
               f"[{fmt(r['capacity_min'], ',.0f')}-{fmt(r['capacity_max'], ',.0f')}]")
        rat = (f"{fmt(r['capacity_ratio'], '.2f')} "
               f"[{fmt(r['capacity_ratio_min'], '.2f')}-{fmt(r['capacity_ratio_max'], '.2f')}]")
        share = r["client_cpu_share_at_capacity_median"]
        client = fmt(share * 100 if share is not None else None, ".0f")
        cost = (f"{fmt(r['cost_us_per_unit_median'], '.3f')} "
                f"[{fmt(r['cost_us_per_unit_min'], '.3f')}-"
                f"{fmt(r['cost_us_per_unit_max'], '.3f')}]")
        cost_rat = (f"{fmt(r['cost_ratio'], '.2f')} "
                    f"[{fmt(r['cost_ratio_min'], '.2f')}-{fmt(r['cost_ratio_max'], '.2f')}]")
        split = (f"{fmt(r['cost_user_us_per_unit_median'], '.3f')}+"
                 f"{fmt(r['cost_system_us_per_unit_median'], '.3f')}")
        lines.append(f"{r['server']:<{width}} {cap:>36} {rat:>18} {client:>11} {cost:>30} "
                     f"{cost_rat:>20} {split:>13}  {notes(r, scenario)}")
    cost_rate = next((r["cost_rate"] for r in rows if r["cost_rate"]), None)
    searched = any(r["repeats"] for r in rows)
    why = "50% of the reference's median capacity" if searched else "COST_RATE"
    lines.append(f"cost at {fmt(cost_rate, ',.0f')} {unit}/s ({why})"
                 if cost_rate else "cost: not run (the reference has no capacity)")
    return "\n".join(lines)
