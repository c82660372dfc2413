"""Training-step speed: seconds per iteration and peak RSS (prints figures; asserts nothing).

    python benchmarks/train.py                      # CPU, 2 threads, batch 32, NTU-60 mlp4, T=64
    python benchmarks/train.py --device cuda        # the same on a GPU (bf16 autocast)
    python benchmarks/train.py --amp bf16           # CPU with bf16 autocast (AVX512-BF16/AMX)
    python benchmarks/train.py --step published     # the published step's structure, same models

On CUDA it also times the whole iteration as the trainer runs it (n_critic critic updates,
the generator update and the EMA), eagerly and replayed as one CUDA graph.

A *full iteration* is one critic update plus one generator update (how the published code's
reference was measured: 2.74 s = critic 2.09 + generator 0.59 on the 2-core CPU machine);
*per batch over the n_critic schedule* is (n_critic · critic + generator) / n_critic (2.21 s).
``--step published`` reproduces what the published training step does, with our models:
the fakes keep their generator graph in the critic update (d_loss.backward() runs through the
generator too), real and fake go through the critic separately, and the generator update also
computes the critic's weight gradients.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time

import torch

from kinetic_gan.nn import Critic, Generator
from kinetic_gan.train.cuda_graph import GraphedStep
from kinetic_gan.train.step import TrainStep
from kinetic_gan.train.wgan_gp import EMA, critic_step, generator_step, gradient_penalty


def published_critic_step(g, d, opt_d, real, labels, *, latent_dim, lambda_gp, autocast,
                          sync_grads):
    z = torch.randn(real.shape[0], latent_dim, device=real.device)
    opt_d.zero_grad()
    with autocast():
        fake = g(z, labels)
        d_real = d(real, labels)
        d_fake = d(fake, labels)
        gp = gradient_penalty(d, real.detach(), fake.detach(), labels)
        loss = -d_real.float().mean() + d_fake.float().mean() + lambda_gp * gp
    loss.backward()
    opt_d.step()
    return loss


def published_generator_step(g, d, opt_g, labels, *, latent_dim, autocast, sync_grads):
    z = torch.randn(labels.shape[0], latent_dim, device=labels.device)
    opt_g.zero_grad()
    with autocast():
        loss = -d(g(z, labels), labels).float().mean()
    loss.backward()
    opt_g.step()
    return loss


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (set_num_threads)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--classes", type=int, default=60)
    parser.add_argument("--mapping-depth", type=int, default=4)
    parser.add_argument("--skeleton", default="ntu")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                        help="auto: bf16 autocast on CUDA; bf16: also on the CPU")
    parser.add_argument("--step", choices=("ours", "published"), default="ours")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")

    def autocast():
        return (torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16
                else contextlib.nullcontext())

    def sync() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    torch.manual_seed(0)
    g = Generator(args.classes, skeleton=args.skeleton, frames=args.frames,
                  mapping_depth=args.mapping_depth).to(device).train()
    d = Critic(args.classes, skeleton=args.skeleton, frames=args.frames).to(device).train()
    fused = True if device.type == "cuda" else None
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    joints = g.noise_shapes(1)[-1][-1]
    real = (torch.rand(args.batch, g.channels, args.frames, joints) * 2 - 1).to(device)
    labels = torch.randint(0, args.classes, (args.batch,), device=device)
    c_step, g_step = ((critic_step, generator_step) if args.step == "ours"
                      else (published_critic_step, published_generator_step))

    def noop() -> None:
        return None

    critic_times, generator_times = [], []
    for i in range(args.warmup + args.repeats):
        t0 = sync()
        c_step(g, d, opt_d, real, labels, latent_dim=g.latent_dim, lambda_gp=10.0,
               autocast=autocast, sync_grads=noop)
        t1 = sync()
        g_step(g, d, opt_g, labels, latent_dim=g.latent_dim, autocast=autocast, sync_grads=noop)
        t2 = sync()
        if i >= args.warmup:
            critic_times.append(t1 - t0)
            generator_times.append(t2 - t1)

    # The median is the honest figure; the minimum shows the cost without interference from
    # other processes on a shared machine.
    critic_s = statistics.median(critic_times)
    generator_s = statistics.median(generator_times)
    full = [c + g for c, g in zip(critic_times, generator_times, strict=True)]
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"device: {where}; torch {torch.__version__}; step: {args.step}; "
          f"batch {args.batch}, {args.classes} classes, mlp{args.mapping_depth}, "
          f"T={args.frames}, {'bf16 autocast' if use_bf16 else 'float32'}")
    print(f"critic update       {critic_s:8.4f} s")
    print(f"generator update    {generator_s:8.4f} s")
    print(f"full iteration      {critic_s + generator_s:8.4f} s   (critic + generator; "
          f"fastest {min(full):.4f} s)")
    print(f"per batch, n_critic={args.n_critic} schedule "
          f"{(args.n_critic * critic_s + generator_s) / args.n_critic:8.4f} s")
    print(f"peak RSS            {peak_rss_mib():8.0f} MiB")
    if device.type == "cuda":
        print(f"peak CUDA memory    {torch.cuda.max_memory_allocated(device) / 2**20:8.0f} MiB")
        eager, graphed = whole_iteration_seconds(args, device, use_bf16)
        print(f"whole iteration, n_critic={args.n_critic} + generator + EMA: eager "
              f"{eager:.4f} s, CUDA graph {graphed:.4f} s ({eager / graphed:.1f}x)")
    return 0


def whole_iteration_seconds(args: argparse.Namespace, device: torch.device,
                            use_bf16: bool) -> tuple[float, float]:
    """Median seconds per trainer iteration, eager and as a replayed CUDA graph."""
    return (iteration_seconds(args, device, use_bf16, graphs=False),
            iteration_seconds(args, device, use_bf16, graphs=True))


def iteration_seconds(args: argparse.Namespace, device: torch.device, use_bf16: bool, *,
                      graphs: bool, warmup: int = 5) -> float:
    """Median seconds per trainer iteration (``graphs``: captured once, then replayed)."""
    torch.manual_seed(0)
    g = Generator(args.classes, skeleton=args.skeleton, frames=args.frames,
                  mapping_depth=args.mapping_depth).to(device).train()
    d = Critic(args.classes, skeleton=args.skeleton, frames=args.frames).to(device).train()
    fused = True if device.type == "cuda" else None
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused,
                                     capturable=graphs) for m in (g, d))

    def autocast() -> contextlib.AbstractContextManager:
        return (torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not graphs)
                if use_bf16 else contextlib.nullcontext())

    def sync() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    step = TrainStep(g, g, d, opt_g, opt_d, EMA(g, 0.999), latent_dim=g.latent_dim,
                     lambda_gp=10.0, autocast=autocast)
    run = GraphedStep(step, [g, d]) if graphs else step
    joints = g.noise_shapes(1)[-1][-1]
    reals = [(torch.rand(args.batch, g.channels, args.frames, joints, device=device) * 2 - 1)
             for _ in range(args.n_critic)]
    labels = [torch.randint(0, args.classes, (args.batch,), device=device)
              for _ in range(args.n_critic)]
    times = []
    for i in range(warmup + 3 * args.repeats):
        t0 = sync()
        run(reals, labels)
        t1 = sync()
        if i >= warmup:
            times.append(t1 - t0)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
