"""Pretrain a tile encoder self-supervised, and give every run the encoder its settings ask for.

``pathfocus train encoder`` writes an encoder folder; ``train sew`` and ``train mil`` with the default
``--encoder ssl`` pretrain one on their own training slides into ``CACHE/encoders/<key>``, where the key
is every input the weights depend on (the training slides' files, tile and SSL settings, backbone, input
size, seed). Two runs on the same split therefore share one encoder, and a rerun reuses it. Only training
slides are ever seen (never validation or test), and no label is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch

from pathfocus.configs import to_dict
from pathfocus.devices import pick_device
from pathfocus.engines.encoders import CONFIG_FILE, build_encoder, load_encoder_folder, save_encoder_folder
from pathfocus.engines.tile_settings import TileSettings
from pathfocus.errors import InputError
from pathfocus.models.backbones import TileEncoderSpec
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.training.encoder.config import SSLSettings
from pathfocus.training.encoder.data import StoredTiles, sample_tiles
from pathfocus.training.encoder.task import SimCLRTask
from pathfocus.training.logs import ResumableCSVLogger
from pathfocus.training.trainer import quiet_lightning

ENCODERS_DIR = "encoders"
log = logging.getLogger(__name__)


def pretrain_encoder(
    slide_paths: Sequence[str],
    out: str | Path,
    backbone: str,
    input_size: int,
    tiles: TileSettings,
    ssl: SSLSettings,
    progress: bool = True,
) -> TileEncoder:
    """SimCLR-pretrain ``backbone`` on tiles of ``slide_paths`` and write the encoder folder ``out``."""
    started = time.perf_counter()
    out = Path(out)
    pl.seed_everything(ssl.seed, workers=True, verbose=False)
    encoder = TileEncoder(backbone, input_size=input_size)
    stored = sample_tiles(slide_paths, tiles, ssl, encoder.data_config.input_size)
    if len(stored) < ssl.batch_size // 2:
        msg = (
            f"only {len(stored)} tissue tiles could be sampled from {len(slide_paths)} slides; "
            "self-supervised "
            "pretraining needs more slides or tiles (or pass --encoder timm:NAME / ssl:DIR)"
        )
        raise InputError(msg)
    backbone_module = encoder.backbone.train().requires_grad_(True)
    task = SimCLRTask(backbone_module, encoder.num_features, ssl, encoder.data_config)
    loader = torch.utils.data.DataLoader(
        StoredTiles(stored),
        batch_size=min(ssl.batch_size, len(stored)),
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(ssl.seed),
    )
    quiet_lightning()
    trainer = pl.Trainer(
        max_epochs=ssl.epochs,
        logger=ResumableCSVLogger(out),
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=out,
    )
    trainer.fit(task, loader)
    encoder = TileEncoder(backbone, input_size=input_size, backbone=backbone_module.cpu())
    losses = [float(v) for k, v in trainer.callback_metrics.items() if k == "ssl_loss"]
    if trainer.is_global_zero:
        save_encoder_folder(
            out,
            encoder,
            {
                "method": "SimCLR (lightly NT-Xent), fixed-scale crops",
                "ssl": to_dict(ssl),
                "tiles": to_dict(tiles),
                "n_slides": len(slide_paths),
                "n_tiles": len(stored),
                "final_ssl_loss": losses[0] if losses else None,
                "seconds": round(time.perf_counter() - started, 1),
                "device": pick_device().type,
            },
        )
    return encoder


def resolve_encoder(
    spec: TileEncoderSpec,
    train_slides: Sequence[str],
    tiles: TileSettings,
    ssl: SSLSettings,
    cache_dir: Path,
    progress: bool = True,
) -> TileEncoder:
    """The encoder ``spec`` asks for; the default ``ssl`` one is pretrained on ``train_slides`` once and
    kept in ``cache_dir/encoders`` (keyed by everything its weights depend on)."""
    if spec.kind != "ssl":
        return build_encoder(spec)
    folder = cache_dir / ENCODERS_DIR / encoder_key(spec, train_slides, tiles, ssl)
    if (folder / CONFIG_FILE).is_file():
        log.info("reusing the self-supervised encoder in %s", folder)
        return load_encoder_folder(folder, spec.input_size)
    log.info(
        "pretraining %s self-supervised on %d training slides into %s",
        spec.backbone,
        len(train_slides),
        folder,
    )
    pretrain_encoder(train_slides, folder, spec.backbone, spec.input_size, tiles, ssl, progress)
    return load_encoder_folder(folder, spec.input_size)


def encoder_key(spec: TileEncoderSpec, slides: Sequence[str], tiles: TileSettings, ssl: SSLSettings) -> str:
    """A hash of what an ``ssl`` encoder's weights depend on (slide files by path, size and mtime)."""
    files = []
    for path in sorted(str(Path(p).resolve()) for p in slides):
        stat = Path(path).stat()
        files.append([path, stat.st_size, stat.st_mtime_ns])
    reading = {"tile_size": tiles.tile_size, "mpp": tiles.mpp, "min_tissue": tiles.min_tissue}
    values = {
        "backbone": spec.backbone,
        "input_size": spec.input_size,
        "tiles": reading,
        "ssl": to_dict(ssl),
        "slides": files,
    }
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
