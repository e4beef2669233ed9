-- Texting and notes on numbers (API.md section 11); a prospect's id in another system, unique when
-- set (NULLs are distinct in a unique index).
ALTER TABLE phone_numbers ADD COLUMN sms_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE phone_numbers ADD COLUMN sms_opt_out_changed_at TIMESTAMP;
ALTER TABLE phone_numbers ADD COLUMN notes TEXT;
ALTER TABLE prospects ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX prospects_external_id ON prospects (external_id);
