"""SASRec (Kang & McAuley 2018): self-attention over a user's time-ordered ratings predicts what they rate next.

The deep model of the roadmap, an optional extra (`pip install 'latentlens[deep]'`, PyTorch on the CPU; the
network is build/models/sasrec_net.py). Trained with full softmax cross-entropy over the candidate items (the
most-rated `max_items`, as EASE) at every position, which converges in a few epochs where the paper's one
sampled negative needs hundreds (Klenitskiy & Vasilev 2023). The number of epochs is chosen on a temporal
validation split carved from the training data (early stopping), then the model is refitted on all of it.

A user is scored from their latest `max_len` ratings in the build's order (timestamp, ties by file position:
Histories.age); a user with none of the candidates in their history gets popularity. Without torch the build
reports the model as skipped with the install line; the large plan skips it (hours on 2 cores at ML-25M)
unless `--models` names it.
"""

from __future__ import annotations

import time
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
from pydantic import Field, model_validator

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import evaluate_topn
from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.models.ranking import spread_to_catalogue
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.models.transitions import most_rated, time_order
from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from latentlens.build.models.sasrec_net import SASRecNet

log = get_logger(__name__)

TORCH = "torch"  # the module the model needs (tests point it at a missing one)
INSTALL = "pip install 'latentlens[deep]' (CPU-only torch: docs/build.md#deep-models)"


