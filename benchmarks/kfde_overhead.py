"""What KFDE costs: inference time of csfe, mfdf and kfde over the bare baseline, and training
throughput of our Lightning path over a bare PyTorch loop on the same model and data.

docs/design.md section 8 budgets CSFE + MFDF at no more than +10% of the backbone's inference time. All models
run in this one process on the same input; repeats are interleaved across models (so load from other
processes hits them alike) and the medians are compared. On a CPU shared with other jobs, pass
``--threads 1``: two torch threads that wait on each other make every timing swing by tens of percent.

    python benchmarks/kfde_overhead.py [--backbone convnextv2_atto] [--image-size 224] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pathfocus.models.kfde import create_model

INFERENCE_BUDGET = 1.10  # docs/design.md section 8: CSFE + MFDF add at most 10 %
TRAINING_BUDGET = 0.85  # docs/design.md section 8: training throughput within 15 % of a bare loop
VARIANTS = ("baseline", "csfe", "mfdf", "kfde")


@dataclass(frozen=True)
class InferenceResult:
    name: str
    median_s: float
    images_per_s: float
    ratio: float  # median over repeats of (this model's time / the baseline's time in the same round)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn(x)
    _sync(device)
    return time.perf_counter() - start


def measure_inference(backbone: str, image_size: int, batch_size: int, repeats: int, warmup: int,
                      device: torch.device, names: tuple[str, ...] = VARIANTS) -> list[InferenceResult]:
    """Seconds per batch of each variant (eval mode, no grad) and its ratio to the first name.

    Each round times every model once, in an order rotated from round to round, so that drift and load
    from other processes hit all models alike; the ratio is the median of the per-round ratios.
    """
    torch.manual_seed(0)
    models = {name: create_model(name, num_classes=2, backbone=backbone).eval().to(device) for name in names}
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        for step in range(warmup + repeats):
            order = names[step % len(names):] + names[:step % len(names)]
            lap = {name: _time(models[name], x, device) for name in order}
            if step >= warmup:
                for name, seconds in lap.items():
                    times[name].append(seconds)
    base = times[names[0]]
    results = []
    for name in names:
        median = statistics.median(times[name])
        ratio = statistics.median(t / b for t, b in zip(times[name], base, strict=True))
        results.append(InferenceResult(name, median, batch_size / median, ratio))
    return results


def measure_modules(backbone: str, image_size: int, batch_size: int, repeats: int, warmup: int,
                    device: torch.device) -> dict[str, float]:
    """Median seconds per batch of the backbone alone and of KFDE's CSFE and MFDF on its feature map.

    A structural cross-check of the end-to-end ratio: on a busy machine the modules' few milliseconds are
    easier to time apart than as a small difference of two large numbers.
    """
    model = create_model("kfde", num_classes=2, backbone=backbone).eval().to(device)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    parts = {"backbone": model.backbone, "csfe": model.csfe, "mfdf": model.mfdf}
    times: dict[str, list[float]] = {name: [] for name in parts}
    with torch.inference_mode():
        feats = model.backbone(x)
        for step in range(warmup + repeats):
            inputs = {"backbone": x, "csfe": feats, "mfdf": feats}
            lap = {name: _time(module, inputs[name], device) for name, module in parts.items()}
            if step >= warmup:
                for name, seconds in lap.items():
                    times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def _training_data(batch_size: int, image_size: int, batches: int) -> torch.utils.data.TensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size * batches, 3, image_size, image_size, generator=generator)
    labels = torch.randint(0, 2, (batch_size * batches,), generator=generator)
    return torch.utils.data.TensorDataset(images, labels)


def bare_loop_images_per_s(model_name: str, backbone: str, data: torch.utils.data.TensorDataset,
                           batch_size: int, warmup: int, device: torch.device) -> float:
    """Images/s of a plain forward/backward/AdamW loop, timed after ``warmup`` steps."""
    from torch.nn import functional as F

    torch.manual_seed(0)
    model = create_model(model_name, num_classes=2, backbone=backbone).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)
    start = None
    for step, (images, labels) in enumerate(loader):
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if step == warmup - 1:
            _sync(device)
            start = time.perf_counter()
    _sync(device)
    return (len(loader) - warmup) * batch_size / (time.perf_counter() - start)


def lightning_images_per_s(model_name: str, backbone: str, data: torch.utils.data.TensorDataset,
                           batch_size: int, warmup: int, device: torch.device) -> float:
    """Images/s of ``pathfocus train patch``'s path (task, trainer, logging, checkpoints), same timing."""
    import tempfile
    from pathlib import Path

    import lightning.pytorch as pl

    from pathfocus.training.options import TrainerOptions
    from pathfocus.training.patch.task import PatchClassifierTask
    from pathfocus.training.trainer import build_trainer

    class StepClock(pl.Callback):
        start: float | None = None
        end: float | None = None

        def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
            _sync(device)
            if trainer.global_step == warmup:
                self.start = time.perf_counter()
            self.end = time.perf_counter()

    torch.manual_seed(0)
    task = PatchClassifierTask(create_model(model_name, num_classes=2, backbone=backbone), ["0", "1"],
                               max_epochs=1)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as run_dir:
        options = TrainerOptions(max_epochs=1, progress=False,
                                 accelerator="gpu" if device.type == "cuda" else "cpu", devices="1")
        trainer, _ = build_trainer(Path(run_dir), options)
        trainer.callbacks.append(clock)
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)
        first_batch = torch.utils.data.Subset(data, range(batch_size))
        val = torch.utils.data.DataLoader(first_batch, batch_size=batch_size)
        trainer.fit(task, train_dataloaders=loader, val_dataloaders=val)
    steps = len(loader) - warmup
    return steps * batch_size / (clock.end - clock.start)


