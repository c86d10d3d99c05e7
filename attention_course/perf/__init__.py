"""Measurement, apart from what the course teaches.

- `layouts`: additive attention laid out the slow ways, only to compare speed with
  `BahdanauAttention` (chapter 4.3).
- `measure`: wall-clock time and peak tensor memory.
"""
