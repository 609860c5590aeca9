"""Text from outside (links, uploads, typed answers, the verifier's echo of them) shown in Markdown as text.

Gradio's Markdown renders links, images, headings and a subset of HTML, and its sanitiser lets through
links, forms and images that fetch from anywhere (a tracking pixel). Escaping `<` and `>` is not enough:
`[x](http://…)`, `![](http://…)` and bare `www.…` autolinks need no HTML. So every ASCII punctuation
character is backslash-escaped (CommonMark renders each as itself, never as syntax), and text shown as
code goes in a code span whose fence is longer than any backtick run inside it (nothing is parsed in a
code span). The page's Markdown components also turn LaTeX off (`NO_LATEX`), so `$$…$$` stays text.
"""

from __future__ import annotations

import re
import string

#: `latex_delimiters` for every Markdown component that may show outside text.
NO_LATEX: list = []

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BACKTICKS = re.compile("`+")


def text(value: object) -> str:
    """`value` as Markdown that renders exactly as written: no link, image, tag, heading or emphasis."""
    return _PUNCTUATION.sub(r"\\\1", str(value))


def cell(value: object) -> str:
    """`text` on one line, for a table cell or a list item (whitespace runs, newlines included, become a space)."""
    return text(" ".join(str(value).split()))


def code(value: object) -> str:
    """`value` in a code span, on one line, shown verbatim whatever backticks or markup it holds."""
    content = " ".join(str(value).split()) or " "
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(content)), default=0) + 1)
    return f"{fence} {content} {fence}"
