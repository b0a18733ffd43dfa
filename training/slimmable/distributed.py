"""Data parallelism with torch.distributed, set up from the torchrun environment contract
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) with ``init_method="env://"``.

We all-reduce gradients by hand instead of wrapping the model in DistributedDataParallel: a slimmable
step runs several forward/backward passes (one per width, each using a different private BN), and a
single explicit reduction after the last one is simpler and exact.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(backend: str | None = None) -> Context:
    """Join the process group when launched with WORLD_SIZE > 1 (gloo on CPU, nccl on GPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if world_size <= 1:
        return Context(device=device)
    if use_cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"), init_method="env://")
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)


def teardown(ctx: Context) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_model(model: nn.Module, ctx: Context) -> None:
    if ctx.enabled:
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(model: nn.Module, ctx: Context) -> None:
    if not ctx.enabled:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average_buffers(model: nn.Module, ctx: Context) -> None:
    """Average BN running statistics so every rank (and the checkpoint) holds the same model."""
    if not ctx.enabled:
        return
    for buffer in model.buffers():
        if buffer.dtype.is_floating_point:
            dist.all_reduce(buffer.data)
            buffer.data /= ctx.world_size


def sum_tensor(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    if ctx.enabled:
        dist.all_reduce(values)
    return values
