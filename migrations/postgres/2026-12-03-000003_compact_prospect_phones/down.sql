-- Back to one object per entry, as migration 2026-11-23-000002 built the lists.
UPDATE prospects SET phones = listed.phones
FROM (
    SELECT prospect_id,
           json_agg(
               json_build_object('id', id, 'number', number, 'extension', extension,
                                 'phone_type', phone_type)
               ORDER BY position
           )::text AS phones
    FROM phone_numbers
    GROUP BY prospect_id
) AS listed
WHERE listed.prospect_id = prospects.id;
