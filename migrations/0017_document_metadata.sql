-- A document's metadata: up to 16 labels of its own (string keys and values), returned with it
-- and its search results; a search may be narrowed to documents holding given labels
-- (`metadata @> filter`, which the GIN index answers).
ALTER TABLE documents ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object');
CREATE INDEX documents_metadata ON documents USING gin (metadata jsonb_path_ops);
