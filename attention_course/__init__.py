"""The attention course package: code the notebooks teach (exported from them), helpers.

Helpers written here directly (they teach nothing): `get_device`, `set_seed`,
`use_course_style`, `progress_bar` and the plotting module. Everything else is exported
from a chapter notebook by `make export`.
"""

from . import numpy_attention  # noqa: F401  (chapter 4.3)
from .attention import *  # noqa: F403  (chapters 4.2, 4.3)
from .bottleneck import *  # noqa: F403  (chapter 4.1)
from .dates import *  # noqa: F403  (chapter 4.5)
from .interpret import *  # noqa: F403  (chapter 4.4)
from .plotting import ATTENTION_CMAP, add_colorbar, plot_attention, use_course_style
from .self_attention import *  # noqa: F403  (chapter 4.6)
from .utils import describe_device, get_device, progress_bar, set_seed

__version__ = "0.1.0"
