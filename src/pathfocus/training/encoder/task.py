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


class SimCLRTask(pl.LightningModule):
    """Two views of each tile -> backbone -> projection -> NT-Xent; ``backbone`` is what is kept."""

    def __init__(self, backbone: nn.Module, num_features: int, projection_dim: int, temperature: float,
                 lr: float, weight_decay: float, epochs: int) -> None:
        super().__init__()
        self.model = backbone
        self.projection = SimCLRProjectionHead(num_features, 2 * projection_dim, projection_dim)
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)
        self.lr, self.weight_decay, self.epochs = lr, weight_decay, epochs

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        first, second = batch
        loss = self.criterion(self.projection(self.model(first)), self.projection(self.model(second)))
        self.log("ssl_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(first))
        return loss

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
