"""Every exit code of bria-pipeline, in one place.

    0    success: the command did what was asked (plan: also "changes present" without
         --detailed-exitcode)
    1    error: a bad spec, a bad option or argument, a missing token, an API error, a failed
         step; in a run over several specs, at least one spec failed
    2    changes present, only with --detailed-exitcode: `plan` found something to change,
         `apply` changed something
    130  interrupted (Ctrl-C, or a prompt aborted): every finished step is recorded; run the
         same command again to go on

Usage errors (an unknown option, a missing argument) exit 1 like every other error, not 2 as
click's default would, so a script reading --detailed-exitcode never mistakes a typo for
"changes present". When several specs run, the exit code is the worst of theirs:
130 > 1 > 2 > 0.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130

_RANK = {EXIT_OK: 0, EXIT_CHANGES: 1, EXIT_ERROR: 2, EXIT_INTERRUPTED: 3}


def worst(codes: Iterable[int]) -> int:
    """The code that wins when several specs ran: interrupted, then error, then changes, then ok."""
    return max(codes, key=lambda code: _RANK.get(code, _RANK[EXIT_ERROR]), default=EXIT_OK)
