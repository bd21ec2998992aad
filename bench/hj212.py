"""Decode throughput of the HJ 212 codec on one core, on a realistic station mix.

The mix: water (COD, NH3-N, TP, TN, pH, flow …) and flue gas (SO2, NOx, dust with O2-converted
values, O2, flow, temperature …) packets, 8–12 codes each, as real-time (2011), minute (2051)
and hourly (2061) uploads. Prints figures, then ``hj212: N packets/s decode``.
"""

from __future__ import annotations

import argparse
import random
import time

from console.monitoring.hj212 import FrameScanner, decode, encode_packet

WATER = ["w01018", "w21003", "w21011", "w21001", "w01001", "w00000", "w01009", "w01010",
         "w01014", "w20122", "w20116", "w20111"]  # fmt: skip
GAS = ["a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01014", "a01013",
       "a21005", "a24088", "a21024", "a05002"]  # fmt: skip
CONVERTED = {"a21026", "a21002", "a34013"}


def make_mix(count: int, seed: int = 212) -> list[bytes]:
    """Frames of 2011/2051/2061 water and gas uploads with 8–12 codes each."""
    rng = random.Random(seed)
    frames = []
    for i in range(count):
        gas = rng.random() < 0.5
        codes = rng.sample(GAS if gas else WATER, rng.randint(8, 12))
        cn = rng.choice(["2011", "2051", "2061"])
        values: dict[str, dict[str, object]] = {}
        for code in codes:
            level = round(rng.uniform(0.1, 300.0), 3)
            if cn == "2011":
                fields: dict[str, object] = {"Rtd": level, "Flag": "N"}
                if code in CONVERTED:
                    fields["ZsRtd"] = round(level * 1.2, 3)
            else:
                fields = {"Min": round(level * 0.8, 3), "Avg": level, "Max": round(level * 1.3, 3)}
                if code in CONVERTED:
                    fields["ZsAvg"] = round(level * 1.2, 3)
                if code in ("w00000", "a00000"):
                    fields["Cou"] = round(level * 3600, 2)
                fields["Flag"] = rng.choice("NNNNNNNNMF")
            values[code] = fields
        frames.append(
            encode_packet(
                qn=f"20260101{i % 240000:06d}{i % 1000:03d}",
                st="31" if gas else "32",
                cn=cn,
                pw="123456",
                mn=f"{rng.randrange(16**24):024X}",
                flag=5,
                data_time=f"20260101{i % 24:02d}0000",
                values=values,
            )
        )
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frames = make_mix(args.packets)
    mean_bytes = sum(map(len, frames)) / len(frames)
    best = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        for frame in frames:
            decode(frame)
        best = min(best, time.perf_counter() - started)
    stream = b"".join(frames)
    chunks = [stream[i : i + 1460] for i in range(0, len(stream), 1460)]  # TCP segments
    started = time.perf_counter()
    scanner = FrameScanner()
    found = sum(len(scanner.feed(chunk)) for chunk in chunks)
    scan_rate = found / (time.perf_counter() - started)
    rate = len(frames) / best
    print(f"packets: {len(frames)}  mean frame: {mean_bytes:.0f} bytes  best of {args.rounds}")
    print(f"decode: {best / len(frames) * 1e6:.2f} us/packet, {rate * mean_bytes / 1e6:.1f} MB/s")
    print(f"scan: {scan_rate:,.0f} frames/s from 1460-byte chunks")
    print(f"hj212: {rate:.0f} packets/s decode")


if __name__ == "__main__":
    main()
