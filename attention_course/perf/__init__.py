"""Measurement, apart from what the course teaches.

- `layouts`: additive attention laid out the slow ways, only to compare speed with
  `BahdanauAttention` (chapter 4.3).
- `measure`: wall-clock time with torch.utils.benchmark (`median_seconds`; candidates
  timed side by side in interleaved rounds: `interleaved_rounds`, `interleaved_medians`)
  and peak tensor memory (`peak_memory_mib`).
"""
