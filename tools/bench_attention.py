"""Chapter 4.6 at sizes too large for the notebook: the teaching attention vs PyTorch's fused kernel.

Measures the forward time (best of --repeat) and the peak memory of
`attention_course.scaled_dot_product_attention` (it stores the n x n weights) and of
`torch.nn.functional.scaled_dot_product_attention` (a fused kernel) for B x h heads of width d
and several sequence lengths n. Peak memory: the CUDA allocator's peak on a GPU, the CPU
profiler's running total of tensor allocations on a CPU. Prints a Markdown table.

    python tools/bench_attention.py                          # B 8, h 8, d 64, n 256 .. 4096 (needs ~9 GB)
    python tools/bench_attention.py --lengths 512 1024 --device cuda
"""

import argparse
import os
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from attention_course import scaled_dot_product_attention


def peak_memory_mib(fn, device):
    """Largest total size of the tensors that `fn` holds at once, in MiB."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the profiler logs "profiler_start/stop" straight to stderr: silence it
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    changes = sorted(
        (e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
        for e in prof.events()
    )
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return peak / 2**20


def seconds(fn, device, repeat):
    """Best of `repeat` wall-clock timings after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    implementations = {
        "teaching": lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
        "fused": F.scaled_dot_product_attention,
    }
    print(f"B={args.batch}, h={args.heads}, d={args.width}, float32, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    print("| n | teaching ms | fused ms | teaching MiB | fused MiB |")
    print("|---:|---:|---:|---:|---:|")
    with torch.no_grad():
        for n in args.lengths:
            q, k, v = torch.randn(3, args.batch, args.heads, n, args.width, device=device).unbind(0)
            row = {}
            for name, fn in implementations.items():
                call = lambda fn=fn, q=q, k=k, v=v: fn(q, k, v)  # noqa: E731
                row[name] = (1e3 * seconds(call, device, args.repeat), peak_memory_mib(call, device))
            print(f"| {n:,} | {row['teaching'][0]:.1f} | {row['fused'][0]:.1f} | "
                  f"{row['teaching'][1]:,.0f} | {row['fused'][1]:,.0f} |", flush=True)
            del q, k, v


if __name__ == "__main__":
    main()
