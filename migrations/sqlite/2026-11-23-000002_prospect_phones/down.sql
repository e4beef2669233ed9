ALTER TABLE prospects DROP COLUMN phones;
