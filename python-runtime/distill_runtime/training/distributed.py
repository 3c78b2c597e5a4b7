"""Data-parallel training when the train job runs under `torchrun` or `accelerate launch` (their WORLD_SIZE, RANK and
LOCAL_RANK variables); one process alone is a world of one and nothing here changes what it does.

Each optimizer step's micro-batches are shared out (rank r takes micro-batches r, r + world, ...), every rank's loss is
divided by the step's target tokens summed over all ranks, and the LoRA gradients are summed across ranks before
clipping: the same step the single process takes, up to the order of float additions. The gradients are summed by hand
(all_reduce) rather than through DistributedDataParallel's wrapper because the recipe's loss runs the decoder and the
lm_head directly (target_loss_sum), not the wrapped module's forward, which DDP's reducer relies on. Rank 0 alone
writes events, checkpoints and the adapter; NCCL on CUDA (one GPU per process), gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import JobError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, items: list[Any]) -> list[Any]:
        return items[self.rank :: self.size]


def launched_world() -> World:
    return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def pick_local_device(device_setting: str) -> None:
    """Under a launcher on CUDA, this process's GPU is LOCAL_RANK's (before anything lands on cuda:0)."""
    import torch

    if launched_world().size > 1 and device_setting != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def start(device_type: str, grad_accum_steps: int) -> World:
    import torch.distributed as dist

    world = launched_world()
    if world.size == 1:
        return world
    if grad_accum_steps % world.size:
        raise JobError(
            "config",
            f"grad_accum_steps={grad_accum_steps} cannot be shared evenly by {world.size} processes",
            f"make grad_accum_steps a multiple of {world.size}",
        )
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return world


def sum_gradients(world: World, params: list[Any]) -> None:
    import torch
    import torch.distributed as dist

    if world.size == 1:
        return
    for p in params:
        if p.grad is None:  # a rank whose micro-batches never reached this parameter still takes part
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def sum_number(world: World, value: float, device: Any) -> float:
    import torch
    import torch.distributed as dist

    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def barrier(world: World) -> None:
    import torch.distributed as dist

    if world.size > 1:
        dist.barrier()


def finish(world: World) -> None:
    import torch.distributed as dist

    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
