"""The order in which training batches are drawn — a pure function of (seed, epoch, position).

Because the order depends only on those numbers (``DistributedSampler`` shuffles with
``seed + epoch``; the dataset's augmentation draws from ``(seed, epoch, item)``), a resumed
run continues with exactly the batch it would have drawn next. Under torchrun each rank
reads its own disjoint shard of every epoch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from kinetic_gan.errors import KineticGanError


class BatchStream:
    """Yields ``(x (B, C, T, V) float32, labels (B,) int64)`` on ``device``, forever.

    Batch ``k`` of the run is batch ``k % batches_per_epoch`` of epoch
    ``k // batches_per_epoch``; ``start`` skips the batches a resumed run already consumed.

    Small datasets without augmentation are held on the device once and indexed there;
    otherwise items are read (and augmented) on a background thread one batch ahead.
    """

    def __init__(self, dataset, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, device: torch.device | None = None,
                 preload: bool = True, start: int = 0) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = device if device is not None else torch.device("cpu")
        self.start = start  # batches already consumed by this run (per rank)
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.batches_per_epoch = len(self.sampler) // batch_size
        if self.batches_per_epoch == 0:
            raise KineticGanError(
                f"dataset: {len(dataset)} samples are too few for a batch of {batch_size} "
                f"per process on {world_size} process(es); lower batch_size")
        self._resident: tuple[torch.Tensor, torch.Tensor] | None = None
        if preload and getattr(dataset, "augment", None) is None:
            self._resident = (torch.from_numpy(np.ascontiguousarray(dataset.array(normalised=True)))
                              .to(self.device), torch.as_tensor(dataset.labels, device=self.device))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._resident is not None:
            for indices in self._indices():
                idx = torch.as_tensor(indices, device=self.device)
                yield self._resident[0][idx], self._resident[1][idx]
            return
        yield from _prefetched(self._host_batches(), self.device)

    def epoch_of(self, batches_consumed: int) -> int:
        return batches_consumed // self.batches_per_epoch

    def _indices(self) -> Iterator[list[int]]:
        """Batch index lists from batch ``start`` of the run on."""
        epoch, batch = divmod(self.start, self.batches_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            order = list(self.sampler)
            for b in range(batch, self.batches_per_epoch):
                yield order[b * self.batch_size : (b + 1) * self.batch_size]
            epoch, batch = epoch + 1, 0

    def _host_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for indices in self._indices():
            items = [self.dataset[i] for i in indices]
            yield (np.stack([x for x, _ in items]).astype(np.float32, copy=False),
                   np.asarray([y for _, y in items], dtype=np.int64))


def _prefetched(batches: Iterator[tuple[np.ndarray, np.ndarray]],
                device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Read the next batch on a thread while the current one trains (numpy releases the GIL).

    The reading order is fixed in advance, so reading ahead never changes what is trained on;
    checkpoints record the number of batches training consumed, not what was read.
    """
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
