"""Self-checks for the exercises: each raises AssertionError with a plain-words message.

One module per exercise (`ex4_1` ... `ex4_6`), the helpers they share in `_common`. A
graded nbgrader test cell earns its points when it does not raise, so every check raises
on a wrong (or missing) answer and says what is off; it never crashes on an answer it
did not expect. Tests in tests/test_checks.py run each check against plausible wrong
implementations and assert that it rejects them.

The exercises import the checks from here (`from attention_course.checks import
check_chrf`): every name below stays importable from this package.
"""

from ._common import needs_answers, passed
from .ex4_1 import (
    CHRF_CASES,
    CHRF_SETTINGS,
    RESULT_KEYS,
    check_chrf,
    check_comparison,
    check_experiment,
)
from .ex4_2 import check_collect_attention, check_head_statistics, check_show_attention
from .ex4_3 import check_sentiment_accuracy, check_sentiment_model
from .ex4_4 import (
    BUCKETS,
    check_attention_entropy,
    check_length_findings,
    check_length_report,
)
from .ex4_5 import check_attention_dropout, check_dropout_sweep
from .ex4_6 import (
    check_heads_specialise,
    check_merge_heads,
    check_multi_head_attention,
    check_split_heads,
)

__all__ = [
    # shared: a given cell that uses the answers, and the good news of a check
    "needs_answers",
    "passed",
    # exercise 4.1: Bahdanau vs Luong on the same data
    "CHRF_CASES",
    "CHRF_SETTINGS",
    "RESULT_KEYS",
    "check_chrf",
    "check_comparison",
    "check_experiment",
    # exercise 4.2: an attention visualisation tool
    "check_collect_attention",
    "check_head_statistics",
    "check_show_attention",
    # exercise 4.3: sentiment classification with self-attention
    "check_sentiment_accuracy",
    "check_sentiment_model",
    # exercise 4.4: attention and sequence length
    "BUCKETS",
    "check_attention_entropy",
    "check_length_findings",
    "check_length_report",
    # exercise 4.5: attention dropout
    "check_attention_dropout",
    "check_dropout_sweep",
    # exercise 4.6: multi-head attention
    "check_heads_specialise",
    "check_merge_heads",
    "check_multi_head_attention",
    "check_split_heads",
]
