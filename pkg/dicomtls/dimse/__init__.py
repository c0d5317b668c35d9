"""DIMSE (PS3.7): command sets, C-*/N-* messages, status codes, PDV fragmentation.

Pure Python and sans-IO: bytes and PDVs in, messages and fragments out. The data set of a
message is never decoded here; it is passed through as memoryviews for the caller to stream.

Every public name of ``commands``, ``messages``, ``status`` and ``fragments`` is re-exported here.
"""

from . import commands, fragments, messages, status  # noqa: F401
from .commands import *  # noqa: F401,F403
from .fragments import *  # noqa: F401,F403
from .messages import *  # noqa: F401,F403
from .status import *  # noqa: F401,F403

__all__ = sorted({*commands.__all__, *fragments.__all__, *messages.__all__, *status.__all__})
