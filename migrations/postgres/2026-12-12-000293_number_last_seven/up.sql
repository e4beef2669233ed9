-- The caller-ID lookup of seven digits or more (`filter[digits]`) is also an equality on the
-- number's last seven characters. A range of `number_reversed` with unknown bounds is estimated
-- at 0.5 % of the table, so a cached statement's generic plan for it scans the primary key and
-- PostgreSQL plans every lookup afresh; an equality is estimated from statistics, and its
-- generic plan reads this index (docs/performance.md, "The caller-ID lookup").
ALTER TABLE phone_numbers
    ADD COLUMN number_last_seven TEXT COLLATE "C" GENERATED ALWAYS AS (right(number, 7)) STORED;
CREATE INDEX phone_numbers_number_last_seven ON phone_numbers (number_last_seven);
