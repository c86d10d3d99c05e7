"""The attention course package: the code the notebooks teach, and helpers.

Mechanisms: `attention` (chapters 4.2-4.3, generated into `bahdanau` and
`luong`), `self_attention` (4.6), `numpy_attention` (4.3). Tasks:
`tasks.reversal` (4.1), `tasks.dates` (4.5), `tasks.sentiment` (4.6). Analysis:
`interpret` (4.4) and `plotting`. Measurement: `perf`. Exercise checks: `checks`.
Helpers that teach nothing: `utils`.

Every name below stays importable from the package root; new code imports from
the module, so that a call site says which chapter the code comes from.
"""

from . import numpy_attention, plotting, utils
from .attention import (
    LUONG_SCORES,
    AttentionBase,
    AttentionDecoder,
    BahdanauAttention,
    LocalPAttention,
    LuongAttention,
    LuongDecoder,
    additive_score,
    attention_entropy,
    masked_softmax,
)
from .interpret import (
    OUTPUT_FIELDS,
    REPLACEMENTS,
    ReplacedAttention,
    alignment_mask,
    alignment_scores,
    date_alignment,
    date_scores,
    max_weight,
    positions_above,
    replace_weights,
    source_fields,
    step_output_change,
)
from .plotting import (
    ATTENTION_CMAP,
    add_colorbar,
    attention_explorer,
    attention_figure,
    attention_figure_html,
    plot_attention,
    use_course_style,
)
from .self_attention import (
    AttentionPooling,
    MultiHeadAttention,
    SelfAttentionHead,
    merge_heads,
    scaled_dot_product_attention,
    single_heads,
    split_heads,
)
from .tasks import dates, reversal, sentiment
from .tasks.dates import (
    ATTENTION_KINDS,
    CHECKPOINT_FORMAT,
    DECODERS,
    DEFAULT_CHECKPOINT,
    FORMATS,
    LOCAL_KINDS,
    MONTHS,
    SPECIALS,
    WEEKDAYS,
    CharVocab,
    DateBatch,
    DateEncoder,
    DateSeq2Seq,
    FixedContext,
    Translator,
    beam_search,
    collate_dates,
    date_loader,
    exact_match,
    exact_match_by_format,
    generate_dates,
    greedy_decode,
    load_checkpoint,
    make_attention,
    normalize_source,
    pad_batch,
    render_date,
    save_checkpoint,
    sequence_loss,
    split_dates,
    steps_to,
    train_dates,
    translate_batch,
)
from .tasks.reversal import (
    SOS,
    VOCAB_SIZE,
    Decoder,
    Encoder,
    Seq2Seq,
    dot_product_attention,
    make_reversal_batch,
    reversal_accuracy,
    train_reversal,
)
from .tasks.sentiment import (
    MOVIE_REVIEWS_FILE,
    PAD,
    POOLINGS,
    TOKEN_PATTERN,
    UNK,
    BiLSTMClassifier,
    build_vocab,
    classifier_accuracy,
    encode_texts,
    load_movie_reviews,
    movie_review_splits,
    tokenize,
    train_classifier,
)
from .utils import describe_device, get_device, progress_bar, set_seed

#: The chapter 4.1 task's module under its name before the tasks/ subpackage.
bottleneck = reversal

__version__ = "0.1.0"
