"""Reading and validating SegmentQTL-layout inputs, and loading them into the warehouse."""

from .load import IngestResult, ingest_cohort

__all__ = ["IngestResult", "ingest_cohort"]
