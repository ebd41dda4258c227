-- export_validate_model: one chromosome of a validate run (with save_model_audit) as
-- SegmentQTL's validate_model_<C>.csv (docs/methods.md#validate-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : validate_model (view).
-- Output: phenotype, block, name, value_main, value_val, shared_with_val (True/False, as pandas
--          writes booleans), chr; the audit rows of each scored phenotype in phenotype order,
--          then row_idx order.  The header is always the full one (SegmentQTL drops chr when
--          there is no row, a defect fixed here, docs/methods.md#differences).
SELECT phenotype, block, name, value_main, value_val,
       CASE shared_with_val WHEN true THEN 'True' WHEN false THEN 'False' END AS shared_with_val,
       chr
FROM validate_model
WHERE run_id = $run_id AND chr = $chr
ORDER BY phenotype_idx, row_idx
