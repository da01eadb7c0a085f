"""A built corpus as the JSON files other trainers' released loaders read, media files beside it.

    summary = export_corpus("corpora/docs", "exports/docs", ExportConfig("minicpmv"))

One module per concern: `driver` (read, build, write atomically, count), `media` (a sample's images, video
frames and container; the writer), `turns` (checked conversations, markers), one module per target format
(`minicpmv`, `llava`) and `minicpmv_length` (the official loader's token count). Each format module's
docstring states the entry shape and the loader code it is written for.
"""
from pipelines.export.driver import FORMATS, ExportConfig, ExportSummary, export_corpus
from pipelines.export.minicpmv_length import OFFICIAL_MAX_LENGTH, LengthConfig

__all__ = ["FORMATS", "OFFICIAL_MAX_LENGTH", "ExportConfig", "ExportSummary", "LengthConfig", "export_corpus"]
