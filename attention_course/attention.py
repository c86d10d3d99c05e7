"""Attention over an encoder's states, the mechanisms of chapters 4.2 and 4.3.

One import for the recurrent-attention mechanisms: the masked softmax, the additive
score (Bahdanau) and the multiplicative scores (Luong), the attention modules, Luong's
local-p attention, Bahdanau's decoder (which takes any of them) and Luong's decoder,
and the entropy of attention weights. The code is generated from the notebooks that
teach it: `attention_course.bahdanau` from chapter 4.2, `attention_course.luong` from
chapter 4.3 (edit the notebook, then run `make export`).
"""

from .bahdanau import (
    AttentionBase,
    AttentionDecoder,
    BahdanauAttention,
    additive_score,
    attention_entropy,
    masked_softmax,
)
from .luong import LUONG_SCORES, LocalPAttention, LuongAttention, LuongDecoder

__all__ = [
    "masked_softmax",
    "AttentionBase",
    "additive_score",
    "BahdanauAttention",
    "LuongAttention",
    "LUONG_SCORES",
    "LocalPAttention",
    "AttentionDecoder",
    "LuongDecoder",
    "attention_entropy",
]
