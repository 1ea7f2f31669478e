-- Which conversations replica publishes an outbox row, and until when no other replica may take it over:
-- set at insert by the replica that wrote the row, renewed by its relay, taken over by another replica's
-- relay (FOR UPDATE SKIP LOCKED) once it has lapsed. NULL in rows written before claims existed.
ALTER TABLE outbox
    ADD COLUMN claimed_by    uuid,
    ADD COLUMN claimed_until timestamptz;
