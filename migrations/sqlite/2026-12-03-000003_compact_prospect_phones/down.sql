-- Back to one object per entry, as migration 2026-11-23-000002 built the lists.
UPDATE prospects SET phones = (
    SELECT json_group_array(
        json_object('id', id, 'number', number, 'extension', extension, 'phone_type', phone_type)
        ORDER BY position
    )
    FROM phone_numbers
    WHERE phone_numbers.prospect_id = prospects.id
);
