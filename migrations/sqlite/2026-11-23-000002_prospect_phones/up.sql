-- A prospect's numbers as the prospect shows them (its `*Phones` arrays and `phoneNumbers` linkage),
-- in `order`, kept on its row by every write of its numbers: reading a prospect, or including it
-- in a page of numbers, is then one statement. A JSON array of
-- {"id", "number", "extension", "phone_type"} objects.
ALTER TABLE prospects ADD COLUMN phones TEXT NOT NULL DEFAULT '[]';

UPDATE prospects SET phones = (
    SELECT json_group_array(
        json_object('id', id, 'number', number, 'extension', extension, 'phone_type', phone_type)
        ORDER BY position
    )
    FROM phone_numbers
    WHERE phone_numbers.prospect_id = prospects.id
);
