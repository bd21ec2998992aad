"""Authenticity scoring on synthetic series with known forgery patterns, and the weight re-fit."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from console.monitoring.authenticity import (
    CHECKS,
    CHINA_TZ,
    COVERAGE,
    DEFAULT_WEIGHT_SET,
    FLAG_CODES,
    AuthenticityConfig,
    InspectionOutcome,
    OutcomeLog,
    Ramp,
    SeriesBatch,
    Weights,
    combine,
    refit_weights,
    score_batch,
    score_enterprises,
)
from console.monitoring.authenticity.phrases import phrase, render
from console.monitoring.authenticity.scoring import Reason
from console.monitoring.authenticity.synthetic import Pattern, make_batch

# pattern -> (check that must name it, words of the reason)
EXPECTED = {
    Pattern.FLAT: ("fluctuation", "vary by at most 2.0 %"),
    Pattern.ZEROS: ("zero", "while flow showed the plant running"),
    Pattern.HUGGING: ("box", "held just under the limit"),
    Pattern.O2_AIR: ("condition", "ambient air 20.9 %"),
    Pattern.COPY_PASTE: ("fluctuation", "copy-paste"),
}
SEEDS = range(5)


@pytest.fixture(scope="module")
def scored() -> list[tuple[Pattern, float, tuple[str, ...], dict[str, float]]]:
    """Three of each forgery and six honest series per seed, five seeds."""
    rows = []
    for seed in SEEDS:
        patterns = [p for p in Pattern if p is not Pattern.CLEAN for _ in range(3)]
        patterns += [Pattern.CLEAN] * 6
        batch = make_batch(patterns, seed=seed)
        for pattern, result in zip(patterns, score_batch(batch), strict=True):
            rows.append((pattern, result.score, result.reasons, result.checks))
    return rows


@pytest.fixture(scope="module")
def scored_findings() -> list[Reason]:
    """Every finding of the synthetic mix (one seed)."""
    batch = make_batch([p for p in Pattern for _ in range(3)], seed=SEEDS[0])
    return [finding for result in score_batch(batch) for finding in result.findings]


def test_every_forged_series_scores_below_every_clean_one(
    scored: list[tuple[Pattern, float, tuple[str, ...], dict[str, float]]],
) -> None:
    forged = [score for pattern, score, _r, _c in scored if pattern is not Pattern.CLEAN]
    clean = [score for pattern, score, _r, _c in scored if pattern is Pattern.CLEAN]
    assert len(forged) == 75
    assert len(clean) == 30
    assert max(forged) < min(clean)
    assert min(clean) >= 90.0
    assert max(forged) <= 50.0


@pytest.mark.parametrize("pattern", list(EXPECTED))
def test_reasons_name_the_pattern(
    scored: list[tuple[Pattern, float, tuple[str, ...], dict[str, float]]], pattern: Pattern
) -> None:
    check, words = EXPECTED[pattern]
    for kind, _score, reasons, checks in scored:
        if kind is pattern:
            assert checks[check] < 50.0
            assert any(f" {check} (" in r and words in r for r in reasons), reasons


def test_clean_series_have_no_reasons(
    scored: list[tuple[Pattern, float, tuple[str, ...], dict[str, float]]],
) -> None:
    for kind, _score, reasons, _checks in scored:
        if kind is Pattern.CLEAN:
            assert reasons == ()


def _with(batch: SeriesBatch, **changes: object) -> SeriesBatch:
    return dataclasses.replace(batch, **changes)  # type: ignore[arg-type]


def test_flat_reason_names_the_hours() -> None:
    batch = make_batch([Pattern.CLEAN], seed=7, pollutants=["a21026"])
    value = batch.value.copy()
    value[0, 100:300] = 12.0  # 200 h from 2026-01-05 04:00 (Beijing time)
    result = score_batch(_with(batch, value=value))[0]
    flat = next(r for r in result.reasons if "vary by at most" in r)
    assert "200 of 720 operating hours" in flat
    assert "longest run 200 h from 2026-01-05 04:00 to 2026-01-13 11:00" in flat
    assert result.checks["fluctuation"] < 50


def test_findings_carry_the_hours_as_data() -> None:
    """The same run as the sentence, as timestamps; rules without a run carry no hours."""
    batch = make_batch([Pattern.CLEAN], seed=7, pollutants=["a21026"])
    value = batch.value.copy()
    value[0, 100:300] = 12.0
    result = score_batch(_with(batch, value=value))[0]
    flat = next(f for f in result.findings if f.rule == "flat")
    assert (flat.pollutant, flat.check) == ("a21026", "fluctuation")
    assert flat.text in result.reasons
    assert flat.score == result.checks["fluctuation"]
    start = datetime(2026, 1, 5, 4, tzinfo=CHINA_TZ)
    assert flat.hours == ((start, start + timedelta(hours=200)),)
    assert flat.to_json()["hours"] == [["2026-01-05T04:00:00+08:00", "2026-01-13T12:00:00+08:00"]]
    assert result.reasons == tuple(f.text for f in result.findings)


def test_findings_carry_their_sentences_values_as_data(
    scored_findings: list[Reason],
) -> None:
    """Every sentence is its rule's phrase filled with the finding's params, JSON and all."""
    rules = set()
    for finding in scored_findings:
        data = json.loads(json.dumps(finding.to_json(), ensure_ascii=False))
        sentence = render(data["rule"], data["params"])
        assert finding.text.endswith(": " + sentence), finding.text
        assert "{" not in sentence
        rules.add(finding.rule)
    # The synthetic mix reaches these rules; the rest have tests of their own below.
    assert {"flat", "zero", "hug", "o2_air", "repeats", "periodic"} <= rules


def test_a_phrase_needs_all_its_values() -> None:
    with pytest.raises(KeyError):
        render("run_one", {})
    with pytest.raises(KeyError):
        phrase("no_such_phrase")


def test_first_hour_and_coverage_findings() -> None:
    batch = make_batch([Pattern.CLEAN], seed=15, pollutants=["a21026"])
    value = batch.value.copy()
    value[0, 10:] = np.nan  # ten hours only, one of them far off the rest
    value[0, 5] = value[0, 4] + 0.9 * 10 * batch.limit[0]
    result = score_batch(_with(batch, value=value))[0]
    by_rule = {f.rule: f for f in result.findings}
    jumps = by_rule["jumps"]
    hour = datetime.fromtimestamp(int(batch.start[0]) + 5 * 3600, CHINA_TZ)
    assert jumps.hours == ((hour, hour + timedelta(hours=1)),)
    assert f"first at {hour:%Y-%m-%d %H:%M}" in jumps.text
    coverage = by_rule[COVERAGE]
    assert (coverage.check, coverage.score, coverage.hours) == (COVERAGE, None, ())
    assert "only 10 valid hours" in coverage.text


def test_planned_shutdown_is_not_suspicious() -> None:
    batch = make_batch([Pattern.CLEAN], seed=8)
    value, flow, flag = batch.value.copy(), batch.flow.copy(), batch.flag.copy()  # type: ignore[union-attr]
    value[0, 200:260] = 0.0
    flow[0, 200:260] = 0.0
    flag[0, 200:260] = FLAG_CODES["F"]
    result = score_batch(_with(batch, value=value, flow=flow, flag=flag))[0]
    assert result.score >= 90.0, result.reasons
    assert result.hours == 660


def test_declared_stop_while_emitting() -> None:
    batch = make_batch([Pattern.CLEAN], seed=9)
    flag = batch.flag.copy()  # type: ignore[union-attr]
    flag[0, 300:420] = FLAG_CODES["F"]  # flow and values carry on as before
    result = score_batch(_with(batch, flag=flag))[0]
    assert result.checks["condition"] == 0.0
    assert any("标停未停" in r and "120 of 120 hours flagged F" in r for r in result.reasons)


def test_flow_zero_while_concentrations_move() -> None:
    batch = make_batch([Pattern.CLEAN], seed=10)
    flow = batch.flow.copy()  # type: ignore[union-attr]
    flow[0, 100:400] = 0.0
    result = score_batch(_with(batch, flow=flow))[0]
    assert result.checks["condition"] < 20.0
    assert any("with no flow" in r for r in result.reasons)


def test_hot_flue_gas_only_with_a_temperature_column() -> None:
    batch = make_batch([Pattern.CLEAN], seed=11)
    assert score_batch(batch)[0].checks["condition"] == 100.0
    temperature = np.full(batch.value.shape, 52.0)
    temperature[0, 0:200] = 130.0
    result = score_batch(_with(batch, temperature=temperature))[0]
    assert result.checks["condition"] == 0.0
    assert any("wet desulfurisation" in r for r in result.reasons)


def test_exceedance_prefers_o2_converted_values() -> None:
    batch = make_batch([Pattern.CLEAN], seed=12, pollutants=["a21026"])
    assert score_batch(batch)[0].checks["exceedance"] == 100.0
    zs = batch.value * 1.0
    zs[0, :72] = 40.0  # limit 35: 10 % of hours above once converted to reference O2
    result = score_batch(_with(batch, zs=zs))[0]
    assert result.checks["exceedance"] == pytest.approx(0.0)
    assert any("O2-converted (Zs) values above the limit 35" in r for r in result.reasons)


def test_hugging_is_judged_on_o2_converted_values() -> None:
    """Flue gas held just under the limit after conversion hugs; measured values do not."""
    batch = make_batch([Pattern.HUGGING, Pattern.HUGGING], seed=21, pollutants=["a21026"] * 2)
    hugging = batch.value.copy()
    measured = hugging / 1.3  # what the stack measures at 9.5 % O2 (Zs = 1.3 x measured)
    zs = np.stack([hugging[0], hugging[1] / 1.5])  # the second one: well under once converted
    result = score_batch(_with(batch, value=measured, zs=zs))
    assert result[0].checks["box"] < 50.0
    assert any(f.rule == "hug" for f in result[0].findings)
    assert not any(f.rule == "hug" for f in result[1].findings)
    unconverted = score_batch(_with(batch, value=measured))[0]  # no Zs sent: 0.65-0.76 x limit
    assert not any(f.rule == "hug" for f in unconverted.findings)


def test_missing_hours_do_not_change_a_score() -> None:
    batch = make_batch([Pattern.CLEAN, Pattern.HUGGING, Pattern.FLAT], seed=13)
    padding = np.full((3, 100), np.nan)
    padded = _with(
        batch,
        value=np.hstack([batch.value, padding]),
        flow=np.hstack([batch.flow, padding]),  # type: ignore[list-item]
        o2=np.hstack([batch.o2, padding]),  # type: ignore[list-item]
        flag=np.hstack([batch.flag, np.zeros((3, 100), np.uint8)]),  # type: ignore[list-item]
    )
    for plain, longer in zip(score_batch(batch), score_batch(padded), strict=True):
        assert plain.checks == pytest.approx(longer.checks)
        assert plain.score == pytest.approx(longer.score)


def test_enterprise_takes_its_worst_pollutant_and_ranks_most_suspicious_first() -> None:
    batch = make_batch(
        [Pattern.CLEAN, Pattern.HUGGING, Pattern.CLEAN, Pattern.CLEAN],
        seed=14,
        enterprises=["A", "A", "B", "B"],
        pollutants=["a21026", "a21002", "a21026", "a21002"],
    )
    series = score_batch(batch)
    ranked = score_enterprises(series)
    assert [e.enterprise for e in ranked] == ["A", "B"]
    assert ranked[0].score == series[1].score
    assert ranked[0].checks == series[1].checks
    assert set(ranked[0].pollutants) == {"a21026", "a21002"}
    assert ranked[0].reasons[0].startswith("a21002 box")
    assert ranked[0].to_dict()["checks"] == {k: round(v, 1) for k, v in series[1].checks.items()}


def test_combined_score_formula() -> None:
    checks = np.array(
        [[100.0, 100, 100, 100, 100], [50, 100, 100, 50, 100], [100, 0, 50, 100, 100]]
    )
    weights = Weights(exceedance=0.5, fluctuation=1, zero=1, box=0.8, condition=1)
    # suspicions 0.5 x 0.5 + 0.5 x 0.8 = 0.65; the third sums to 1.5 and is clipped to 0
    assert combine(checks, weights).tolist() == pytest.approx([100.0, 35.0, 0.0])


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="full > free"):
        Ramp(0.5, 0.1)
    with pytest.raises(ValueError, match="weight zero must be >= 0"):
        Weights(zero=-1.0)
    with pytest.raises(ValueError, match="flat_window_hours"):
        AuthenticityConfig(flat_window_hours=1)
    batch = make_batch([Pattern.CLEAN], seed=1)
    with pytest.raises(ValueError, match="limit must be positive"):
        _with(batch, limit=np.array([0.0]))


# --- re-fit from inspection outcomes ----------------------------------------------------------


def _outcomes(count: int, seed: int = 0) -> list[InspectionOutcome]:
    """Separable: confirmed forgeries hide behind moderate box scores; the others are
    enterprises with honestly flat (low-noise) data that the defaults rank as the worst."""
    rng = np.random.default_rng(seed)
    log = OutcomeLog()
    for i in range(count):
        confirmed = i % 2 == 0
        checks = {name: float(rng.uniform(95, 100)) for name in CHECKS}
        if confirmed:
            checks["box"] = float(rng.uniform(30, 50))
        else:
            checks["fluctuation"] = float(rng.uniform(5, 20))
        log.record(f"E{i}", confirmed, checks, datetime(2026, 3, 1, tzinfo=UTC))
    return log.outcomes


def _mean_scores(outcomes: list[InspectionOutcome], weights: Weights) -> tuple[float, float]:
    checks = np.array([[o.checks[n] for n in CHECKS] for o in outcomes])
    scores = combine(checks, weights)
    labels = np.array([o.falsification_confirmed for o in outcomes])
    return float(scores[labels].max()), float(scores[~labels].min())


def test_refit_ranks_confirmed_cases_lower_and_keeps_the_previous_version() -> None:
    outcomes = _outcomes(30)
    worst_confirmed, best_other = _mean_scores(outcomes, DEFAULT_WEIGHT_SET.weights)
    assert worst_confirmed > best_other  # the defaults get these enterprises the wrong way round
    now = datetime(2026, 3, 2, tzinfo=UTC)
    result = refit_weights(outcomes, DEFAULT_WEIGHT_SET, now=now)
    assert result.refitted
    fitted = result.weights
    assert (fitted.version, fitted.previous_version) == (2, 1)
    assert (fitted.n_samples, fitted.fitted_at) == (30, now)
    assert result.previous is DEFAULT_WEIGHT_SET
    assert result.coefficients["box"] > 0 > result.coefficients["fluctuation"]
    assert fitted.weights.fluctuation == 0.0
    assert sum(fitted.weights.as_tuple()) == pytest.approx(sum(Weights().as_tuple()))
    worst_confirmed, best_other = _mean_scores(outcomes, fitted.weights)
    assert worst_confirmed < best_other
    again = refit_weights(outcomes, DEFAULT_WEIGHT_SET, now=now)
    assert again.weights == fitted  # deterministic


def test_too_few_or_one_sided_outcomes_keep_the_weights() -> None:
    few = refit_weights(_outcomes(19), DEFAULT_WEIGHT_SET)
    assert not few.refitted
    assert few.weights is DEFAULT_WEIGHT_SET
    assert "19 labelled outcomes, need 20" in few.reason
    one_sided = [o for o in _outcomes(60) if o.falsification_confirmed]
    same = refit_weights(one_sided, DEFAULT_WEIGHT_SET)
    assert not same.refitted
    assert "same label" in same.reason


def test_outcome_needs_all_sub_scores_in_range() -> None:
    with pytest.raises(ValueError, match="missing \\['condition'\\]"):
        InspectionOutcome("E1", True, dict.fromkeys(CHECKS[:-1], 50.0))
    with pytest.raises(ValueError, match=r"not in 0\.\.100"):
        InspectionOutcome("E1", True, dict.fromkeys(CHECKS, 150.0))
