DROP INDEX phone_numbers_number_reversed;
ALTER TABLE phone_numbers DROP COLUMN number_reversed;
