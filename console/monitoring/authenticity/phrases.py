"""The sentences of authenticity findings as templates with named values, in one place.

A finding (``scoring.Reason``) keeps its sentence as data: a phrase id and the values that
fill it. A value is a string or number, or another phrase (``{"phrase": id, "params": …}``)
for the parts that change with the data (what showed the plant running, which range was
used, the longest run of hours). Numbers are formatted once, here in the scorer, so every
language shows the same figures. ``render`` fills a template recursively; the console passes
its translation of each template (``PHRASES`` values are the English source texts of its
catalogue), the scorer and the command line use them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Param = Any
"""A template value: str, int or a nested phrase ``{"phrase": str, "params": {...}}``."""

PHRASES: dict[str, str] = {
    # One sentence per rule (``Reason.rule``).
    "exceedance": (
        "{count} of {total} operating hours ({share}) with {basis} above the limit {limit}, "
        "highest {peak} at {peak_at}{run}"
    ),
    "flat": (
        "{count} of {total} operating hours ({share}) lie in windows of {window} h whose values "
        "vary by at most {fraction} of the {range} (±{tolerance}; MEE 2012 guide §7.1){run}"
    ),
    "periodic": (
        "hour-to-hour changes repeat with a period of {lag} h (autocorrelation {r}; honest data "
        "stays below {free})"
    ),
    "repeats": (
        "{count} of {total} changing hours ({share}) repeat exactly the value {lag} h earlier "
        "(copy-paste){run}"
    ),
    "jumps": (
        "{count} of {total} hour-to-hour changes ({share}) exceed {fraction} of the {range}, "
        "first at {first_at}"
    ),
    "zero": (
        "{count} of {total} running hours ({share}) read at or below {level} ({fraction} of the "
        "limit {limit}) while {evidence} showed the plant running{run}"
    ),
    "hug": (
        "{count} of {total} operating hours ({share}) sit in [{low}, {high}) x limit = "
        "[{band_low}, {band_high}) but only {above} reach the limit: held just under the "
        "limit{run}"
    ),
    "outliers": (
        "{count} of {total} operating hours ({share}) lie outside the box-plot fences "
        "Q1 - {fence} IQR .. Q3 + {fence} IQR = [{lower}, {upper}] (median {median}), "
        "first at {first_at}"
    ),
    "o2_air": (
        "flue-gas O2 at or above {o2} % (ambient air 20.9 %) in {count} of {total} hours "
        "declared running ({share}): the probe measures air or the gas is diluted{run}"
    ),
    "flow_zero_moving": (
        "{count} of {total} hours ({share}) with no flow (at most {fraction} of the median flow "
        "{flow}) while the concentration changed by more than {step} in the hour{run}"
    ),
    "stop_emitting": (
        "{count} of {stops} hours flagged F (declared stopped) still show {sign} ({share} of "
        "all {total} hours): 标停未停{run}"
    ),
    "hot_flue_gas": (
        "flue gas above {temperature} °C in {count} of {total} operating hours ({share}); after "
        "wet desulfurisation it is saturated at about 45-60 °C (bypass?){run}"
    ),
    "coverage": (
        "only {hours} valid hours of normal operation (fewer than {minimum}): weak evidence "
        "either way"
    ),
    # Parts of those sentences.
    "basis_zs": "O2-converted (Zs) values",
    "basis_values": "values",
    "range_instrument": "instrument range {range}",
    "range_assumed": "assumed range {range} = {factor} x limit",
    "evidence_flow": "flow",
    "evidence_flag": "flag N (no flow given)",
    "evidence_o2": "O2 below {o2} %",
    "sign_flow": "flow",
    "sign_values": "values above {level}",
    "run_none": "",
    "run_one": "; e.g. {at}",
    "run_longest": "; longest run {hours} h from {start} to {end}",
}


def phrase(name: str, **params: Param) -> dict[str, Any]:
    """A nested phrase as a template value (JSON-ready)."""
    if name not in PHRASES:
        raise KeyError(f"no phrase {name!r}")
    return {"phrase": name, "params": params}


def render(
    name: str,
    params: Mapping[str, Param],
    template: Callable[[str], str] = PHRASES.__getitem__,
) -> str:
    """Fill phrase ``name``'s template (as ``template`` gives it) with ``params``, nested
    phrases first; KeyError for an unknown phrase or a missing value."""
    values = {
        key: (
            render(value["phrase"], value.get("params") or {}, template)
            if isinstance(value, Mapping)
            else value
        )
        for key, value in params.items()
    }
    return template(name).format(**values)
