"""Moving data between databases: streaming export, idempotent batched import, checksums."""

from __future__ import annotations

from unity_core.lifecycle.transfer.checksum import table_checksum
from unity_core.lifecycle.transfer.export import ExportFilter, ExportReport, export_data
from unity_core.lifecycle.transfer.load import ImportReport, import_data
from unity_core.lifecycle.transfer.records import FORMATS, TABLES, ExportFileError

__all__ = [
    "FORMATS",
    "TABLES",
    "ExportFileError",
    "ExportFilter",
    "ExportReport",
    "ImportReport",
    "export_data",
    "import_data",
    "table_checksum",
]
