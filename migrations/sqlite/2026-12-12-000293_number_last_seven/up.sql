-- The caller-ID lookup of seven digits or more (`filter[digits]`) is also an equality on the
-- number's last seven characters, which PostgreSQL estimates from statistics even in a cached
-- statement's generic plan (docs/performance.md, "The caller-ID lookup"). Both backends have the
-- column, so that one query serves both.
ALTER TABLE phone_numbers ADD COLUMN number_last_seven TEXT GENERATED ALWAYS AS (
    substr(number, -7)
) VIRTUAL;
CREATE INDEX phone_numbers_number_last_seven ON phone_numbers (number_last_seven);
