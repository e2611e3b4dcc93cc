"""The A/B confidence sequence on simulated live traffic: false stops of an A/A test, calls needed to find a real
difference, and the width's independence of the outcome's level. Streams assign each call to the arm or the control
at 50/50 and are checked every 50 calls, as a dashboard would be.

    python benchmarks/ab_sequential.py [--streams 200] [--evalsig]

`--evalsig` runs evalsig's sequential test beside it on the same streams (`pip install evalsig`; its test takes
paired differences, so the k-th arm call is paired with the k-th control call, two-sided, α = 0.05, its defaults
otherwise).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import save

from emoprompt.stats.sequential import aipw, confidence_sequence

ALPHA, PLANNED, EVERY = 0.05, 10_000, 50


def first_stop(psi: np.ndarray, calls: int) -> int | None:
    """The first check (every EVERY calls) at which the sequence excludes 0, in calls; None if it never does."""
    mean, radius = confidence_sequence(psi, ALPHA, PLANNED)
    checks = np.arange(EVERY, calls + 1, EVERY) - (calls - len(psi)) - 1  # ψ starts at the second call
    checks = checks[checks >= 0]
    outside = np.abs(mean[checks]) > radius[checks]
    return int(checks[np.argmax(outside)] + 1 + calls - len(psi)) if outside.any() else None


def evalsig_stop(values: np.ndarray, treated: np.ndarray) -> int | None:
    """evalsig's confidence sequence on the k-th arm call minus the k-th control call, checked every EVERY calls."""
    from evalsig.inference.sequential import confidence_sequence as evalsig_sequence

    arm, control = np.flatnonzero(treated), np.flatnonzero(~treated)
    pairs = min(len(arm), len(control))
    differences = values[arm[:pairs]] - values[control[:pairs]]
    completed = np.maximum(arm[:pairs], control[:pairs]) + 1  # the call at which pair k is complete
    for calls in range(EVERY, len(values) + 1, EVERY):
        ready = int(np.searchsorted(completed, calls, side="right"))
        if ready < 30:
            continue
        low, high = evalsig_sequence(differences[:ready], alpha=ALPHA).ci
        if low > 0 or high < 0:
            return calls
    return None


def fixed_n_stop(values: np.ndarray, treated: np.ndarray) -> int | None:
    """A fixed-n two-sample z test (unpooled) looked at every EVERY calls: what peeking at it does."""
    checks = np.arange(EVERY, len(values) + 1, EVERY) - 1
    arm, rest = np.cumsum(treated)[checks], np.cumsum(~treated)[checks]
    sums = [np.cumsum(np.where(mask, values, 0.0))[checks] for mask in (treated, ~treated)]
    squares = [np.cumsum(np.where(mask, values**2, 0.0))[checks] for mask in (treated, ~treated)]
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums[0] / arm, sums[1] / rest
        variances = squares[0] / arm - means[0] ** 2, squares[1] / rest - means[1] ** 2
        z = np.abs(means[0] - means[1]) / np.sqrt(variances[0] / arm + variances[1] / rest)
    outside = np.nan_to_num(z) > 1.96
    return int(checks[np.argmax(outside)] + 1) if outside.any() else None


def scenario(name: str, draw: Callable[[np.random.Generator, np.ndarray], np.ndarray], calls: int, streams: int,
             with_evalsig: bool, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ours: list[int | None] = []
    theirs: list[int | None] = []
    peeking: list[int | None] = []
    for _ in range(streams):
        treated = rng.random(calls) < 0.5
        values = draw(rng, treated)
        ours.append(first_stop(aipw(values, treated, 0.5)[1:], calls))
        peeking.append(fixed_n_stop(values, treated))
        if with_evalsig:
            theirs.append(evalsig_stop(values, treated))
    result = {"scenario": name, "calls": calls, "streams": streams, **summary("emoprompt", ours),
              **summary("fixed_n_peeking", peeking)}
    if with_evalsig:
        result.update(summary("evalsig", theirs))
    print(result)
    return result


def summary(label: str, stops: list[int | None]) -> dict[str, Any]:
    stopped = [s for s in stops if s is not None]
    return {f"{label}_stopped": round(len(stopped) / len(stops), 3),
            f"{label}_median_calls": int(np.median(stopped)) if stopped else None}


def bernoulli(base: float, lift: float) -> Callable[[np.random.Generator, np.ndarray], np.ndarray]:
    return lambda rng, treated: (rng.random(len(treated)) < base + lift * treated).astype(float)


def normal(mean: float, sd: float, effect: float) -> Callable[[np.random.Generator, np.ndarray], np.ndarray]:
    return lambda rng, treated: rng.normal(mean + effect * treated, sd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--evalsig", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    treated = rng.random(PLANNED) < 0.5
    outcome = rng.normal(0.5, 0.2, PLANNED)
    widths = {}
    for shift in (0, 1, 3, 6, 10):
        _, radius = confidence_sequence(aipw(outcome + shift, treated, 0.5)[1:], ALPHA, PLANNED)
        widths[str(shift)] = round(float(radius[-1]), 4)
    print({"half_width_at_10000_by_shift": widths})
    scenarios = [
        scenario("A/A, 30% success", bernoulli(0.3, 0.0), 10_000, max(args.streams, 500), args.evalsig, 1),
        scenario("+5 pp at a 50% base rate", bernoulli(0.5, 0.05), 40_000, args.streams, args.evalsig, 2),
        scenario("+5 pp at a 90% base rate", bernoulli(0.9, 0.05), 40_000, args.streams, args.evalsig, 3),
        scenario("mean 0.5, SD 0.2, +0.1 SD", normal(0.5, 0.2, 0.02), 40_000, args.streams, args.evalsig, 4),
        scenario("mean 0, SD 0.2, +0.1 SD", normal(0.0, 0.2, 0.02), 40_000, args.streams, args.evalsig, 5),
    ]
    save("ab_sequential", {"alpha": ALPHA, "n_planned": PLANNED, "checked_every_calls": EVERY,
                           "half_width_at_10000_by_shift": widths, "scenarios": scenarios,
                           "note": "calls counted over both arms; 'stopped' is the share of streams whose sequence "
                                   "excluded 0 at some check (for the A/A scenario, the false-stop rate)"})


if __name__ == "__main__":
    main()
