"""Commands in hints work as printed: they carry the options of the run that printed them.

Every hint that names a command writes it plainly, ``bria-pipeline refresh SPEC``, wherever the
hint is made (an API error, a state error, a command's own message). When the command line
prints it (`terminal.Diagnostics`, or `echo` for a command's own result lines), `complete`
rewrites each such command once, the same way for every message:

- the global options the run was given on its command line go right after ``bria-pipeline``
  (``--sandbox``, ``--api-url URL``): followed without them, a hint would run against another
  API, or fail for want of a token;
- the run's options that choose what a spec means and where its state lives (``--backend URL``,
  ``--var``, ``--var-file``, ``--allow-outside``) go after the command's name, when that
  command takes them and the hint does not give them already;
- the placeholder ``SPEC`` becomes the spec the run was given, when it was given one.

Options that only change how the output looks (-v, --no-color, --log-format) are not carried.
What came from the environment is not repeated either: the shell that ran the first command
still has it.

    error: the state in .bria/state.json belongs to another spec: ...
      hint: run `bria-pipeline --sandbox refresh --var-file prod.yaml specs/lucy.yaml` ...
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# the commands a hint can name, and the groups whose next word is the command's own name
COMMAND_NAMES = ("validate", "init", "schema", "plan", "apply", "destroy", "show", "refresh", "import", "review",
                 "sandbox", "pull", "force-unlock", "state", "output", "help")
GROUPS = ("state", "sandbox", "help")
# options a carried value is only given to commands that take it (by their name)
TAKES = {
    "--backend": ("plan", "apply", "destroy", "show", "refresh", "import", "pull", "force-unlock", "state push",
                  "output"),
    "--var": ("validate", "plan", "apply", "destroy", "show", "refresh", "import", "review", "pull", "state push",
              "output", "force-unlock"),
}
TAKES["--var-file"] = TAKES["--var"]
TAKES["--allow-outside"] = TAKES["--var"]
NO_GLOBALS = ("init", "schema", "help", "sandbox")  # never a spec's API: nothing to carry

_COMMAND = re.compile(r"(?<![\w./\[-])bria-pipeline( (?:%s)(?: [a-z][a-z-]*)?)(?![\w-])"
                      % "|".join(re.escape(n) for n in COMMAND_NAMES))
_END = re.compile(r"`|;|\n|, | \(|\)|\. |\.$|:\s")  # where a command written in a sentence ends


@dataclass
class Carried:
    """What the run was given on its command line that a hinted command needs too."""

    before: list[str] = field(default_factory=list)  # global options: after `bria-pipeline`
    after: dict[str, list[str]] = field(default_factory=dict)  # command options by flag: after the command
    spec: str | None = None  # the one spec the run was given (for SPEC)

    def set_global(self, flag: str, value: str | None = None) -> None:
        self._drop(self.before, flag)
        self.before += [flag] if value is None else [flag, value]

    def add_option(self, flag: str, values: Iterable[str] | None = None) -> None:
        """--backend URL, --var NAME=VALUE ... (each value its own --flag), or a flag alone."""
        self.after[flag] = [flag] if values is None else [token for v in values for token in (flag, v)]

    @staticmethod
    def _drop(tokens: list[str], flag: str) -> None:
        if flag in tokens:
            at = tokens.index(flag)
            del tokens[at: at + (2 if at + 1 < len(tokens) and not tokens[at + 1].startswith("-") else 1)]

    def complete(self, text: str | None) -> str | None:
        """`text` with every ``bria-pipeline COMMAND`` in it completed (see the module's doc)."""
        if not text or "bria-pipeline" not in text:
            return text
        out: list[str] = []
        done = 0
        for match in _COMMAND.finditer(text):
            if match.start() < done:
                continue
            words = match.group(1).split()
            if words[0] not in GROUPS:
                words = words[:1]  # the next word is the command's argument, not a subcommand
            end_words = match.start(1) + 1 + len(" ".join(words))
            tail_end = end_words + _end_of(text[end_words:])
            tail = text[end_words:tail_end]
            out += [text[done:match.start()], self._command(words, tail)]
            done = tail_end
        out.append(text[done:])
        return "".join(out)

    def _command(self, words: list[str], tail: str) -> str:
        """``bria-pipeline [globals] COMMAND [carried options]`` + the hint's own arguments."""
        name = " ".join(words)
        given = set(tail.split())
        parts = ["bria-pipeline"]
        if words[0] not in NO_GLOBALS:
            parts += _without_given(self.before, given)
        parts += words
        for flag, tokens in self.after.items():
            if flag not in given and name in TAKES.get(flag, ()):
                parts += [_quote(t) for t in tokens]
        if self.spec is not None:
            tail = _SPEC.sub(lambda _: _quote(self.spec or "SPEC"), tail)
        return " ".join(parts) + tail


_SPEC = re.compile(r"(?<![\w./-])SPEC(?![\w./-])")


def _end_of(tail: str) -> int:
    found = _END.search(tail)
    return found.start() if found else len(tail)


def _without_given(tokens: Sequence[str], given: set[str]) -> list[str]:
    """The global option tokens, quoted, minus the flags the hint already gives itself."""
    out: list[str] = []
    skip = False
    for index, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        if token.startswith("-") and token in given:
            skip = index + 1 < len(tokens) and not tokens[index + 1].startswith("-")
            continue
        out.append(_quote(token))
    return out


def _quote(token: str) -> str:
    return shlex.quote(token)
