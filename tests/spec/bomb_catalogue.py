"""Templates that try to take the validator down, with the refusal each must get.

Shared by tests/spec/test_template_bombs.py (every one refused, within memory and time bounds)
and benchmarks/template_bombs.py (the time and memory each costs, against another checkout).
"""

from __future__ import annotations

import textwrap

SETS = "{% set a = a ~ a %}\n"

# name -> (the template, written as a spec value; a fragment of the error it must get)
BOMBS: dict[str, tuple[str, str]] = {
    "replace 60k x 60k": ('{{ ("a"*60000)|replace("a", "a"*60000) }}',
                          "the filter 'replace' would exceed 65,536 characters"),
    "join of [60k-string]*60000": ('{{ (["a"*60000]*60000)|join }}', "'*' would exceed 65,536 characters"),
    "'%0999999999d' % 1": ('{{ "%0999999999d" % 1 }}', "a width or precision of 999999999 in '%' formatting"),
    "24 x {% set a = a ~ a %}": ('{% set a = "' + "a" * 26 + '" %}\n' + SETS * 24 + "{{ a[:5] }}",
                                 "'~' would exceed 65,536 characters"),
    "26 big-integer squarings": ("{% set n = 10 %}\n" + "{% set n = n * n %}\n" * 26 + "{{ n % 7 }}",
                                 "'*' would build an integer over 4096 bits"),
    "bytes.center(10**9)": ('{{ "a".encode().center(1000000000) }}', "'center' of 'bytes' object is unsafe"),
    "batch(10**9) with a fill": ("{{ [1]|batch(1000000000, 0)|list|length }}", "the filter 'batch' would exceed"),
    "str.translate to 60k": ('{{ ("a"*60000).translate({97: "b"*60000}) }}', "'translate' of 'str' object is unsafe"),
    "list.extend doubling x30": ('{% set l = ["a"*1000] %}\n' + "{% set _ = l.extend(l) %}\n" * 30 + "{{ l|length }}",
                                 "'extend' of 'list' object is unsafe"),
    "600 sets of 65k kept alive": ("".join(f'{{% set a{i} = "a"*65000 ~ "{i}" %}}\n' for i in range(600)) + "ok",
                                   "more than 4,194,304 characters (or list items) in all while rendering this value"),
    "1500 outputs of 65k": ('{% set x = "a"*65000 %}\n' + "{{ x[:0] }}{{ x }}\n" * 1500,
                            "more than 4,194,304 characters (or list items) in all while rendering this value"),
    "map(replace) then join": ('{{ (["a"*6000]*10)|map("replace", "a", "a"*60000)|join }}',
                               "the filter 'replace' would exceed"),
    "sum of 15000 lists": ("{{ ([[1]]*15000)|sum(start=[])|length }} items", "the filter 'sum' adds numbers only"),
    "'%s' x 5000 of a 60k string": ('{{ ("%(a)s" * 5000) % {"a": "b"*60000} }}', "'%' formatting would exceed"),
    "12000 lines of template code": ("{% set x = 1 %}" + "{{ x }}\n" * 12000, "more than 32,768 characters of template code"),
}


def spec_text(template: str) -> str:
    """A spec whose project description is `template` (a block scalar), and nothing else to check."""
    body = textwrap.indent(template, "    ")
    return f"version: 1\nproject:\n  name: bomb\n  ip_type: other\n  ip_medium: photography\n  description: |\n{body}\n"
