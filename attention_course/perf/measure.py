"""Measuring helpers that teach nothing: wall-clock time and peak tensor memory."""

import math
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile


def _synchronize(device):
    """Wait for the work queued on a GPU (it runs asynchronously)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def best_seconds(fn, device="cpu", repeat=5):
    """Best of `repeat` wall-clock timings of fn(), after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_mib(fn, device="cpu"):
    """Largest total size of the tensors that fn() holds at once, in MiB.

    On an NVIDIA GPU: the CUDA allocator's peak. On a CPU: the running total of the
    tensor allocations and frees that torch's profiler records, at its highest point.
    On an Apple GPU (MPS) PyTorch keeps no peak: NaN.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    if device.type != "cpu":
        fn()
        return math.nan
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    # the profiler logs "profiler_start/stop" straight to stderr: silence it
    os.dup2(devnull, 2)
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    changes = sorted(
        (e.time_range.start,
         e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
        for e in prof.events()
    )
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return peak / 2**20
