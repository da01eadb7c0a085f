"""Schemas: the Arrow tables and the sample record, defined once and imported everywhere."""
from schemas.record import CorruptedRegion, SampleRecord, Turn, sample_key
from schemas.tables import (
    DUPLICATE,
    ERROR_SCHEMA,
    FILTERED,
    INPUT_SCHEMA,
    PAGE_SCHEMA,
    QUARANTINE,
    SCHEMA_VERSION,
    SINK_SCHEMA,
    STATS_SCHEMA,
)

__all__ = [
    "SampleRecord", "Turn", "CorruptedRegion", "sample_key", "DUPLICATE", "ERROR_SCHEMA", "FILTERED",
    "INPUT_SCHEMA", "PAGE_SCHEMA", "QUARANTINE", "SCHEMA_VERSION", "SINK_SCHEMA", "STATS_SCHEMA",
]
