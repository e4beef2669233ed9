-- The caller-ID lookup (`filter[digits]`, a suffix of a number's digits) is a prefix of the
-- reversed number, which a B-tree range reads. Generated, so every row has it, those that existed
-- before included and those written outside the API too.
ALTER TABLE phone_numbers
    ADD COLUMN number_reversed TEXT COLLATE "C" GENERATED ALWAYS AS (reverse(number)) STORED;
CREATE INDEX phone_numbers_number_reversed ON phone_numbers (number_reversed);
