DROP INDEX phone_numbers_number_last_seven;
ALTER TABLE phone_numbers DROP COLUMN number_last_seven;
