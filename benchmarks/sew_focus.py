"""SEW where focus matters: does reading a few windows keep the accuracy of reading every tile?

On the look-alike cohort (``synth slides --task lookalike``: every slide has foci that look alike on the
thumbnail; in a positive slide one of them is a lesion told apart only at high magnification) this
script, in one run:

1. builds the cohort and one patient-disjoint split used by every method and seed;
2. pretrains the shared tile encoder once, self-supervised, on the training slides only (SimCLR);
3. trains the exhaustive baseline and SEW with the package defaults for each seed, on that encoder and a
   shared cache (every tile is encoded once for both);
4. analyses every held-out slide with both (timed back to back, slide by slide), plus the controls of
   ``focus_controls`` and a read-budget curve;
5. prints mean AUC over seeds with a bootstrap 95 % interval, accuracy, lesion hit rate, precision@k,
   pixels the readers counted and seconds per slide, and PASS/FAIL against docs/design.md section 8.

    python benchmarks/sew_focus.py --out /tmp/sew_focus        # the defaults: about 25 min on 2 cores
    python benchmarks/sew_focus.py --out /tmp/quick --slides 16 --size 4096 --seeds 1   # a smoke run
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

BUDGETS = {"auc": 0.90, "gap": 0.03, "hit_rate": 0.9, "pixels": 10.0, "speed": 10.0, "random_gap": 0.05}
METHODS = ("sew", "exhaustive", "sew_random", "baseline_on_sew", "thumbnail_only", "detail_only")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench-sew-focus"), help="working folder")
    parser.add_argument("--task", default="lookalike", help="cohort: lookalike, or lesion (the easy one)")
    parser.add_argument("--slides", type=int, default=40, help="slides in the cohort")
    parser.add_argument("--size", type=int, default=8192, help="level-0 side of each slide in pixels")
    parser.add_argument("--test-size", type=float, default=0.35, help="share of slides held out")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds (the split stays the same)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the one train/val/test split")
    parser.add_argument("--ks", default="1,2,4,8,16", help="read budgets (windows) of the curve")
    parser.add_argument("--reuse", action="store_true", help="reuse a cohort and caches already in OUT")
    parser.add_argument("--device", default=None, help="analysis device (default: GPU when present)")
    return parser.parse_args(argv)


def build_cohort(args: argparse.Namespace) -> Path:
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    cohort = args.out / "cohort"
    if args.reuse and (cohort / "labels.csv").is_file():
        return cohort / "labels.csv"
    make_synthetic_cohort(cohort, n_slides=args.slides, seed=0, size=args.size, workers=2, task=args.task)
    return cohort / "labels.csv"


def train(labels: Path, splits: Path, out: Path, seed: int) -> tuple[Path, Path, dict, dict]:
    """Both methods with the package's defaults (the settings `train sew` and `train mil` use)."""
    from pathfocus.configs import from_dict
    from pathfocus.training.mil.config import MILTrainConfig
    from pathfocus.training.mil.run import train_mil
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew

    cohort = {"slides": {"slides_csv": str(labels), "splits_csv": str(splits)}}
    mil_run, sew_run = out / f"mil-seed{seed}", out / f"sew-seed{seed}"
    mil = train_mil(
        from_dict(MILTrainConfig, cohort | {"training": {"seed": seed}}),
        mil_run,
        progress=False,
        cache_dir=out / "cache",
    )
    sew = train_sew(
        from_dict(SEWTrainConfig, cohort | {"training": {"seed": seed}}),
        sew_run,
        progress=False,
        cache_dir=out / "cache",
    )
    return sew_run, mil_run, sew, mil


def auc_row(labels: np.ndarray, per_seed: list[np.ndarray]) -> dict[str, float]:
    from pathfocus.metrics import bootstrap_mean_auc

    mean, low, high = bootstrap_mean_auc(labels, per_seed)
    accuracy = float(np.mean([np.mean((p >= 0.5) == labels) for p in per_seed]))
    return {
        "auc": mean,
        "auc_low": low,
        "auc_high": high,
        "accuracy": accuracy,
        "auc_per_seed": [float(_auc(labels, p)) for p in per_seed],
    }


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def analyse(args: argparse.Namespace, runs: list[tuple[Path, Path]], test: Any, ks: list[int]) -> list[list]:
    """Per seed, the :class:`SlideResult` of every test slide (seed 0 times both methods back to back)."""
    from focus_controls import measure_slide

    from pathfocus.analysis.localisation import lesion_mask_of
    from pathfocus.analysis.mil import MILAnalyzer
    from pathfocus.analysis.sew import SEWAnalyzer
    from pathfocus.slide.reader import open_slide

    masks = args.out / "cohort" / "masks"
    results: list[list] = [[] for _ in runs]
    analyzers = [(SEWAnalyzer(sew, args.device), MILAnalyzer(mil, args.device)) for sew, mil in runs]
    warm = Path(test["path"].iloc[0])
    analyzers[0][0].analyze(warm), analyzers[0][1].analyze(warm)  # untimed: first-call costs excluded
    for row in test.itertuples(index=False):
        path = Path(row.path)
        with open_slide(path) as slide:
            lesion = lesion_mask_of(masks, str(row.slide_id), slide.dimensions, slide.mpp)
        features = None
        for seed, (sew, mil) in enumerate(analyzers):
            result, features = measure_slide(
                path, str(row.slide_id), int(row.label), sew, mil, ks, lesion, seed, features
            )
            results[seed].append(result)
    return results


