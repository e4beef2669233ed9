-- Each entry of a prospect's stored list becomes an array, [id, number, extension, phone_type],
-- instead of an object with those four members: every read of a prospect parses its list, and
-- without member names there is about half as much text to parse. Rebuilt from the number rows,
-- in `order`, as `Prospect::store_phones` writes it.
UPDATE prospects SET phones = (
    SELECT json_group_array(json_array(id, number, extension, phone_type) ORDER BY position)
    FROM phone_numbers
    WHERE phone_numbers.prospect_id = prospects.id
);
