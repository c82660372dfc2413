"""The order in which training batches are drawn — a pure function of (seed, epoch, position).

Because the order depends only on those numbers (``DistributedSampler`` shuffles with
``seed + epoch``; the dataset's augmentation draws from ``(seed, epoch, item)``), a resumed
run continues with exactly the batch it would have drawn next, and reading ahead — on a
thread or in worker processes — never changes what is trained on. Under torchrun each rank
reads its own disjoint shard of every epoch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from kinetic_gan.errors import KineticGanError

# Keep the whole (normalized) dataset on the device when it is at most this big.
RESIDENT_LIMIT = {"cuda": 2 << 30, "cpu": 256 << 20}


class BatchStream:
    """Yields ``(x (B, C, T, V) float32, labels (B,) int64)`` on ``device``, forever.

    Batch ``k`` of the run is batch ``k % batches_per_epoch`` of epoch
    ``k // batches_per_epoch``; ``start`` skips the batches a resumed run already consumed.

    Where the items come from:
    - no augmentation and a small dataset: held on the device once, batches are index ops;
    - ``workers > 0``: a ``DataLoader`` whose worker processes read and augment items
      (for GPUs, which would otherwise wait on per-item augmentation);
    - otherwise: a background thread one batch ahead.
    """

    def __init__(self, dataset, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, device: torch.device | None = None, workers: int = 0,
                 start: int = 0) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = device if device is not None else torch.device("cpu")
        self.workers = workers
        self.start = start  # batches already consumed by this run (per rank)
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.batches_per_epoch = len(self.sampler) // batch_size
        if self.batches_per_epoch == 0:
            raise KineticGanError(
                f"dataset: {len(dataset)} samples are too few for a batch of {batch_size} "
                f"per process on {world_size} process(es); lower batch_size")
        self._resident: tuple[torch.Tensor, torch.Tensor] | None = None
        item_bytes = 4 * int(np.prod(dataset.shape))
        limit = RESIDENT_LIMIT["cuda" if self.device.type == "cuda" else "cpu"]
        if getattr(dataset, "augment", None) is None and len(dataset) * item_bytes <= limit:
            array = np.ascontiguousarray(dataset.array(normalized=True))
            self._resident = (torch.from_numpy(array).to(self.device),
                              torch.as_tensor(np.asarray(dataset.labels), device=self.device))

    def epoch_of(self, batches_consumed: int) -> int:
        return batches_consumed // self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._resident is not None:
            data, labels = self._resident
            for batch in self.index_batches():
                idx = torch.as_tensor([i for _, i in batch], device=self.device)
                yield data[idx], labels[idx]
        elif self.workers > 0:
            yield from self._from_workers()
        else:
            yield from _prefetched(map(_EpochItems(self.dataset).batch, self.index_batches()),
                                   self.device)

    def index_batches(self) -> Iterator[list[tuple[int, int]]]:
        """``[(epoch, item), ...]`` per batch, from batch ``start`` of the run on."""
        epoch, batch = divmod(self.start, self.batches_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            order = list(self.sampler)
            for b in range(batch, self.batches_per_epoch):
                yield [(epoch, i) for i in order[b * self.batch_size : (b + 1) * self.batch_size]]
            epoch, batch = epoch + 1, 0

    def _from_workers(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pin = self.device.type == "cuda"
        loader = DataLoader(_EpochItems(self.dataset), batch_sampler=_Batches(self),
                            num_workers=self.workers, collate_fn=_collate, pin_memory=pin,
                            prefetch_factor=4)
        for x, y in loader:
            yield x.to(self.device, non_blocking=pin), y.to(self.device, non_blocking=pin)


class _Batches:
    """The stream's infinite batch order, as a ``DataLoader`` batch sampler."""

    def __init__(self, stream: BatchStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return self.stream.index_batches()


class _EpochItems:
    """``dataset[(epoch, i)]``: item ``i`` augmented as in ``epoch`` (any process, any order)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, int]:
        epoch, i = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[i]

    def batch(self, keys: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        return _stack([self[k] for k in keys])


def _stack(items: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.stack([x for x, _ in items]).astype(np.float32, copy=False),
            np.asarray([y for _, y in items], dtype=np.int64))


def _collate(items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _stack(items)
    return torch.from_numpy(x), torch.from_numpy(y)


def _prefetched(batches: Iterator[tuple[np.ndarray, np.ndarray]],
                device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Read the next batch on a thread while the current one trains (numpy releases the GIL)."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slot.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # surface reader errors in the training thread
            slot.put(exc)

    worker = threading.Thread(target=produce, name="kinetic-gan-batches", daemon=True)
    worker.start()
    pin = device.type == "cuda"
    try:
        while True:
            item = slot.get()
            if isinstance(item, BaseException):
                raise item
            x, y = (torch.from_numpy(a) for a in item)
            if pin:
                x, y = x.pin_memory(), y.pin_memory()
            yield x.to(device, non_blocking=pin), y.to(device, non_blocking=pin)
    finally:
        stop.set()