class SASRecConfig(ModelConfig):
    # Defaults tried on ml-latest-small's validation split (NDCG@10; one run each, ±0.002 between seeds): dim 128
    # of {64, 128} (0.081, 0.079), max_len 50 of {50, 200} (0.079, 0.078 at 4x the CPU), lr 1e-3 of {1e-3, 2e-3}
    # (0.079, 0.078), dropout 0.5 of {0.2, 0.5} (0.078, 0.080), ahead 1 of {1, 3, 10} (0.081, 0.081, 0.078)
    dim: int = Field(128, ge=4)            # embedding and hidden size
    heads: int = Field(2, ge=1)
    blocks: int = Field(2, ge=1)           # self-attention blocks
    max_len: int = Field(50, ge=2)         # the latest ratings a user is scored from; training windows' length
    # the items after a position it learns to predict there, each a softmax target (1: SASRec's next item)
    ahead: int = Field(1, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    lr: float = Field(1e-3, gt=0.0)        # Adam's
    batch_size: int = Field(64, ge=1)      # windows per step
    epochs: int | None = Field(None, ge=1)  # fixed (no validation), or None: chosen on validation
    max_epochs: int = Field(20, ge=1)      # the validation's limit
    patience: int = Field(2, ge=1)         # epochs without a better validation NDCG before it stops
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_validation_users: int = Field(2_000, ge=1)  # sampled with ctx.rng
    max_train_users: int | None = Field(None, ge=1)  # train on a sample of users' windows (None: all)
    # the most-rated items it predicts: all of ml-latest-small's 8,200 rated movies made an epoch 1.5x as slow
    # as its 3,000 most-rated (the softmax is most of the cost), a low-rated tail a top-10 seldom reaches
    max_items: int = Field(3_000, ge=1)
    # torch's threads, at most ctx.n_threads: on the shared 2-core machine (load 8) one thread ran a training
    # step in a quarter of the wall time of two, whose OpenMP workers wait on each other
    threads: int = Field(1, ge=1)
    k: int = Field(10, ge=1)                       # the validation's cut-off and relevance (the build's protocol)
    relevance_threshold: float = 4.0

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> Self:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not a multiple of heads {self.heads}")
        return self


def torch_missing() -> str | None:
    """Why the model cannot run in this install (None: torch is importable); no import, only a look-up."""
    return None if find_spec(TORCH) is not None else f"{TORCH} not installed: {INSTALL}"


def training_windows(users: np.ndarray, tokens: np.ndarray, max_len: int, ahead: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (windows x max_len), targets (windows x max_len x ahead)), int64, left-padded with 0: each user's
    time-ordered `tokens` (1-based candidate items) cut from the latest back into windows of max_len positions
    that have a next item; a position's targets are the user's next `ahead` items (0 past their last)."""
    src = np.flatnonzero(users[:-1] == users[1:])  # positions with a next rating of the same user
    owner = users[src]
    counts = np.bincount(owner, minlength=int(users.max(initial=-1)) + 1)
    ends = np.cumsum(counts)
    from_end = ends[owner] - 1 - np.arange(src.size)  # 0: the user's latest pair
    key = owner.astype(np.int64) * (src.size + 1) + from_end // max_len
    _, window = np.unique(key, return_inverse=True)
    slot = max_len - 1 - from_end % max_len
    n_windows = int(window.max(initial=-1)) + 1
    inputs = np.zeros((n_windows, max_len), dtype=np.int64)
    targets = np.zeros((n_windows, max_len, ahead), dtype=np.int64)
    inputs[window, slot] = tokens[src]
    for lag in range(1, ahead + 1):
        later = np.minimum(src + lag, users.size - 1)
        targets[window, slot, lag - 1] = np.where((src + lag < users.size) & (users[later] == owner), tokens[later], 0)
    return inputs, targets


def history_sequences(histories: Histories, token_of: np.ndarray, max_len: int) -> np.ndarray:
    """(users x max_len) int64: each row's latest max_len candidate items, oldest first, left-padded with 0."""
    rows = histories.entry_rows()
    tokens = token_of[histories.ratings.indices]
    age = histories.age.data
    keep = tokens > 0
    rows, tokens, age = rows[keep], tokens[keep], age[keep]
    order = np.lexsort((age, rows))  # per row, latest (age 1) first
    rows, tokens = rows[order], tokens[order]
    starts = np.searchsorted(rows, np.arange(histories.n_users))
    from_end = np.arange(rows.size) - starts[rows]
    near = from_end < max_len
    out = np.zeros((histories.n_users, max_len), dtype=np.int64)
    out[rows[near], max_len - 1 - from_end[near]] = tokens[near]
    return out


class SASRec(Recommender[SASRecConfig]):
    """Self-attentive sequential recommendation: the order of the latest ratings, not just the set."""

    name: ClassVar[str] = "sasrec"
    item_side: ClassVar[bool] = True  # item embeddings only: users are scored from the histories given

    def __init__(self, config: SASRecConfig | None = None) -> None:
        self.config = config or SASRecConfig()
        self.validation_: dict[str, float] = {}

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        import torch

        self.items_ = most_rated(data, self.config.max_items)
        if self.items_.size == 0:
            raise ModelError("sasrec: no ratings")
        self.token_of_ = np.zeros(data.n_items, dtype=np.int64)
        self.token_of_[self.items_] = np.arange(1, self.items_.size + 1)
        self.n_items_ = data.n_items
        self._remember_popularity(data)
        self.validation_ = {}
        seed = int(ctx.rng.integers(2**31))
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, min(ctx.n_threads, self.config.threads)))
        try:
            epochs = self.config.epochs
            if epochs is None:
                epochs = self._choose_epochs(data, ctx, seed)
            self.epochs_ = epochs
            self.net_, loss = self._train(data, epochs, seed, ctx)
        finally:
            torch.set_num_threads(threads)
        log.info("sasrec: %d epochs on %d items, last loss %.3f", epochs, self.items_.size, loss)
        return self

    def _windows(self, data: Interactions, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        order = time_order(data)
        users, tokens = data.user_idx[order], self.token_of_[data.item_idx[order]]
        keep = tokens > 0
        if self.config.max_train_users is not None and data.n_users > self.config.max_train_users:
            chosen = np.zeros(data.n_users, dtype=bool)
            chosen[rng.choice(data.n_users, self.config.max_train_users, replace=False)] = True
            keep &= chosen[users]
        return training_windows(users[keep], tokens[keep], self.config.max_len, self.config.ahead)

    def _new_net(self, seed: int) -> tuple[SASRecNet, Any]:
        import torch

        from latentlens.build.models.sasrec_net import SASRecNet

        torch.manual_seed(seed)  # the weights' and dropout's randomness: from ctx.rng, through the seed
        c = self.config
        net = SASRecNet(self.items_.size, c.dim, c.max_len, c.blocks, c.heads, c.dropout)
        return net, torch.optim.Adam(net.parameters(), lr=c.lr)

    def _train(self, data: Interactions, epochs: int, seed: int, ctx: FitContext) -> tuple[SASRecNet, float]:
        from latentlens.build.models.sasrec_net import train_epoch

        rng = np.random.default_rng(seed)
        inputs, targets = self._windows(data, rng)
        net, optimizer = self._new_net(seed)
        loss = float("nan")
        for _ in range(epochs):
            loss = train_epoch(net, optimizer, inputs, targets, self.config.batch_size, rng)
        if not np.isfinite(loss):
            raise ModelError("sasrec: the training loss is not finite")
        return net, loss

    def _choose_epochs(self, data: Interactions, ctx: FitContext, seed: int) -> int:
        """Early stopping on a temporal validation split of `data` (the build's rule, applied again): the epoch
        count with the best validation NDCG@k, stopping after `patience` epochs without a better one."""
        from latentlens.build.models.sasrec_net import train_epoch

        c = self.config
        train, val = temporal_holdout(data, c.validation_fraction)
        users = np.unique(val.user_idx[val.rating >= c.relevance_threshold])
        if users.size > c.max_validation_users:
            users = ctx.rng.choice(users, c.max_validation_users, replace=False)
        picked = np.zeros(data.n_users, dtype=bool)
        picked[users] = True
        val = val.subset(picked[val.user_idx])
        rng = np.random.default_rng(seed)
        inputs, targets = self._windows(train, rng)
        self.net_, optimizer = self._new_net(seed)
        best, best_epoch, started = -1.0, 1, time.perf_counter()
        for epoch in range(1, c.max_epochs + 1):
            train_epoch(self.net_, optimizer, inputs, targets, c.batch_size, rng)
            ndcg = evaluate_topn(self, train, val, k=c.k, relevance_threshold=c.relevance_threshold,
                                 n_threads=1)[f"ndcg_at_{c.k}"]
            self.validation_[f"epoch_{epoch}"] = ndcg
            if ndcg > best:
                best, best_epoch = ndcg, epoch
            elif epoch - best_epoch >= c.patience:
                break
        log.info("sasrec: %d epochs chosen on validation (ndcg@%d %.4f over %d users, %.0f s)", best_epoch, c.k,
                 best, users.size, time.perf_counter() - started)
        return best_epoch

    def chosen(self) -> dict:
        return {"epochs": self.epochs_, **({"validation_ndcg": self.validation_} if self.validation_ else {})}

    def tuned_config(self) -> SASRecConfig:
        return self.config.model_copy(update={"epochs": self.epochs_})

    def candidates(self) -> np.ndarray:
        return self.items_

    def score_candidates(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        from latentlens.build.models.sasrec_net import last_scores

        users = np.asarray(users, dtype=np.int64)
        seqs = history_sequences(histories, self.token_of_, self.config.max_len)
        warm = (users >= 0) & (seqs[:, -1] > 0)
        scores = np.empty((users.shape[0], self.items_.size), dtype=np.float32)
        scores[~warm] = self.cold_scores()[self.items_]
        if warm.any():
            scores[warm] = last_scores(self.net_, seqs[warm])
        return scores

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        scores = spread_to_catalogue(self.score_candidates(users, histories), self.items_, self.n_items_)
        scores[users < 0] = self.cold_scores()
        return scores


# tiny for the suite's shared quick build: one epoch, no validation
QUICK = SASRecConfig(dim=16, heads=1, blocks=2, max_len=20, epochs=1, max_items=2_000)
# only when --models names it at the large plan: capped users, length, epochs and items
LARGE = SASRecConfig(max_len=50, max_epochs=5, max_train_users=20_000, max_items=8_000)
LARGE_PLAN_SKIP = ("full-softmax SASRec over ML-25M's users and 8,000+ items takes hours on 2 CPU cores, past "
                   "the build's budget")


def model_for(inputs: ModelInputs) -> SASRec:
    """`--quick`: QUICK; the large plan (only when --models names it): LARGE; else the defaults, with the
    build's protocol for the validation."""
    protocol = {"k": inputs.k, "relevance_threshold": inputs.relevance_threshold}
    if inputs.quick:
        return SASRec(QUICK)
    return SASRec((LARGE if inputs.large else SASRecConfig()).model_copy(update=protocol))


SPEC = ModelSpec("sasrec", model_for, unavailable=torch_missing, large_plan_skip=LARGE_PLAN_SKIP,
                 description="self-attentive sequential model (SASRec, PyTorch on CPU; the `deep` extra)")
