"""Reading and validating SegmentQTL-layout inputs, and loading them into the warehouse."""

from .load import CohortInputs, IngestResult, ingest_cohort

__all__ = ["CohortInputs", "IngestResult", "ingest_cohort"]
