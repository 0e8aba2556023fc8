"""SEW against the exhaustive baseline on one synthetic cohort (DESIGN.md section 6).

Builds a synthetic cohort, trains SEW and the gated-attention MIL baseline through the same Python
entry points ``pathfocus train sew|mil`` call, on one shared split, then analyses every held-out slide
with both analysers in this process (one untimed warm-up slide each) and prints, side by side: test AUC
and accuracy, median seconds per slide (reading included; the two take turns slide by slide), median
high-magnification pixels read per slide, their ratios, and PASS/FAIL against the budget (SEW >= 10x
faster, AUC at most 0.02 below).

    python benchmarks/sew_vs_exhaustive.py                      # defaults: about 8 min on 2 CPU cores
    python benchmarks/sew_vs_exhaustive.py --slides 12 --size 4096 --sew-epochs 5 --mil-epochs 10
    python benchmarks/sew_vs_exhaustive.py --ablations          # + SEW without consistency/focus loss, ...
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

SPEED_BUDGET = 10.0  # SEW at least this many times faster per slide
AUC_BUDGET = 0.02  # SEW's AUC at most this far below the baseline's
ABLATIONS = {
    "no consistency": {"use_consistency": False},
    "no focus loss": {"use_focus_loss": False},
    "global only": {"branches": "global"},
    "detail only": {"branches": "detail"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-sew-vs-exhaustive"),
                        help="working folder (cohort, runs, results.json)")
    parser.add_argument("--slides", type=int, default=48,
                        help="slides in the synthetic cohort (a 0.3 share is held out for the test)")
    parser.add_argument("--size", type=int, default=8192, help="level-0 side of each slide in pixels")
    parser.add_argument("--grades", type=int, default=None, help="classes (grades); default: two")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sew-epochs", type=int, default=60,
                        help="SEW's detail branch starts learning around epoch 35: fewer leaves it untrained")
    parser.add_argument("--sew-patience", type=int, default=20, help="SEW early-stopping patience (epochs)")
    parser.add_argument("--mil-epochs", type=int, default=40)
    parser.add_argument("--mil-encoder-input-size", type=int, default=64,
                        help="MIL tiles are read at 256 px, 0.5 um/px and resized to this for the encoder")
    parser.add_argument("--mil-workers", type=int, default=1, help="DataLoader workers reading MIL tiles")
    parser.add_argument("--ablations", action="store_true", help="also train and evaluate SEW ablations")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a cohort already in OUT/cohort (and the runs' feature caches)")
    parser.add_argument("--device", default=None, help="analysis device (default: GPU when present)")
    return parser.parse_args(argv)


def build_cohort(args: argparse.Namespace) -> Path:
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    cohort = args.out / "cohort"
    labels = cohort / "labels.csv"
    if args.reuse and labels.is_file():
        print(f"reusing the cohort in {cohort}")
        return labels
    make_synthetic_cohort(cohort, n_slides=args.slides, seed=args.seed, grades=args.grades, size=args.size,
                          workers=2)
    return labels


def shared_splits(labels_csv: Path, out: Path, seed: int) -> Path:
    """One split for both methods, written before either trains."""
    from pathfocus.data.slide_labels import make_slide_splits, read_slide_labels
    from pathfocus.fileio import write_csv

    path = out / "splits.csv"
    write_csv(path, make_slide_splits(read_slide_labels(labels_csv), seed=seed))
    return path


def train_mil_run(labels: Path, splits: Path, run: Path, args: argparse.Namespace) -> dict[str, Any]:
    from pathfocus.configs import from_dict
    from pathfocus.training.mil.config import MILTrainConfig
    from pathfocus.training.mil.run import train_mil

    config = from_dict(MILTrainConfig, {
        "slides": {"slides_csv": str(labels), "splits_csv": str(splits)},
        "encoder": {"input_size": args.mil_encoder_input_size}, "tiles": {"num_workers": args.mil_workers},
        "training": {"epochs": args.mil_epochs, "patience": 10, "seed": args.seed}})
    return train_mil(config, run, progress=False)


def train_sew_run(labels: Path, splits: Path, run: Path, args: argparse.Namespace,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from pathfocus.configs import from_dict
    from pathfocus.engines.sew.settings import split_flat_settings
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew

    flat = {"epochs": args.sew_epochs, "patience": args.sew_patience, "seed": args.seed, **(overrides or {})}
    sections = split_flat_settings(flat)
    config = from_dict(SEWTrainConfig, {"slides": {"slides_csv": str(labels), "splits_csv": str(splits)},
                                        **sections})
    # one cache for the main run and every ablation: same slides and detail settings, so windows are
    # read and turned into subgraphs once (the cache keys on the settings that change what it holds)
    return train_sew(config, run, progress=False, cache_dir=args.out / "sew-cache")


def evaluate(runs: dict[str, Path], test: Any, warmup_path: str, class_names: list[str],
             device: str | None) -> dict[str, dict[str, Any]]:
    """Analyse every test slide with each run's analyser; metrics plus median seconds and pixels read.

    The runs take turns on each slide (slide 1 with every run, then slide 2, ...), so a change in the
    machine's load during the measurement touches every method alike and their ratio stays fair.
    """
    from pathfocus.analysis.analyzers import load_analyzer
    from pathfocus.metrics import classification_metrics

    analyzers = {name: load_analyzer(run, device=device) for name, run in runs.items()}
    for analyzer in analyzers.values():
        analyzer.analyze(Path(warmup_path))  # untimed: first-call costs (thread pools, lazy imports) excluded
    analyses: dict[str, list[Any]] = {name: [] for name in runs}
    for row in test.itertuples(index=False):
        for name, analyzer in analyzers.items():
            analyses[name].append(analyzer.analyze(Path(row.path)))
    y_true = [class_names.index(str(label)) for label in test["label"]]
    results = {}
    for name, done in analyses.items():
        seconds, pixels = [a.seconds for a in done], [a.pixels_read for a in done]
        metrics = classification_metrics(y_true, np.asarray([a.probabilities for a in done]), class_names)
        metrics.update(seconds_per_slide=statistics.median(seconds),
                       pixels_per_slide=statistics.median(pixels), seconds=seconds, pixels_read=pixels)
        results[name] = metrics
    return results


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report(sew: dict[str, Any], mil: dict[str, Any], train_seconds: dict[str, float],
           ablations: dict[str, dict[str, Any]], n_test: int, command: str,
           reused: bool = False) -> tuple[str, bool]:
    """The side-by-side table, ratios and verdict (also returned for results.json)."""
    speed = mil["seconds_per_slide"] / max(sew["seconds_per_slide"], 1e-9)
    pixel_ratio = mil["pixels_per_slide"] / max(sew["pixels_per_slide"], 1)
    gap = None if sew["auc"] is None or mil["auc"] is None else mil["auc"] - sew["auc"]
    fast = speed >= SPEED_BUDGET
    close = gap is not None and gap <= AUC_BUDGET
    lines = [
        f"SEW vs exhaustive MIL baseline on {n_test} held-out slides",
        f"{'':28}{'SEW':>14}{'exhaustive':>14}{'ratio':>12}",
        f"{'test AUC':28}{_fmt(sew['auc'], '.3f'):>14}{_fmt(mil['auc'], '.3f'):>14}"
        f"{'gap ' + _fmt(gap, '+.3f'):>12}",
        f"{'test accuracy':28}{sew['accuracy']:>14.3f}{mil['accuracy']:>14.3f}",
        f"{'seconds / slide (median)':28}{sew['seconds_per_slide']:>14.2f}{mil['seconds_per_slide']:>14.2f}"
        f"{speed:>11.1f}x",
        f"{'hi-mag pixels / slide (med)':28}{sew['pixels_per_slide']:>14,.0f}"
        f"{mil['pixels_per_slide']:>14,.0f}{pixel_ratio:>11.1f}x",
        f"{'training seconds' + (' (cached)' if reused else ''):28}{train_seconds['sew']:>14.0f}"
        f"{train_seconds['mil']:>14.0f}",
    ]
    for name, result in ablations.items():
        lines.append(f"{'SEW ' + name:28}AUC {_fmt(result['auc'], '.3f')}  acc {result['accuracy']:.3f}  "
                     f"{result['seconds_per_slide']:.2f} s/slide")
    verdict = fast and close
    lines.append(f"budget (DESIGN.md 6): SEW >= {SPEED_BUDGET:.0f}x faster [{'ok' if fast else 'missed'}], "
                 f"AUC gap <= {AUC_BUDGET} [{'ok' if close else 'missed'}] -> "
                 f"{'PASS' if verdict else 'FAIL'}")
    lines.append(f"command: {command}")
    return "\n".join(lines), verdict


def comparison(sew: dict[str, Any], mil: dict[str, Any], n_test: int, command: str,
               device: str | None, notes: str) -> dict[str, Any]:
    """The summary in ``pathfocus.report.collect.COMPARISON_SCHEMA`` (per-slide medians)."""
    def method(result: dict[str, Any]) -> dict[str, Any]:
        return {"auc": result["auc"], "accuracy": result["accuracy"],
                "seconds": float(result["seconds_per_slide"]), "pixels_read": int(result["pixels_per_slide"])}

    return {"kind": "sew_vs_exhaustive", "n_slides": n_test,
            "methods": {"sew": method(sew), "exhaustive": method(mil)},
            "command": command, "device": device_name(device), "notes": notes}


def device_name(device: str | None) -> str:
    """What the analysis ran on, in words (GPU name, or CPU with its thread count)."""
    import torch

    if (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda"):
        return f"GPU {torch.cuda.get_device_name()}"
    return f"CPU, {os.cpu_count()} cores, torch {torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pathfocus.data.slide_labels import (
        class_names_from_labels,
        read_slide_labels,
        read_slide_splits,
        subset_table,
    )
    from pathfocus.fileio import write_json

    given = sys.argv[1:] if argv is None else argv
    env = [f"{name}={os.environ[name]}" for name in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
           if name in os.environ]
    command = shlex.join([*env, "python", "benchmarks/sew_vs_exhaustive.py", *given])
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    labels_csv = build_cohort(args)
    print(f"cohort ready in {time.perf_counter() - started:.0f} s: {labels_csv}", flush=True)
    splits = shared_splits(labels_csv, args.out, args.seed)
    labels = read_slide_labels(labels_csv)
    class_names = class_names_from_labels(labels["label"])
    split_table = read_slide_splits(splits, labels)
    test = subset_table(labels, split_table, "test")
    warmup = str(subset_table(labels, split_table, "train")["path"].iloc[0])

    cached = args.reuse and any((args.out / name).is_dir() for name in ("mil", "sew-cache"))  # warm caches
    train_seconds: dict[str, float] = {}
    for name, train in (("mil", train_mil_run), ("sew", train_sew_run)):
        began = time.perf_counter()
        train(labels_csv, splits, args.out / name, args)
        train_seconds[name] = time.perf_counter() - began
        print(f"trained {name} in {train_seconds[name]:.0f} s", flush=True)
    results = evaluate({name: args.out / name for name in ("sew", "mil")}, test, warmup, class_names,
                       args.device)
    print(f"analysed {len(test)} test slides with both ({time.perf_counter() - started:.0f} s so far)",
          flush=True)

    ablations: dict[str, dict[str, Any]] = {}
    if args.ablations:
        for name, overrides in ABLATIONS.items():
            run = args.out / ("sew-" + name.replace(" ", "-"))
            train_sew_run(labels_csv, splits, run, args, overrides)
            ablations[name] = evaluate({name: run}, test, warmup, class_names, args.device)[name]
            print(f"ablation {name!r} done", flush=True)

    table, verdict = report(results["sew"], results["mil"], train_seconds, ablations, len(test), command,
                            reused=cached)
    print(table)
    write_json(args.out / "results.json",
               {"sew": results["sew"], "mil": results["mil"], "ablations": ablations, "pass": verdict,
                "train_seconds": train_seconds, "command": command, "table": table,
                "total_seconds": time.perf_counter() - started})
    cohort = "reused" if args.reuse else "built"
    notes = (f"synthetic cohort of {len(labels)} slides ({cohort}); SEW trained up to {args.sew_epochs} "
             f"epochs, MIL {args.mil_epochs}; seconds include reading; "
             f"{'PASS' if verdict else 'FAIL'} against DESIGN.md section 6")
    write_json(args.out / "comparison.json",
               comparison(results["sew"], results["mil"], len(test), command, args.device, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
