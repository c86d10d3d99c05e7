"""The attention course package: code the notebooks teach, exported from them, plus helpers.

Helpers written here directly (they teach nothing): `get_device`, `set_seed`, `use_course_style`
and the plotting module. Everything else is exported from a chapter notebook by `make export`.
"""

from .attention import *  # noqa: F403  (chapters 4.2, 4.3)
from .bottleneck import *  # noqa: F403  (chapter 4.1)
from .plotting import ATTENTION_CMAP, plot_attention, use_course_style
from .utils import describe_device, get_device, set_seed

__version__ = "0.1.0"
