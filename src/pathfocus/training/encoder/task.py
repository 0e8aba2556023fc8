"""SimCLR as a Lightning task: a backbone, lightly's projection head and NT-Xent loss.

The loss gathers embeddings across DDP processes (``gather_distributed``), so every process contrasts
against the whole global batch, as a single process would.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from torch import nn

from pathfocus.models.backbones import DataConfig
from pathfocus.training.encoder.augment import random_views
from pathfocus.training.encoder.config import SSLSettings


class SimCLRTask(pl.LightningModule):
    """Two views of each tile -> backbone -> projection -> NT-Xent; ``backbone`` is what is kept."""

    def __init__(self, backbone: nn.Module, num_features: int, ssl: SSLSettings, data: DataConfig) -> None:
        super().__init__()
        self.model = backbone
        self.projection = SimCLRProjectionHead(num_features, 2 * ssl.projection_dim, ssl.projection_dim)
        self.criterion = NTXentLoss(temperature=ssl.temperature, gather_distributed=True)
        self.ssl, self.data = ssl, data
        self.crop = max(8, int(round(data.input_size * ssl.crop_fraction)))
        self.generator: torch.Generator | None = None

    def on_train_start(self) -> None:
        # each process draws its own views, reproducibly
        self.generator = torch.Generator().manual_seed(self.ssl.seed * 1000 + self.global_rank)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        tiles = batch.cpu()
        first = random_views(tiles, self.crop, self.data, self.generator).to(self.device)
        second = random_views(tiles, self.crop, self.data, self.generator).to(self.device)
        loss = self.criterion(self.projection(self.model(first)), self.projection(self.model(second)))
        self.log("ssl_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(first))
        return loss

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.ssl.lr, weight_decay=self.ssl.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.ssl.epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
