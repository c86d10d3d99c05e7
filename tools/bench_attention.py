"""Chapter 4.6 at sizes too large for the notebook: the teaching attention vs PyTorch's fused kernel.

The measurement is the attention row of `make bench` (tools/bench.py), run alone at the sizes
you choose: the forward time (median of --repeat interleaved rounds; lengths above 1,024 get
two rounds fewer, at least one) and the peak memory of `attention_course.scaled_dot_product_attention`
(it stores the n x n weights) and of `torch.nn.functional.scaled_dot_product_attention` (a fused
kernel), for B x h heads of width d and several sequence lengths n. Peak memory: the CUDA
allocator's peak on a GPU, the CPU profiler's running total of tensor allocations on a CPU.
Prints a Markdown table.

    python tools/bench_attention.py                          # B 8, h 8, d 64, n 256 .. 4096 (needs ~9 GB)
    python tools/bench_attention.py --lengths 512 1024 --device cuda
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import bench_attention  # noqa: E402

TEACHING, FUSED = "teaching scaled_dot_product_attention", "F.scaled_dot_product_attention"


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
    print(f"B={args.batch}, h={args.heads}, d={args.width}, float32, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    result = bench_attention(device, args.lengths, args.batch, args.heads, args.width, args.repeat,
                             implementations=[TEACHING, FUSED], backward=False, progress=lambda *_: None)
    rows = {(r["n"], r["implementation"]): r for r in result["rows"]}
    print("| n | teaching ms | fused ms | teaching MiB | fused MiB |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.lengths:
        teaching, fused = rows[n, TEACHING], rows[n, FUSED]
        print(f"| {n:,} | {teaching['ms']:.1f} | {fused['ms']:.1f} | "
              f"{teaching['peak_mib']:,.0f} | {fused['peak_mib']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
