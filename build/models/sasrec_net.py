"""SASRec's network and its training step, in PyTorch on the CPU (build/models/sasrec.py is the model).

Kept apart from the model so the registry, which imports every model's module, never imports torch: this
module is imported only when a SASRec is fitted or scored, and only where the `deep` extra is installed.
Item 0 is padding; candidate item i is token i + 1. Sequences are left-padded to a fixed length, so a user's
scores never depend on the other users of the batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """One pre-norm self-attention block: causal multi-head attention, then a position-wise feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(attended.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class SASRecNet(nn.Module):
    """Item embeddings plus learned positions through causal self-attention blocks; the next item's logits are
    the hidden state times the (shared) item embeddings."""

    def __init__(self, n_items: int, dim: int, max_len: int, blocks: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.scale = math.sqrt(dim)
        # unit-variance inputs once scaled, logits near 1 at the start (N(0, 1) embeddings start the loss near 50)
        nn.init.normal_(self.items.weight, std=dim ** -0.5)
        nn.init.normal_(self.positions.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(batch, length, dim) hidden states of left-padded token sequences."""
        n = seq.shape[1]
        real = seq > 0
        x = self.drop(self.items(seq) * self.scale + self.positions(torch.arange(n)))
        x = x * real.unsqueeze(-1)
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        # a position sees the real items up to it, and itself: a padded row is never all masked (NaN)
        mask = (causal & real[:, None, None, :]) | torch.eye(n, dtype=torch.bool)
        for block in self.blocks:
            x = block(x, mask) * real.unsqueeze(-1)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every candidate item (padding's column left out)."""
        return hidden @ self.items.weight[1:].T


def train_epoch(net: SASRecNet, optimizer: torch.optim.Optimizer, inputs: np.ndarray, targets: np.ndarray,
                batch_size: int, rng: np.random.Generator) -> float:
    """One pass over the windows in an order drawn from `rng`: full softmax cross-entropy over every candidate
    item at every real position, for each of its targets (windows x length x ahead). Returns the mean loss."""
    net.train()
    total, count = 0.0, 0
    order = rng.permutation(inputs.shape[0])
    for start in range(0, inputs.shape[0], batch_size):
        rows = order[start : start + batch_size]
        seq, target = torch.from_numpy(inputs[rows]), torch.from_numpy(targets[rows])
        real = target[..., 0] > 0  # positions with a next item
        log_p = F.log_softmax(net.logits(net(seq)[real]), dim=-1)
        wanted = target[real]  # (positions, ahead): the next items, 0 past the user's last
        picked = log_p.gather(1, (wanted - 1).clamp(min=0))
        n = int((wanted > 0).sum())
        loss = -(picked * (wanted > 0)).sum() / n
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * n
        count += n
    return total / max(count, 1)


@torch.inference_mode()
def last_scores(net: SASRecNet, seqs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(len(seqs) x n_items) float32 logits of the item after each left-padded sequence's last position."""
    net.eval()
    out = [net.logits(net(torch.from_numpy(seqs[start : start + batch_size]))[:, -1]).numpy()
           for start in range(0, seqs.shape[0], batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros((0, net.items.num_embeddings - 1),
                                                                                  dtype=np.float32)
