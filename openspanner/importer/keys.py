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
from collections.abc import Callable, Mapping
from typing import Any

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

    def bind(self, mapped: Mapping[str, str], constants: Mapping[str, str]) -> Callable[[dict[str, Any], int], str]:
        """A renderer (row fields, row position) -> key, resolved once: it runs for every row.

        `mapped`: placeholder -> column it stands for (subject -> customer_id);
        `constants`: meter and source. Raises MissingKeyPart naming the first empty part.
        """
        steps = [(literal, name, mapped.get(name or ""), constants.get(name or "")) for literal, name in self._parts]

        def render(fields: dict[str, Any], position: int) -> str:
            out: list[str] = []
            for literal, name, alias, constant in steps:
                out.append(literal)
                if name is None:
                    continue
                value = fields.get(name)
                if value is None:
                    if alias is not None:
                        value = fields.get(alias)
                    elif name == "row_id":
                        value = position
                    else:
                        value = constant
                text = value if value.__class__ is str else as_text(value)
                if not text:
                    raise MissingKeyPart(name)
                out.append(text)
            return "".join(out)

        return render


def as_text(value: Any) -> str | None:
    """A value as key or subject text, as written in the file (JSON true -> "true")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _plain_column_name(name: str) -> bool:
    """Column names like `tokens.in` or `request-id`: anything without format syntax."""
    return not any(c in name for c in "[]{}!:") and name.strip() == name
