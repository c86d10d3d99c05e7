"""Measuring helpers that teach nothing: wall-clock time (torch.utils.benchmark) and peak
tensor memory.

Timing is torch.utils.benchmark's `Timer.blocked_autorange`: it warms up, groups calls in
blocks long enough for the timer's own cost to vanish, runs under a set number of torch
threads and synchronises the accelerator (CUDA or MPS) before reading the clock, so queued
GPU work is counted. What this module adds is the interleaving of candidates that are
compared: `interleaved_rounds` and `interleaved_medians`.
"""

import math
import os
import statistics
from collections.abc import Callable, Iterator, Mapping

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils import benchmark


def _check_timing(min_run_time, threads):
    """Raise ValueError for a non-positive `min_run_time` or a thread count below 1."""
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be > 0 seconds, got {min_run_time!r}")
    for count in threads:
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError(f"num_threads must be an int >= 1 or None, got {count!r}")


def _timer(fn, num_threads):
    """A torch.utils.benchmark Timer for fn() on `num_threads` torch threads (None: the
    current number; Timer's own default would be 1)."""
    threads = torch.get_num_threads() if num_threads is None else num_threads
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)


def median_seconds(fn: Callable[[], object], *, min_run_time: float = 0.2,
                   num_threads: int | None = None) -> float:
    """Median wall-clock seconds of one call of fn(), measured by torch.utils.benchmark.

    `Timer.blocked_autorange` warms up, picks how many calls to time per block so that the
    timer's own cost is negligible, and times blocks for at least `min_run_time` seconds;
    it synchronises the accelerator (CUDA or MPS), so queued GPU work is counted.

    Args:
        fn: a callable without arguments.
        min_run_time: seconds to spend measuring, warm-up not counted (more gives a
            steadier median).
        num_threads: torch threads to use while measuring (default: the current number).
    Returns:
        Seconds per call: the median over the timed blocks of a block's time divided by
        its number of calls.
    Raises:
        ValueError: if `min_run_time` is not positive or `num_threads` is below 1.
    """
    _check_timing(min_run_time, [num_threads])
    return _timer(fn, num_threads).blocked_autorange(min_run_time=min_run_time).median


def interleaved_rounds(candidates: Mapping[str, Callable[[], object]], *,
                       rounds: int | None = None, min_run_time: float = 0.05,
                       num_threads: int | Mapping[str, int] | None = None,
                       ) -> Iterator[dict[str, float]]:
    """Rounds of timing in which every candidate is timed once, one after the other.

    In each round each candidate in turn gets a `Timer.blocked_autorange` (a short warm-up,
    then at least `min_run_time` seconds of timed blocks), so that a change in the machine's
    load hits all candidates alike. The caller sees every round as it ends, and may stop
    at any round (for instance to keep only the rounds measured while the machine was
    quiet).

    Args:
        candidates: name -> callable without arguments; timed in this order.
        rounds: how many rounds to run; None: as many as the caller takes.
        min_run_time: seconds per candidate per round, warm-up not counted.
        num_threads: torch threads while timing: one count for all candidates, a mapping
            name -> count (for comparing thread counts), or None for the current number.
    Returns:
        An iterator of rounds: each a dict name -> seconds per call, the median over that
        round's blocks.
    Raises:
        ValueError: if there are no candidates, `rounds` < 1, `min_run_time` is not
            positive, a thread count is below 1, or the mapping `num_threads` misses a
            candidate.
    """
    if not candidates or (rounds is not None and rounds < 1):
        raise ValueError(f"need at least one candidate and rounds >= 1, got "
                         f"{len(candidates)} candidates and rounds={rounds}")
    if isinstance(num_threads, Mapping):
        missing = [name for name in candidates if name not in num_threads]
        if missing:
            raise ValueError(f"num_threads has no thread count for {missing}")
        threads = {name: num_threads[name] for name in candidates}
    else:
        threads = dict.fromkeys(candidates, num_threads)
    _check_timing(min_run_time, threads.values())
    timers = {name: _timer(fn, threads[name]) for name, fn in candidates.items()}

    def run():
        done = 0
        while rounds is None or done < rounds:
            yield {name: timer.blocked_autorange(min_run_time=min_run_time).median
                   for name, timer in timers.items()}
            done += 1

    return run()


def interleaved_medians(candidates: Mapping[str, Callable[[], object]], *, rounds: int = 5,
                        min_run_time: float = 0.05,
                        num_threads: int | Mapping[str, int] | None = None,
                        ) -> dict[str, float]:
    """Median seconds per call of each candidate, timed side by side round after round.

    The rounds of `interleaved_rounds`: a change in the machine's load hits all
    candidates alike, so a ratio of two results is steadier than either time.

    Args:
        candidates: name -> callable without arguments.
        rounds: rounds of measurement (each candidate gets one median per round).
        min_run_time: seconds per candidate per round, warm-up not counted.
        num_threads: torch threads while timing: one count for all, a mapping name ->
            count, or None for the current number.
    Returns:
        name -> seconds per call: the median over rounds of the per-round medians.
    Raises:
        ValueError: if there are no candidates, `rounds` < 1, `min_run_time` is not
            positive or a thread count is below 1 or missing.
    """
    samples = {name: [] for name in candidates}
    for seconds in interleaved_rounds(candidates, rounds=rounds, min_run_time=min_run_time,
                                      num_threads=num_threads):
        for name, value in seconds.items():
            samples[name].append(value)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_memory_mib(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Largest total size of the tensors that one call of fn() holds at once, in MiB.

    On an NVIDIA GPU: the CUDA allocator's peak during the call, less what was allocated
    before it. On a CPU: the running total of the tensor allocations and frees that
    torch's profiler records during the call, at its highest point. On an Apple GPU (MPS)
    PyTorch keeps no peak: the call runs and the result is NaN.

    Args:
        fn: a callable without arguments; it is called once.
        device: the device fn computes on ("cpu", "cuda", "cuda:1", "mps" or a
            torch.device).
    Returns:
        Peak MiB (2**20 bytes) held by tensors during the call, or NaN on other devices.
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
