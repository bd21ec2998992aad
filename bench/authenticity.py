"""Authenticity scoring of a province-sized day's work: 1,000 enterprises x 5 pollutants x 30 days.

Hourly data are generated with numpy (``console.monitoring.authenticity.synthetic``); a share of
the series carries one of the forgery patterns. Everything is scored in one ``score_batch``
call on a (5,000 series, 720 hours) array, then ranked per enterprise. Prints the figures, then
``authenticity: N enterprises/s``. Target: the whole set in <= 5 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from console.monitoring.authenticity import score_batch, score_enterprises
from console.monitoring.authenticity.synthetic import POLLUTANTS, Pattern, make_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--forged-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    forged = rng.random(args.enterprises) < args.forged_share
    kinds = [p for p in Pattern if p is not Pattern.CLEAN]
    patterns: list[Pattern] = []
    names: list[str] = []
    for e in range(args.enterprises):
        bad = int(rng.integers(len(POLLUTANTS))) if forged[e] else -1
        for k in range(len(POLLUTANTS)):
            patterns.append(kinds[int(rng.integers(len(kinds)))] if k == bad else Pattern.CLEAN)
            names.append(f"E{e:05d}")
    began = time.perf_counter()
    batch = make_batch(
        patterns,
        hours=24 * args.days,
        seed=args.seed,
        enterprises=names,
        pollutants=list(POLLUTANTS) * args.enterprises,
    )
    generated = time.perf_counter() - began

    began = time.perf_counter()
    ranked = score_enterprises(score_batch(batch))
    elapsed = time.perf_counter() - began

    n_forged = int(forged.sum())
    flagged = {r.enterprise for r in ranked[:n_forged]}
    truth = {f"E{e:05d}" for e in np.flatnonzero(forged)}
    print(f"series: {batch.size} x {batch.value.shape[1]} h ({batch.value.size:,} hourly values)")
    print(f"generate_s: {generated:.2f}")
    print(f"score_s: {elapsed:.2f} (target <= 5)")
    print(
        f"forged enterprises: {n_forged}; found among the {n_forged} lowest: {len(flagged & truth)}"
    )
    print(f"score range: {ranked[0].score:.1f} .. {ranked[-1].score:.1f}")
    print(f"authenticity: {args.enterprises / elapsed:.0f} enterprises/s")


if __name__ == "__main__":
    main()
