"""Output parsers of the exec plugin, one module per `data_format`.

Each parser turns a command's stdout into Metrics plus per-item problems (Parsed), and
raises ParseError when the output as a whole is not in its format.
"""

from __future__ import annotations

from collections.abc import Callable

from unity_plugins.exec.parsers import influx, prometheus, unity_json
from unity_plugins.exec.parsers.result import Parsed, ParseError

__all__ = ["PARSERS", "ParseError", "Parsed"]

#: data_format -> parser.
PARSERS: dict[str, Callable[[str], Parsed]] = {
    "unity": unity_json.parse,
    "prometheus": prometheus.parse,
    "influx": influx.parse,
}
