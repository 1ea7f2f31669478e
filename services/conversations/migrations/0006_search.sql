-- Full-text search over message content. The 'simple' configuration lower-cases words and keeps them
-- whole, in any language (no stemming, no stop words), so a search finds the words as written. The
-- vector is generated from the content, so edits re-index by themselves; deleted messages are gone.
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX messages_search_idx ON messages USING gin (search);
