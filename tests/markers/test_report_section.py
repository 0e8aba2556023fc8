"""The report's markers section: the verdict in words, and each figure beside its null."""

from __future__ import annotations

import re

from pathfocus.markers.pipeline import discover_markers
from pathfocus.report.markup import fmt
from pathfocus.report.slide_sections import markers_section


def _row(page: str, label: str) -> list[str]:
    row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page)
    assert row is not None, label
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


def test_report_puts_the_c_index_beside_its_null_and_says_inconclusive(tmp_path, make_cohort, write_tables):
    cohort = make_cohort(seed=5, n_slides=16, per_slide=8, dim=4)
    tables = write_tables(tmp_path / "in", cohort)
    document = discover_markers(None, tables["slides"], tables["clinical"], tmp_path / "out", k=3,
                                features=tables["features"], permutations=9, repeats=3, progress=False)
    page, notes = markers_section([(tmp_path / "out", document)])
    assert notes == []
    assert document["verdict"] == "inconclusive"  # 16 slides cannot hold 20 events
    assert "<strong>Verdict:</strong> inconclusive, not a finding: only" in page
    low, high = document["c_index_interval"]
    assert _row(page, "cross-validated C-index") == [
        fmt(document["c_index"]), f"{fmt(low)} – {fmt(high)}",
        f"{fmt(document['null_mean'])} ± {fmt(document['null_sd'])}", fmt(document["permutation_p"])]
    assert _row(page, "log-rank z (one-sided, by fold)")[3] == fmt(document["logrank_permutation_p"])
    assert "9 permutations" in page


def test_an_older_markers_file_without_a_null_is_not_shown_as_a_finding(tmp_path):
    page, _ = markers_section([(tmp_path, {"c_index": 0.71, "logrank_p": 0.01})])
    assert "inconclusive, not a finding" in page and "predates the permutation null" in page