def print_training(model_name: str, bare: float, ours: float, header: str) -> None:
    print(header)
    ratio = ours / bare
    verdict = "ok" if ratio >= TRAINING_BUDGET else "UNDER"
    print(f"{'path':<22} {'images/s':>10}")
    print(f"{'bare PyTorch loop':<22} {bare:>10.1f}")
    print(f"{'pathfocus (Lightning)':<22} {ours:>10.1f}")
    print(f"ratio {ratio:.3f} (budget >= {TRAINING_BUDGET:.2f}): {verdict}  [{model_name}]")


def print_inference(results: list[InferenceResult], header: str) -> None:
    print(header)
    print(f"{'model':<10} {'median ms/batch':>16} {'images/s':>10} {'ratio':>7}  "
          f"budget <= {INFERENCE_BUDGET:.2f}")
    for r in results:
        verdict = "-" if r.name == results[0].name else ("ok" if r.ratio <= INFERENCE_BUDGET else "OVER")
        print(f"{r.name:<10} {r.median_s * 1e3:>16.1f} {r.images_per_s:>10.1f} {r.ratio:>7.3f}  {verdict}")


def print_modules(medians: dict[str, float], header: str) -> None:
    print(header)
    base = medians["backbone"]
    extra = medians["csfe"] + medians["mfdf"]
    for name, seconds in medians.items():
        print(f"{name:<10} {seconds * 1e3:>10.2f} ms  {seconds / base:>7.2%} of the backbone")
    verdict = "ok" if 1 + extra / base <= INFERENCE_BUDGET else "OVER"
    print(f"{'csfe+mfdf':<10} {extra * 1e3:>10.2f} ms  {extra / base:>7.2%} of the backbone  {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="convnextv2_atto", help="timm backbone name")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15, help="timed batches per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches per model first")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    parser.add_argument("--train-image-size", type=int, default=112)
    parser.add_argument("--train-batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=12, help="timed training steps per path")
    parser.add_argument("--skip-training", action="store_true", help="only measure inference")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {where}, {torch.get_num_threads()} CPU threads")

    setup = (args.backbone, args.image_size, args.batch_size, args.repeats, args.warmup, device)
    shape = f"{args.backbone}, batch {args.batch_size} x {args.image_size} px, median of {args.repeats}"
    print_inference(measure_inference(*setup), f"\nInference, whole models: {shape} interleaved rounds")
    print_modules(measure_modules(*setup), f"\nInference, KFDE's parts: {shape}")
    if not args.skip_training:
        data = _training_data(args.train_batch_size, args.train_image_size, args.train_steps + args.warmup)
        train_setup = ("kfde", args.backbone, data, args.train_batch_size, args.warmup, device)
        bare = bare_loop_images_per_s(*train_setup)
        ours = lightning_images_per_s(*train_setup)
        shape = f"batch {args.train_batch_size} x {args.train_image_size} px, {args.train_steps} timed steps"
        print_training("kfde", bare, ours, f"\nTraining throughput: kfde on {args.backbone}, {shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
