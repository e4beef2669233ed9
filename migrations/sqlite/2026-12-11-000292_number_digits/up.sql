-- The caller-ID lookup (`filter[digits]`, a suffix of a number's digits) is a prefix of the
-- reversed number, which a B-tree range reads. Generated, so every row has it, those that existed
-- before included and those written outside the API too. SQLite has no reverse(): an E.164
-- number is at most 16 characters (`+` and 15 digits), reversed one character at a time.
ALTER TABLE phone_numbers ADD COLUMN number_reversed TEXT GENERATED ALWAYS AS (
    substr(number, 16, 1)
    || substr(number, 15, 1)
    || substr(number, 14, 1)
    || substr(number, 13, 1)
    || substr(number, 12, 1)
    || substr(number, 11, 1)
    || substr(number, 10, 1)
    || substr(number, 9, 1)
    || substr(number, 8, 1)
    || substr(number, 7, 1)
    || substr(number, 6, 1)
    || substr(number, 5, 1)
    || substr(number, 4, 1)
    || substr(number, 3, 1)
    || substr(number, 2, 1)
    || substr(number, 1, 1)
) VIRTUAL;
CREATE INDEX phone_numbers_number_reversed ON phone_numbers (number_reversed);
