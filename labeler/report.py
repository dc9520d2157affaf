"""`labeler stats`: a project's counts and the figures about its annotators and models, overall and per round."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from labeler import statistics
from labeler.domain import Outcome
from labeler.store import Store
from labeler.store.bulk_reads import current_outcomes
from labeler.store.judgement_rows import decode_tiers
from labeler.wording import counted

DEFAULT_BOOTSTRAP = 1000


def project_report(store: Store, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Counts; per annotator, judgements and median seconds; agreement and Krippendorff's alpha
    over prompts judged by two or more annotators; a Bradley-Terry rating per model with a
    bootstrap 95% interval; and, per round (labeler.store.rounds), its judgements, agreement and
    ratings. The overall ratings use every round: a round's task carries the previous round's best
    answer, so a tuned policy's answers meet its parent's. Plain JSON-ready values; None where a
    figure is undefined."""
    judgements = current_outcomes(store)
    ranked = [
        statistics.RankedJudgement(annotator, prompt_id, decode_tiers(tiers), seconds, round_number)
        for annotator, prompt_id, outcome, tiers, seconds, round_number in judgements
        if outcome == Outcome.RANKED
    ]
    models = dict(store.conn.execute("SELECT id, model FROM answers WHERE model IS NOT NULL AND model != ''"))
    judged_per_round = Counter(row[5] for row in judgements)
    return {
        "counts": dataclasses.asdict(store.stats()),
        "annotators": [
            stats.as_dict() for stats in statistics.per_annotator((row[0], row[4]) for row in judgements).values()
        ],
        **_figures(ranked, models, bootstrap, seed),
        "rounds": [
            {
                "round": round_number,
                "judgements": judged_per_round[round_number],
                "ranked": sum(judgement.round == round_number for judgement in ranked),
                **_figures([j for j in ranked if j.round == round_number], models, bootstrap, seed),
            }
            for round_number in sorted(judged_per_round)
        ],
    }


def _figures(
    ranked: list[statistics.RankedJudgement], models: dict[int, str], bootstrap: int, seed: int
) -> dict[str, Any]:
    """Agreement, alpha and the ratings per model of these rankings."""
    agreement = statistics.pairwise_agreement(ranked)
    return {
        "agreement": agreement.as_dict() if agreement else None,
        "krippendorff_alpha_ordinal": statistics.krippendorff_alpha_ordinal(ranked),
        "models": [
            strength.as_dict()
            for strength in statistics.bradley_terry_by_model(ranked, models, bootstrap=bootstrap, seed=seed).values()
        ],
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as text tables for a terminal."""
    lines = []
    counts = report["counts"]
    width = max(len(name) for name in counts)
    lines += [f"{name.replace('_', ' '):<{width}}  {value:>10,}" for name, value in counts.items()]
    if report["annotators"]:
        lines += ["", f"{'annotator':<24} {'judgements':>10} {'median s':>9}"]
        for row in report["annotators"]:
            median = f"{row['median_seconds']:.1f}" if row["median_seconds"] is not None else "-"
            lines.append(f"{row['annotator'][:24]:<24} {row['judgements']:>10,} {median:>9}")
    lines += ["", *_figure_lines(report)]
    if len(report["rounds"]) > 1:  # one round: its figures are the ones above
        for row in report["rounds"]:
            lines += [
                "",
                f"round {row['round']}: {counted(row['judgements'], 'judgement')}, {row['ranked']:,} ranked",
                *("  " + line for line in _figure_lines(row)),
            ]
    return "\n".join(lines)


def _figure_lines(figures: dict[str, Any]) -> list[str]:
    lines = []
    agreement = figures["agreement"]
    if agreement:
        lines.append(
            f"pairwise agreement  {agreement['share']:.3f}  ({agreement['agreeing']:,} of "
            f"{counted(agreement['comparisons'], 'comparison')} over {counted(agreement['prompts'], 'prompt')})"
        )
    else:
        lines.append("pairwise agreement  - (no prompt ranked by two annotators)")
    alpha = figures["krippendorff_alpha_ordinal"]
    lines.append(f"Krippendorff's alpha (ordinal)  {alpha:.3f}" if alpha is not None else "Krippendorff's alpha  -")
    if figures["models"]:
        lines += ["", f"{'model':<28} {'rating':>7} {'95% interval':>15} {'battles':>8} {'wins':>7}"]
        for row in figures["models"]:
            interval = f"{row['rating_low']:.0f}–{row['rating_high']:.0f}" if row["rating_low"] is not None else "-"
            lines.append(
                f"{row['model'][:28]:<28} {row['rating']:>7.0f} {interval:>15} {row['battles']:>8,} {row['wins']:>7,}"
            )
    return lines
