"""Measuring helpers that teach nothing: wall-clock time (torch.utils.benchmark) and peak
tensor memory."""

import math
import os
import statistics
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils import benchmark


def _timer(fn, num_threads):
    """A torch.utils.benchmark Timer for fn() (it synchronises CUDA around each block)."""
    threads = torch.get_num_threads() if num_threads is None else num_threads
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)


def median_seconds(fn: Callable[[], object], *, min_run_time: float = 0.2,
                   num_threads: int | None = None) -> float:
    """Median wall-clock seconds of one call of fn(), measured by torch.utils.benchmark.

    `Timer.blocked_autorange` warms up, picks how many calls to time per block so that the
    timer's own cost is negligible, and times blocks for at least `min_run_time` seconds;
    it synchronises CUDA, so queued GPU work is counted.

    Args:
        fn: a callable without arguments.
        min_run_time: seconds to spend measuring (more gives a steadier median).
        num_threads: torch threads to use while measuring (default: the current number).
    Returns:
        Seconds per call (the median over the timed blocks).
    """
    return _timer(fn, num_threads).blocked_autorange(min_run_time=min_run_time).median


def interleaved_medians(candidates: dict[str, Callable[[], object]], *, rounds: int = 5,
                        min_run_time: float = 0.05,
                        num_threads: int | None = None) -> dict[str, float]:
    """Median seconds per call of each candidate, timed side by side round after round.

    Every round times every candidate once (`Timer.blocked_autorange`, at least
    `min_run_time` seconds each), in turn, so that a change in the machine's load hits all
    candidates alike; a ratio of two results is then steadier than either time.

    Args:
        candidates: name -> callable without arguments.
        rounds: rounds of measurement (each candidate gets one median per round).
        min_run_time: seconds per candidate per round.
        num_threads: torch threads to use while measuring (default: the current number).
    Returns:
        name -> seconds per call: the median over rounds of the per-round medians.
    Raises:
        ValueError: if there are no candidates or `rounds` < 1.
    """
    if not candidates or rounds < 1:
        raise ValueError(f"need at least one candidate and rounds >= 1, got "
                         f"{len(candidates)} candidates and rounds={rounds}")
    timers = {name: _timer(fn, num_threads) for name, fn in candidates.items()}
    samples = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, timer in timers.items():
            samples[name].append(timer.blocked_autorange(min_run_time=min_run_time).median)
    return {name: statistics.median(values) for name, values in samples.items()}


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
