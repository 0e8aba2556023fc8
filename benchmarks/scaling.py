"""Gigapixel scale: does SEW's cost stay flat while the exhaustive baseline's grows with the tissue?

On one synthetic slide per size (lesion-cohort recipe, 0.25 um/px = 40x, written tile by tile with its
pyramid in 4x steps) this script, in one run:

1. writes the slides (8k, 16k, 32k and 64k px on a side; 128k with ``--with-128k``), each in a fresh
   process drawing its tile rows in two worker processes, and records its seconds and the writing
   process's peak RSS;
2. trains SEW and the exhaustive baseline briefly on a small cohort at the same resolution, with the same
   encoder (the default architecture and input size, ``timm:test_resnet`` at 128 px, random weights:
   this measures cost, not accuracy; ``benchmarks/sew_focus.py`` measures accuracy);
3. analyses every slide with both methods, interleaved (size by size, SEW then baseline, ``--repeats``
   rounds), each in a fresh process that first analyses the smallest slide untimed, so that the figures
   are that slide's own: seconds (the analysis' own ``seconds``; SEW's the median of ``--sew-repeats``
   analyses in that process, as its second-long figures swing with a shared machine's load), peak RSS
   of the analysing process (VmHWM; the baseline's DataLoader reader processes, one batch of tiles
   each, are not in it), pixels read (counted by the reader: ``Slide.reads``), tiles read at high
   magnification;
4. fits each method's growth exponent against the tissue area (seconds ~ area^b, least squares on logs),
   prints a table, draws a log-log plot and checks the budgets of docs/design.md section 8.

    python benchmarks/scaling.py --out /tmp/scaling                 # 8k-64k: about 25 min on 2 cores
    python benchmarks/scaling.py --out /tmp/scaling --reuse --with-128k   # adds 131072 px
    python benchmarks/scaling.py --out /tmp/quick --sizes 2048,4096,8192 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MPP = 0.25
SIZES = (8192, 16384, 32768, 65536)
LARGEST = 131072
ENCODER = {"source": "timm:test_resnet", "input_size": 128}
METHODS = ("sew", "exhaustive")
BUDGETS = {"sew_growth": 2.0, "sew_rss_gib": 2.0, "speedup_64k": 50.0, "projected_128k": 300.0}
GIB = 1024**3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench-scaling"), help="working folder")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="level-0 sides in pixels")
    parser.add_argument("--with-128k", action="store_true", help=f"also a {LARGEST} px slide")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds (median seconds)")
    parser.add_argument("--sew-repeats", type=int, default=7, help="SEW analyses of a slide per round")
    parser.add_argument("--reuse", action="store_true", help="reuse slides and runs already in OUT")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "ARGS"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _peak_rss() -> int:
    """Peak resident bytes of this process (VmHWM: unlike ru_maxrss it does not survive an exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    msg = "no VmHWM in /proc/self/status: peak RSS is measured on Linux only"
    raise RuntimeError(msg)


def _fresh(step: str, *args: Any) -> Any:
    """``step(*args)`` in a new interpreter (its peak RSS is its own, its tile readers fork from it)."""
    command = [sys.executable, __file__, "--child", step, json.dumps([str(a) for a in args])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{step}{args} failed:\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_slide(path: str, size: str) -> dict[str, Any]:
    """One positive lesion-cohort slide at 0.25 um/px (the same recipe at every size)."""
    from pathfocus.data.synthetic.slides import SlideRecipe, write_synthetic_slide

    path, size = Path(path), int(size)
    recipe = SlideRecipe(slide_id=path.stem, label=1, seed=12, size=size, mpp=MPP, tissue_share=0.45,
                         lesion_share=0.1, pattern_share=0.1, severity=0.6)
    started = time.perf_counter()
    layout = write_synthetic_slide(path, recipe, workers=2)  # tile rows drawn on both cores
    seconds = time.perf_counter() - started
    side_mm = size * MPP / 1000
    return {"size": size, "path": str(path), "seconds": seconds, "peak_rss": _peak_rss(),
            "level0_bytes": 3 * size * size, "file_bytes": path.stat().st_size,
            "tissue_mm2": layout.fractions()["tissue_fraction"] * side_mm**2}


def make_slides(out: Path, sizes: list[int], reuse: bool) -> dict[int, dict[str, Any]]:
    from pathfocus.fileio import read_json, write_json

    slides: dict[int, dict[str, Any]] = {}
    for size in sizes:
        record = out / "slides" / f"scale_{size}.json"
        if reuse and record.is_file():
            slides[size] = read_json(record)
            continue
        (out / "slides").mkdir(parents=True, exist_ok=True)
        slides[size] = _fresh("write_slide", out / "slides" / f"scale_{size}.tiff", size)
        write_json(record, slides[size])
        row = slides[size]
        print(f"wrote {size}^2 in {row['seconds']:.0f} s, peak RSS {row['peak_rss'] / GIB:.2f} GiB "
              f"(level 0: {row['level0_bytes'] / GIB:.1f} GiB)", flush=True)
    return slides


def train_runs(out: Path, reuse: bool) -> tuple[Path, Path]:
    """Both methods, two epochs on six small slides at 0.25 um/px, one shared encoder and cache."""
    from pathfocus.configs import from_dict
    from pathfocus.data.synthetic.slides import make_synthetic_cohort
    from pathfocus.training.mil.config import MILTrainConfig
    from pathfocus.training.mil.run import train_mil
    from pathfocus.training.sew.config import SEWTrainConfig
    from pathfocus.training.sew.run import train_sew

    sew_run, mil_run = out / "sew", out / "mil"
    if reuse and (sew_run / "model.safetensors").is_file() and (mil_run / "model.safetensors").is_file():
        return sew_run, mil_run
    cohort = make_synthetic_cohort(out / "train_cohort", n_slides=6, seed=0, size=4096, mpp=MPP)
    common = {"slides": {"slides_csv": str(cohort / "labels.csv")}, "encoder": ENCODER,
              "training": {"epochs": 2, "seed": 0}}
    train_mil(from_dict(MILTrainConfig, common), mil_run, progress=False, cache_dir=out / "cache")
    train_sew(from_dict(SEWTrainConfig, common), sew_run, progress=False, cache_dir=out / "cache")
    return sew_run, mil_run


def analyse(method: str, run: str, slide: str, warm: str, times: str) -> dict[str, Any]:
    """``times`` analyses in this (fresh) process, after an untimed one of ``warm`` (first-call costs)."""
    from pathfocus.analysis.mil import MILAnalyzer
    from pathfocus.analysis.sew import SEWAnalyzer

    analyzer = SEWAnalyzer(Path(run), "cpu") if method == "sew" else MILAnalyzer(Path(run), "cpu")
    analyzer.analyze(Path(warm))
    results = [analyzer.analyze(Path(slide)) for _ in range(int(times))]
    result = results[0]
    extra = result.extra
    tiles = extra["n_tiles_read"] if method == "sew" else extra["n_tiles"]
    seconds = statistics.median(r.seconds for r in results)
    return {"seconds": seconds, "pixels_read": result.pixels_read, "tiles": int(tiles),
            "thumbnail_pixels_read": int(extra["thumbnail_pixels_read"]), "peak_rss": _peak_rss(),
            "features": int(tiles) * _feature_width(Path(run))}


def _feature_width(run: Path) -> int:
    from pathfocus.fileio import read_json

    return int(read_json(run / "config.json")["encoder"].get("num_features", 96))


def measure(slides: dict[int, dict[str, Any]], runs: dict[str, Path], repeats: int,
            sew_repeats: int) -> dict[str, dict]:
    """Interleaved: every round analyses each size with SEW, then with the baseline."""
    sizes = sorted(slides)
    warm = Path(slides[sizes[0]]["path"])
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {m: {s: [] for s in sizes} for m in METHODS}
    for round_index in range(repeats):
        for size in sizes:
            for method in METHODS:
                times = sew_repeats if method == "sew" else 1
                row = _fresh("analyse", method, runs[method], slides[size]["path"], warm, times)
                rows[method][size].append(row)
                print(f"round {round_index + 1}, {size}^2, {method}: {row['seconds']:.2f} s, "
                      f"{row['tiles']} tiles, {row['peak_rss'] / GIB:.2f} GiB", flush=True)
    summary: dict[str, dict] = {m: {} for m in METHODS}
    for method in METHODS:
        for size in sizes:
            runs_of = rows[method][size]
            seconds = [r["seconds"] for r in runs_of]
            summary[method][size] = {**runs_of[0], "seconds": statistics.median(seconds),
                                     "seconds_all": seconds, "peak_rss": max(r["peak_rss"] for r in runs_of)}
    return summary


def fit(areas: list[float], seconds: list[float]) -> tuple[float, float]:
    """``(b, log c)`` of seconds = c * area^b, least squares on logs."""
    slope, intercept = np.polyfit(np.log(areas), np.log(seconds), 1)
    return float(slope), float(intercept)


def verdict(summary: dict[str, dict], slides: dict[int, dict[str, Any]]) -> tuple[dict[str, bool], dict]:
    sew, base = summary["sew"], summary["exhaustive"]
    sizes = sorted(slides)
    areas = [slides[s]["tissue_mm2"] for s in sizes]
    fits = {m: fit(areas, [summary[m][s]["seconds"] for s in sizes]) for m in METHODS}
    big = LARGEST if LARGEST in slides else max(sizes)
    area_128k = slides[LARGEST]["tissue_mm2"] if LARGEST in slides else areas[-1] * (LARGEST / big) ** 2
    projected = {m: float(np.exp(fits[m][1]) * area_128k ** fits[m][0]) for m in METHODS}
    numbers = {"fits": fits, "projected_128k_seconds": projected,
               "projected_128k_ratio": projected["exhaustive"] / projected["sew"]}
    checks: dict[str, bool] = {}
    if 16384 in sew and 65536 in sew:
        growth = sew[65536]["seconds"] / sew[16384]["seconds"]
        numbers["sew_growth_16k_64k"] = growth
        checks[f"SEW s/slide 16k->64k <= {BUDGETS['sew_growth']:.0f}x ({growth:.2f}x)"] = (
            growth <= BUDGETS["sew_growth"])
        speedup = base[65536]["seconds"] / sew[65536]["seconds"]
        numbers["speedup_64k"] = speedup
        checks[f"baseline >= {BUDGETS['speedup_64k']:.0f}x slower at 64k ({speedup:.0f}x)"] = (
            speedup >= BUDGETS["speedup_64k"])
        grew = base[65536]["peak_rss"] - base[16384]["peak_rss"]
        features = 4 * (base[65536]["features"] - base[16384]["features"])  # float32 N x D
        # NOTE: tissue is found on an 8 um/px thumbnail (the tile grid both methods share), read as RGBA at
        # its level: that read, 1/256 of level 0 at 0.25 um/px, grows with the slide by design; a
        # whole-slide array at a detail level (level 1 is 1/16 of level 0) would not fit in the allowance
        thumbnail = 4 * (base[65536]["thumbnail_pixels_read"] - base[16384]["thumbnail_pixels_read"])
        numbers |= {"baseline_rss_growth": grew, "baseline_feature_growth": features,
                    "baseline_thumbnail_read_growth": thumbnail}
        checks[f"baseline RSS 16k->64k grows by no more than its N x D features and thumbnail read "
               f"({grew / 2**20:+.0f} MiB; features {features / 2**20:+.1f}, thumbnail read "
               f"{thumbnail / 2**20:+.0f} MiB)"] = grew <= features + thumbnail
    worst = max(sew[s]["peak_rss"] for s in sizes)
    checks[f"SEW peak RSS <= {BUDGETS['sew_rss_gib']:.0f} GiB at every size ({worst / GIB:.2f} GiB)"] = (
        worst <= BUDGETS["sew_rss_gib"] * GIB)
    ratio = numbers["projected_128k_ratio"]
    label = "measured" if LARGEST in slides else "projected"
    checks[f"baseline/SEW at 128k >= {BUDGETS['projected_128k']:.0f}x ({label} by the fit: {ratio:.0f}x)"] = (
        ratio >= BUDGETS["projected_128k"])
    return checks, numbers


def report(summary: dict, slides: dict, checks: dict[str, bool], numbers: dict, context: dict) -> str:
    lines = [
        f"SEW vs the exhaustive baseline on synthetic slides at {MPP} um/px, same encoder "
        f"({context['encoder']}); medians of {context['repeats']} interleaved rounds (SEW: of "
        f"{context['sew_repeats']} analyses each)",
        f"{'side px':>8}{'tissue mm2':>11}{'method':>11}{'s/slide':>9}{'peak RSS GiB':>13}"
        f"{'Mpx read':>10}{'thumb Mpx':>10}{'tiles':>7}",
    ]
    for size in sorted(slides):
        for method in METHODS:
            row = summary[method][size]
            lines.append(
                f"{size:>8}{slides[size]['tissue_mm2']:>11.1f}{method:>11}{row['seconds']:>9.2f}"
                f"{row['peak_rss'] / GIB:>13.2f}{row['pixels_read'] / 1e6:>10.1f}"
                f"{row['thumbnail_pixels_read'] / 1e6:>10.1f}{row['tiles']:>7}"
            )
    lines.append("growth exponent vs tissue area (seconds ~ area^b): " + ", ".join(
        f"{m} b = {numbers['fits'][m][0]:.2f}" for m in METHODS))
    lines.append("slides written: " + ", ".join(
        f"{s}^2 {slides[s]['seconds']:.0f} s / {slides[s]['peak_rss'] / GIB:.2f} GiB peak RSS "
        f"({slides[s]['file_bytes'] / 1e6:.0f} MB)" for s in sorted(slides)))
    lines.append("budget (docs/design.md §8): " + "; ".join(
        f"{name} [{'ok' if ok else 'missed'}]" for name, ok in checks.items())
        + f" -> {'PASS' if all(checks.values()) else 'FAIL'}")
    lines.append(f"machine: {context['machine']}; {context['minutes']:.1f} min in all")
    lines.append(f"command: {context['command']}")
    return "\n".join(lines)


def plot(summary: dict, slides: dict, numbers: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pathfocus.fileio import save_figure

    sizes = sorted(slides)
    areas = np.array([slides[s]["tissue_mm2"] for s in sizes])
    line = np.geomspace(areas.min(), areas.max() * (LARGEST / max(sizes)) ** 2, 50)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for method, label in (("sew", "SEW (thumbnail + k windows)"), ("exhaustive", "exhaustive baseline")):
        slope, intercept = numbers["fits"][method]
        points = axis.loglog(areas, [summary[method][s]["seconds"] for s in sizes], "o", label=label)
        axis.loglog(line, np.exp(intercept) * line**slope, "--", color=points[0].get_color(),
                    label=f"fit: area^{slope:.2f}")
    axis.set_xlabel("tissue area (mm², log)")
    axis.set_ylabel("seconds per slide (log)")
    axis.set_title(f"cost against slide size ({', '.join(f'{s // 1024}k' for s in sizes)} px at {MPP} um/px)")
    axis.legend(fontsize=8, loc="upper left")
    save_figure(path, figure)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:  # one step in a fresh interpreter: its result is the last line it prints
        step, step_args = args.child
        print(json.dumps({"write_slide": write_slide, "analyse": analyse}[step](*json.loads(step_args))))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pathfocus.devices import machine_summary
    from pathfocus.fileio import read_json, write_json

    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/scaling.py", *given])
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({LARGEST} if args.with_128k else set()))
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    slides = make_slides(args.out, sizes, args.reuse)
    sew_run, mil_run = train_runs(args.out, args.reuse)
    print(f"slides and runs ready ({time.perf_counter() - started:.0f} s)", flush=True)
    summary = measure(slides, {"sew": sew_run, "exhaustive": mil_run}, args.repeats, args.sew_repeats)
    checks, numbers = verdict(summary, slides)
    encoder = read_json(sew_run / "config.json")["encoder"]
    context = {"command": command, "machine": machine_summary(), "repeats": args.repeats,
               "sew_repeats": args.sew_repeats,
               "encoder": f"{encoder.get('description', encoder['name'])}, {encoder['input_size']} px",
               "minutes": (time.perf_counter() - started) / 60}
    table = report(summary, slides, checks, numbers, context)
    print(table)
    plot(summary, slides, numbers, args.out / "scaling.png")
    results = {"slides": slides, "methods": summary, "checks": checks, "pass": all(checks.values()),
               **numbers, **context, "table": table}
    write_json(args.out / "results.json", results)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