def summarise(results: list[list], ks: list[int]) -> dict[str, Any]:
    from focus_controls import summary_rates

    labels = np.array([r.label for r in results[0]])
    table: dict[str, Any] = {}
    for method in METHODS:
        table[method] = auc_row(labels, [np.array([r.probability[method] for r in seed]) for seed in results])
        rates = [summary_rates(seed, method) for seed in results]
        hits = [h for h, _ in rates if h is not None]
        precisions = [p for _, p in rates if p is not None]
        table[method] |= {
            "lesion_hit_rate": float(np.mean(hits)) if hits else None,
            "precision_at_k": float(np.mean(precisions)) if precisions else None,
        }
        seconds = [r.seconds[method] for r in results[0] if method in r.seconds]
        pixels = [r.pixels[method] for r in results[0] if method in r.pixels]
        table[method] |= {
            "seconds": statistics.median(seconds) if seconds else None,
            "pixels_read": int(statistics.median(pixels)) if pixels else None,
        }
    table["baseline_on_sew"]["pixels_read"] = table["sew"]["pixels_read"]
    curve = {
        name: {
            k: auc_row(labels, [np.array([r.curve[name][k] for r in seed]) for seed in results])["auc"]
            for k in ks
        }
        for name in ("sew", "sew_random", "baseline_on_sew")
    }
    curve_pixels = {k: int(statistics.median(r.curve_pixels[k] for r in results[0])) for k in ks}
    return {
        "methods": table,
        "curve": curve,
        "curve_pixels": curve_pixels,
        "n_test": len(labels),
        "n_positive": int(labels.sum()),
    }


