"""What every command shares: consoles, the user-error boundary and logging setup."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from pathfocus.errors import PathfocusError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`PathfocusError` into one red sentence on stderr and exit code 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PathfocusError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


def setup_logging(verbose: bool) -> None:
    """Route library logging (warnings about skipped files, etc.) through rich on stderr."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
        force=True,
    )
    # Third-party deprecation chatter and Lightning's small-dataset hints say nothing actionable to users.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "PIL", "matplotlib", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


CONFIG_HELP = ("YAML or JSON file with one section per concern (see docs/design.md); flags given on the "
               "command line override it, and the run folder records the resolved settings.")


def default(cls: type, name: str, unit: str = "") -> str:
    """`` (default: X)`` for a help text, read from the settings dataclass (defaults are written once)."""
    from pathfocus.configs import default_of

    value = default_of(cls, name)
    shown = "none" if value is None else f"{value}{unit}"
    return f" (default: {shown})"


CLUSTER_HELP = (
    "Run one task per slide on a Dask cluster: local:N (N worker processes here), tcp://HOST:PORT (a "
    "running scheduler) or slurm:CONFIG.yaml (also pbs:, sge:; dask-jobqueue, see docs/cluster.md). "
    "Outputs and status.csv are the same as without it. Needs pip install 'pathfocus[cluster]'."
)


def cluster_option() -> Any:
    """The ``--cluster`` option every per-slide batch command shares."""
    return typer.Option(None, "--cluster", help=CLUSTER_HELP, metavar="local:N|tcp://HOST:PORT|slurm:FILE")


CLASS_NAMES_HELP = (
    "Names of the classes, one per class in label order (e.g. normal,tumour for labels 0,1), shown "
    "instead of the labels in every output; a class_name column in labels.csv does the same."
)


def slide_label_names(slides_csv: str, given: str | None) -> dict[str, str]:
    """``{label: name}`` of a labels table from ``--class-names`` or its ``class_name`` column ({} if none),
    checked before training starts so a wrong count fails at once."""
    from pathfocus.data.slide_labels import label_names, read_slide_labels

    if not slides_csv:
        return {}
    return label_names(read_slide_labels(slides_csv, check_files=False), given, source=slides_csv)
