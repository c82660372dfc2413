"""Replay a whole training iteration as one CUDA graph.

At Kinetic-GAN's batch sizes the networks are small: eagerly, a GPU spends most of an
iteration waiting for Python to launch the few thousand kernels of five critic updates
(each with a double-backward gradient penalty), a generator update and the EMA — an H200
managed 4–5 iterations a second. Captured once and replayed, the iteration costs only its
arithmetic: 65 ms on the H200 (batch 64, bf16).

What capture requires, and where this module provides it:
- fixed input addresses: each iteration's batches are copied into static buffers;
- optimiser state that exists before capture and lives on the GPU: Adam with
  ``capturable=True`` (see :func:`kinetic_gan.train.build.make_optimizer`), and a few eager
  warm-up iterations first, in which cuDNN and cuBLAS also set up their handles and
  workspaces — on a side stream, as PyTorch's CUDA-graph notes prescribe;
- no other thread breaking the capture: it runs in thread-local mode, because the data
  loader's pin-memory thread allocates page-locked host memory while it runs (in the
  default global mode that invalidated the capture on the H200);
- autocast without its weight cache (the loop builds it that way when graphs are on);
- no host synchronisation inside the iteration (:mod:`kinetic_gan.train.step` has none).
Random numbers (latents, noise injection, the penalty's interpolation) are drawn inside the
graph from the CUDA generator, which advances on every replay, so each replay draws afresh.

If capture fails, training stops with one error that says how to go on without graphs
(``--set cuda_graphs=false``); weights already checkpointed are untouched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch

from kinetic_gan.errors import KineticGanError, first_line

Step = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor]],
                tuple[torch.Tensor, torch.Tensor]]


class GraphedStep:
    """Callable like the step it wraps; eager for ``warmup`` calls, then captured and replayed.

    The returned tensors are the graph's static outputs: read (or clone) them before the
    next call.
    """

    def __init__(self, step: Step, models: Sequence[torch.nn.Module], *, warmup: int = 3) -> None:
        self.step = step
        self.models = list(models)  # their gradients are released before capture
        self.warmup_left = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self._reals: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        self._outputs: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, reals: Sequence[torch.Tensor],
                 labels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.graph is None:
            self._fill(reals, labels)
            if self.warmup_left > 0:
                self.warmup_left -= 1
                return self._on_side_stream()
            try:
                self._capture()
            except Exception as exc:
                # A failed capture leaves the CUDA random generator mid-capture, so this
                # process cannot go on eagerly either: say so, and how to train without.
                first = first_line(exc)
                raise KineticGanError(
                    f"CUDA graph capture of the training iteration failed ({first}); checkpoints "
                    "already written are kept — train (or --resume) with --set cuda_graphs=false"
                ) from exc
        else:
            self._fill(reals, labels)
        assert self.graph is not None and self._outputs is not None
        self.graph.replay()
        return self._outputs

    def _fill(self, reals: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]) -> None:
        if self._reals is None:
            self._reals = torch.stack(list(reals))
            self._labels = torch.stack(list(labels))
            return
        assert self._labels is not None
        if len(reals) != len(self._reals) or reals[0].shape != self._reals.shape[1:]:
            raise ValueError(f"CUDA-graph step: batches of {tuple(reals[0].shape)} x {len(reals)}"
                             f" after capturing {tuple(self._reals.shape[1:])} x "
                             f"{len(self._reals)}; the shapes of a captured step are fixed")
        for k, (real, label) in enumerate(zip(reals, labels, strict=True)):
            self._reals[k].copy_(real, non_blocking=True)
            self._labels[k].copy_(label, non_blocking=True)

    def _on_side_stream(self) -> tuple[torch.Tensor, torch.Tensor]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.step(self._reals, self._labels)
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self) -> None:
        for model in self.models:
            for p in model.parameters():
                p.grad = None  # gradients are allocated inside the graph's own memory pool
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._outputs = self.step(self._reals, self._labels)
        self.graph = graph  # capture records without running: the caller replays it now
        print("note: training iteration captured as a CUDA graph; replaying it from now on",
              file=sys.stderr)
