"""FilterPattern: CloudWatch Logs' filter syntax for unstructured events (text terms).

    ERROR                 events containing ERROR (case-sensitive, anywhere in the line)
    ERROR MainThread      containing every term
    "Task timed out"      a quoted phrase, matched as written (\\" and \\\\ escape)
    ?ERROR ?WARN          containing at least one of the `?` terms
    ERROR -Debug          and not containing Debug

Sources: aws-reference/apis.md "Filter pattern basics" and the CloudWatch Logs pages
"Filter pattern syntax for metric filters, subscription filters, and filter log events".
Plain terms, `?` terms and `-` terms combine as AND, OR and AND NOT. JSON (`{ $.x = 1 }`),
space-delimited (`[a, b]`) and regular-expression (`%...%`) patterns are refused, not
misread as text. Every rule is a plain substring test, so the store can evaluate a
pattern in SQL exactly (`lambdalite/store/logs.py`) and `matches` is its reference.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNSUPPORTED_STARTS = {
    "{": "JSON filter patterns ({ $.field = value })",
    "[": "space-delimited filter patterns ([field, ...])",
    "%": "regular-expression filter patterns (%...%)",
}


class FilterPatternError(ValueError):
    """The pattern cannot be read; the message says why."""


@dataclass(frozen=True)
class FilterPattern:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    @property
    def matches_everything(self) -> bool:
        return not (self.all_of or self.any_of or self.none_of)

    def matches(self, message: str) -> bool:
        return (
            all(term in message for term in self.all_of)
            and (not self.any_of or any(term in message for term in self.any_of))
            and not any(term in message for term in self.none_of)
        )


def parse(text: str | None) -> FilterPattern:
    """The pattern of `text`; empty or blank matches every event."""
    text = (text or "").strip()
    if not text:
        return FilterPattern()
    if text[0] in _UNSUPPORTED_STARTS:
        raise FilterPatternError(
            f"lambdalite supports text filter patterns (terms, quoted phrases, ?term, "
            f"-term); {_UNSUPPORTED_STARTS[text[0]]} are not supported yet"
        )
    groups: dict[str, list[str]] = {"": [], "?": [], "-": []}
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        kind = text[position] if text[position] in "?-" else ""
        position += len(kind)
        term, position = _term(text, position)
        if not term:
            raise FilterPatternError(f"Invalid filter pattern: {text!r} has an empty term")
        groups[kind].append(term)
    return FilterPattern(tuple(groups[""]), tuple(groups["?"]), tuple(groups["-"]))


def _term(text: str, position: int) -> tuple[str, int]:
    """The term starting at `position` (a quoted phrase or a bare word), and where it ends."""
    if position < len(text) and text[position] == '"':
        chars: list[str] = []
        position += 1
        while position < len(text):
            char = text[position]
            if char == "\\" and position + 1 < len(text):
                chars.append(text[position + 1])
                position += 2
            elif char == '"':
                return "".join(chars), position + 1
            else:
                chars.append(char)
                position += 1
        raise FilterPatternError(f"Invalid filter pattern: {text!r} has an unclosed quote")
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[position:end], end
