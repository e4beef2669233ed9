DROP INDEX prospects_external_id;
ALTER TABLE prospects DROP COLUMN external_id;
ALTER TABLE phone_numbers
    DROP COLUMN notes,
    DROP COLUMN sms_opt_out_changed_at,
    DROP COLUMN sms_opt_out;
