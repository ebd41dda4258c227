-- cohort_control_record: record how a cohort was read (segqtl.ingest.control), inside the
-- ingest's transaction; replaces the cohort's earlier record.
--
-- Inputs (parameters): $cohort, $source (control file / bundle as given, or 'flags'),
--          $format ('yaml' | 'json' | 'flags'), $control_text, $control_sha256, $checksum (the
--          cohort checksum), $conventions (JSON); $roles, $lines, $keys, $header_values: equal-
--          length lists, one item per '#' key-value header line of the input files.
-- Output : the cohort's rows of cohort_control (one) and cohort_file_headers (one per line).
-- Coordinates: line is the 1-based line of the header line in its file.
DELETE FROM cohort_control WHERE cohort = $cohort;
DELETE FROM cohort_file_headers WHERE cohort = $cohort;
INSERT INTO cohort_control
VALUES ($cohort, $source, $format, $control_text, $control_sha256, $checksum, $conventions);
INSERT INTO cohort_file_headers
SELECT $cohort, h.role, h.line, h.key, h.value
FROM (
    SELECT unnest($roles::VARCHAR[]) AS role, unnest($lines::INTEGER[]) AS line,
           unnest($keys::VARCHAR[]) AS key, unnest($header_values::VARCHAR[]) AS value
) AS h;