def verdict(summary: dict[str, Any]) -> dict[str, bool]:
    table = summary["methods"]
    sew, exhaustive, random = table["sew"], table["exhaustive"], table["sew_random"]
    return {
        f"SEW AUC >= {BUDGETS['auc']}": sew["auc"] >= BUDGETS["auc"],
        f"SEW AUC at most {BUDGETS['gap']} below exhaustive": sew["auc"]
        >= exhaustive["auc"] - BUDGETS["gap"],
        f"lesion hit rate >= {BUDGETS['hit_rate']}": (sew["lesion_hit_rate"] or 0) >= BUDGETS["hit_rate"],
        "random windows clearly worse": (
            random["auc"] < sew["auc_low"] and sew["auc"] - random["auc"] >= BUDGETS["random_gap"]
        ),
        f"reads <= 1/{BUDGETS['pixels']:.0f} of the pixels": (
            exhaustive["pixels_read"] >= BUDGETS["pixels"] * sew["pixels_read"]
        ),
        f">= {BUDGETS['speed']:.0f}x faster per slide": exhaustive["seconds"]
        >= BUDGETS["speed"] * sew["seconds"],
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(summary: dict[str, Any], checks: dict[str, bool], context: dict[str, Any]) -> str:
    table = summary["methods"]
    titles = {
        "sew": "SEW (focus, k windows)",
        "exhaustive": "exhaustive (every tile)",
        "sew_random": "SEW, k random windows",
        "baseline_on_sew": "baseline on SEW's windows",
        "thumbnail_only": "SEW thumbnail only",
        "detail_only": "SEW detail branch only",
    }
    lines = [
        f"SEW vs the exhaustive baseline on {summary['n_test']} held-out slides ({summary['n_positive']} "
        f"positive) of the {context['task']} cohort, {context['seeds']} seeds",
        f"encoder (both methods): {context['encoder']}",
        f"{'':28}{'AUC [95% CI]':>22}{'acc':>7}{'hit':>6}{'prec@k':>8}{'Mpx/slide':>11}{'s/slide':>9}",
    ]
    for method, title in titles.items():
        row = table[method]
        interval = f"{row['auc']:.3f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}]"
        mpx = None if row["pixels_read"] is None else row["pixels_read"] / 1e6
        lines.append(
            f"{title:28}{interval:>22}{row['accuracy']:>7.3f}{_fmt(row['lesion_hit_rate'], '.2f'):>6}"
            f"{_fmt(row['precision_at_k'], '.2f'):>8}{_fmt(mpx, '.2f'):>11}{_fmt(row['seconds'], '.2f'):>9}"
        )
    sew, exhaustive = table["sew"], table["exhaustive"]
    lines.append(
        f"exhaustive / SEW: {exhaustive['seconds'] / sew['seconds']:.1f}x the seconds, "
        f"{exhaustive['pixels_read'] / sew['pixels_read']:.1f}x the pixels (medians per slide)"
    )
    lines.append(
        "read budget (mean AUC over seeds): k "
        + ", ".join(
            f"{k}: SEW {summary['curve']['sew'][k]:.3f} / random {summary['curve']['sew_random'][k]:.3f} / "
            f"baseline-on-windows {summary['curve']['baseline_on_sew'][k]:.3f} "
            f"({summary['curve_pixels'][k] / 1e6:.2f} Mpx)"
            for k in summary["curve"]["sew"]
        )
    )
    lines.append(
        "budget (docs/design.md §8): "
        + "; ".join(f"{name} [{'ok' if ok else 'missed'}]" for name, ok in checks.items())
        + f" -> {'PASS' if all(checks.values()) else 'FAIL'}"
    )
    lines.append(f"machine: {context['machine']}; {context['minutes']:.1f} min in all")
    lines.append(f"command: {context['command']}")
    return "\n".join(lines)


def plot_curve(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pathfocus.fileio import save_figure

    ks = list(summary["curve"]["sew"])
    pixels = [summary["curve_pixels"][k] / 1e6 for k in ks]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for name, label in (
        ("sew", "SEW (focus)"),
        ("sew_random", "random windows"),
        ("baseline_on_sew", "baseline head on SEW's windows"),
    ):
        axis.plot(pixels, [summary["curve"][name][k] for k in ks], marker="o", label=label)
    exhaustive = summary["methods"]["exhaustive"]
    axis.scatter(
        [exhaustive["pixels_read"] / 1e6],
        [exhaustive["auc"]],
        marker="*",
        s=160,
        color="black",
        label="exhaustive (every tile)",
        zorder=3,
    )
    axis.set_xscale("log")
    axis.set_xlabel("high-magnification Mpx read per slide (median)")
    axis.set_ylabel("test AUC (mean over seeds)")
    axis.set_title("read budget")
    axis.legend(fontsize=8)
    save_figure(path, figure)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pathfocus.data.slide_labels import make_slide_splits, read_slide_labels, subset_table
    from pathfocus.devices import machine_summary
    from pathfocus.fileio import read_json, write_csv, write_json

    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/sew_focus.py", *given])
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    labels_csv = build_cohort(args)
    print(f"cohort ready ({time.perf_counter() - started:.0f} s): {labels_csv}", flush=True)
    labels = read_slide_labels(labels_csv)
    splits = make_slide_splits(labels, test_size=args.test_size, val_size=0.2, seed=args.split_seed)
    write_csv(args.out / "splits.csv", splits)
    test = subset_table(labels, splits, "test")
    ks = sorted({int(k) for k in args.ks.split(",")})
    runs = []
    for seed in range(args.seeds):
        sew_run, mil_run, sew, mil = train(labels_csv, args.out / "splits.csv", args.out, seed)
        if sew["encoder"]["fingerprint"] != mil["encoder"]["fingerprint"]:
            raise SystemExit("the two methods did not get the same encoder; the comparison would not be fair")
        runs.append((sew_run, mil_run))
        print(f"trained seed {seed} ({time.perf_counter() - started:.0f} s so far)", flush=True)
    results = analyse(args, runs, test, ks)
    summary = summarise(results, ks)
    checks = verdict(summary)
    encoder = read_json(runs[0][0] / "config.json")["encoder"]
    context = {
        "task": args.task,
        "seeds": args.seeds,
        "command": command,
        "encoder": f"{encoder['description']}, {encoder['input_size']} px input, fingerprint "
        f"{encoder['fingerprint']}",
        "machine": machine_summary(),
        "minutes": (time.perf_counter() - started) / 60,
    }
    table = report(summary, checks, context)
    print(table)
    plot_curve(summary, args.out / "read_budget.png")
    write_json(
        args.out / "results.json",
        {**summary, "checks": checks, "pass": all(checks.values()), **context, "table": table},
    )
    methods = {
        name: {
            key: row[key]
            for key in (
                "auc",
                "auc_low",
                "auc_high",
                "accuracy",
                "seconds",
                "pixels_read",
                "lesion_hit_rate",
                "precision_at_k",
            )
        }
        for name, row in summary["methods"].items()
    }
    write_json(
        args.out / "comparison.json",
        {
            "kind": "sew_vs_exhaustive",
            "n_slides": summary["n_test"],
            "methods": methods,
            "command": command,
            "device": str(context["machine"]),
            "figure": "read_budget.png",
            "notes": f"{args.task} cohort, {args.seeds} seeds, mean AUC with a bootstrap 95% interval; "
            "seconds and "
            "pixels are per-slide medians counted by the readers; "
            f"{'PASS' if all(checks.values()) else 'FAIL'} against docs/design.md section 8",
        },
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
