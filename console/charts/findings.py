"""Authenticity findings in the console's language.

The hub sends each finding as data (``scoring.Reason.to_json``: rule, check, sub-score,
pollutant and the values of the rule's sentence); the sentence is filled here with the
translation of its template (``phrases.PHRASES`` are the English sources). Scores cached by
a hub before findings were kept as data have none: their English ``reasons`` are shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from console.monitoring.authenticity.phrases import PHRASES, render
from console.shell.i18n import tr

log = logging.getLogger(__name__)


def check_label(check: str) -> str:
    """Translated name of one of the five authenticity checks."""
    labels = {
        "exceedance": tr("Exceedance check"),
        "fluctuation": tr("Fluctuation check"),
        "zero": tr("Zero-value check"),
        "box": tr("Box check"),
        "condition": tr("Operating-condition check"),
    }
    return labels.get(check, check)


def pollutant_namer(outlets: Iterable[Mapping[str, Any]]) -> Callable[[str], str]:
    """Names for the scorer's pollutant labels from an enterprise's outlets (as the snapshot
    and the enterprise file give them): ``w01018`` -> its permit name; ``w01018@outlet``
    (one code on several outlets) -> "name · outlet"; anything else as it is."""
    names: dict[str, str] = {}
    outlet_names: dict[str, str] = {}
    for outlet in outlets:
        outlet_names[str(outlet.get("id"))] = str(outlet.get("name") or outlet.get("id"))
        for limit in outlet.get("limits") or []:
            names.setdefault(str(limit.get("code")), str(limit.get("name") or limit.get("code")))

    def name(label: str) -> str:
        code, _, outlet_id = label.partition("@")
        if code not in names:
            return label
        if not outlet_id:
            return names[code]
        return f"{names[code]} · {outlet_names.get(outlet_id, outlet_id)}"

    return name


def finding_text(finding: Mapping[str, Any], pollutant_name: Callable[[str], str]) -> str:
    """One finding as a sentence in the console's language."""
    try:
        sentence = render(
            str(finding["rule"]), finding.get("params") or {}, lambda name: tr(PHRASES[name])
        )
    except (KeyError, IndexError, ValueError) as exc:  # a hub newer than this console
        log.warning("finding %s shown in English: %r", finding.get("rule"), exc)
        return str(finding.get("text", ""))
    pollutant = pollutant_name(str(finding.get("pollutant", "")))
    score = finding.get("score")
    if score is None:  # the note that too few hours were valid
        return tr("{pollutant}: {sentence}", pollutant=pollutant, sentence=sentence)
    return tr(
        "{pollutant} {check} ({score}): {sentence}",
        pollutant=pollutant,
        check=check_label(str(finding.get("check", ""))),
        score=f"{float(score):.0f}",
        sentence=sentence,
    )


def finding_texts(scored: Mapping[str, Any], pollutant_name: Callable[[str], str]) -> list[str]:
    """The findings of a score (ranking row or enterprise file), most suspicious first."""
    findings = scored.get("findings") or []
    if not findings:
        return [str(reason) for reason in scored.get("reasons") or []]
    return [finding_text(finding, pollutant_name) for finding in findings]
