"""Authenticity findings read in the console's language, from the scorer's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.charts.findings import finding_text, finding_texts, pollutant_namer
from console.monitoring.authenticity import score_batch
from console.monitoring.authenticity.synthetic import Pattern, make_batch
from console.shell import i18n

OUTLETS = [
    {"id": "o1", "name": "废气排放口1", "limits": [{"code": "a21026", "name": "二氧化硫"}]},
    {"id": "o2", "name": "废气排放口2", "limits": [{"code": "a21026", "name": "二氧化硫"}]},
]


@pytest.fixture
def language() -> Iterator[None]:
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def _findings() -> list[dict[str, object]]:
    batch = make_batch(
        [Pattern.FLAT, Pattern.ZEROS, Pattern.O2_AIR], seed=3, pollutants=["a21026"] * 3
    )
    return [f.to_json() for result in score_batch(batch) for f in result.findings]


def test_findings_read_in_chinese_with_permit_names(language: None) -> None:
    i18n.set_language("zh_CN")
    name = pollutant_namer(OUTLETS)
    texts = [finding_text(f, name) for f in _findings()]
    assert texts
    for text in texts:
        assert text.startswith("二氧化硫 ")
        assert "分）：" in text  # "…检查（12 分）：…"
        assert "hours" not in text
        assert "{" not in text
    assert any("含氧量不低于" in text for text in texts)


def test_english_keeps_the_scorers_sentence(language: None) -> None:
    i18n.set_language("en")
    for finding in _findings():
        text = finding_text(finding, pollutant_namer([]))
        # Unknown names stay codes; the sentence is the scorer's own English one.
        assert text.endswith(str(finding["text"]).split(": ", 1)[1])


def test_pollutant_names_and_fallbacks() -> None:
    name = pollutant_namer(OUTLETS)
    assert name("a21026") == "二氧化硫"
    assert name("a21026@o2") == "二氧化硫 · 废气排放口2"
    assert name("w01018") == "w01018"
    # A score cached before findings were data: its English reasons, as they were.
    assert finding_texts({"reasons": ["w01018 zero (0): …"], "findings": []}, name) == [
        "w01018 zero (0): …"
    ]
    # A rule this console does not know (a newer hub): the hub's English text.
    unknown = {"rule": "new_rule", "params": {}, "text": "w01018 new_rule (3): …"}
    assert finding_text(unknown, name) == "w01018 new_rule (3): …"
