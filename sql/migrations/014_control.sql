-- Migration 014: control files and file conventions of an ingest (issue 15;
-- segqtl ingest --control cohort.yaml|.json|.zip, or --sep / --na-strings / --comment-char).
--
-- Inputs : none (new tables only).
-- Outputs: cohort_control: one row per cohort ingested through segqtl.ingest.control:
--          source (the control file or bundle as given; 'flags' when the conventions came from
--          the command line), format ('yaml' | 'json' | 'flags'), control_text (the control
--          file's text as stored, or the flags as JSON), control_sha256 (of those bytes),
--          checksum (the cohort checksum it was ingested with: a later plain --replace of the
--          cohort leaves this row behind, and a different checksum tells so), conventions (the
--          per-file conventions applied, JSON: role -> sep, na_strings, comment_char,
--          transposed, converted).
--          cohort_file_headers: the '#' key-value header lines (as pyhegp writes them) found
--          before a file's table: role, line (1-based, in that file), key, value.
--          Every file's sha256 is in cohort_files (of the file's bytes as given, not of the
--          canonical copy the readers read).
-- Coordinates: none.
CREATE TABLE cohort_control (
    cohort          VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    control_text    VARCHAR NOT NULL,
    control_sha256  VARCHAR NOT NULL,
    checksum        VARCHAR NOT NULL,
    conventions     VARCHAR NOT NULL
);

CREATE TABLE cohort_file_headers (
    cohort      VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,
    line        INTEGER NOT NULL,
    key         VARCHAR NOT NULL,
    value       VARCHAR NOT NULL
);
