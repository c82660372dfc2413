"""The WGAN-GP trainer: ``kinetic-gan train`` / ``kinetic-gan export``, DDP through torchrun.

- ``config``      TrainConfig (TOML + ``--set key=value``), packaged configs
- ``loop``        the training loop (``train(config, run_dir, resume=...)``): build, restore, loop
- ``build``       what a session works on: data, models, optimisers, terms, the step
- ``wgan_gp``     the critic and generator updates, gradient penalty, EMA
- ``step``        one iteration (n_critic critic updates, the generator update, the EMA)
- ``cuda_graph``  that iteration captured once and replayed as a CUDA graph
- ``batches``     the resumable, sharded batch order
- ``checkpoint``  exact-resume checkpoints (weights_only loadable) + ``latest`` pointer;
                  compact training-weights files for warm starts (``--init``)
- ``rundir``      the run directory: config.toml, log.csv, sample dumps, resume checks
- ``guidance``, ``motion_priors``  the extra generator terms, each with its log columns
- ``distributed`` torchrun process group, gradient averaging
- ``export``      a run's generator → safetensors + model card
"""

from kinetic_gan.train.config import (
    TrainConfig,
    apply_overrides,
    load_config,
    packaged_configs,
)
from kinetic_gan.train.loop import TrainSummary, train

__all__ = [
    "TrainConfig",
    "TrainSummary",
    "apply_overrides",
    "load_config",
    "packaged_configs",
    "train",
]
