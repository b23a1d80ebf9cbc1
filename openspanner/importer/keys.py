"""Idempotency-key templates: `--key "{source}:{subject}:{meter}:{row_id}"`.

A backfilled event must get the same key every time its row is imported,
or a re-run would count it again. So a template may only name things fixed
by the file and the command line:

- any column of the row, by its name (its text as written in the file);
- `subject`, `quantity`, `timestamp`: the value of the column mapped to it
  (useful when the CSV column is called e.g. `customer_id`);
- `row_id`: the row's position among the file's data rows, from 1;
- `meter`: the meter imported into;
- `source`: `--source`, by default the file name without folder and
  extensions (`billing.csv.gz` -> `billing`), `stdin` for `-`.

A column of the row wins over the built-in of the same name, so a file with
its own `row_id` or `source` column keys by it. An empty value is refused:
keys built from empty parts are rarely unique.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from openspanner.errors import ConfigError

BUILT_INS = ("row_id", "meter", "source")
MAPPED = ("subject", "quantity", "timestamp")


class MissingKeyPart(Exception):
    """A row has no (or an empty) value for a name the template uses."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class KeyTemplate:
    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[tuple[str, str | None]] = []
        for literal, name, spec, conversion in string.Formatter().parse(text):
            if name is not None and (not name or spec or conversion or not _plain_column_name(name)):
                raise ConfigError(f"--key: {{{name}}} is not a placeholder; write {{column_name}} without format specs")
            self._parts.append((literal, name))
        if not self.names:
            raise ConfigError("--key: the template names no column; every row would get the same key")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self._parts if name is not None)

    def check_columns(self, columns: set[str]) -> None:
        """Refuse at start a template naming something a CSV file cannot supply."""
        unknown = [n for n in self.names if n not in columns and n not in BUILT_INS and n not in MAPPED]
        if unknown:
            raise ConfigError(
                f"--key: {', '.join(unknown)} is neither a column of the file"
                f" nor one of {', '.join(BUILT_INS + MAPPED)}"
            )

    def render(self, lookup: Callable[[str], str | None]) -> str:
        """The key of one row; raises MissingKeyPart naming the first missing value."""
        out: list[str] = []
        for literal, name in self._parts:
            out.append(literal)
            if name is not None:
                value = lookup(name)
                if not value:
                    raise MissingKeyPart(name)
                out.append(value)
        return "".join(out)


def _plain_column_name(name: str) -> bool:
    """Column names like `tokens.in` or `request-id`: anything without format syntax."""
    return not any(c in name for c in "[]{}!:") and name.strip() == name
