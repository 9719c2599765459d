-- A tenant's documents and the chunks the ingestion service cuts them into. A chunk keeps its
-- text, its words for full-text search (a generated tsvector under a GIN index) and its
-- embedding as a unit vector, so a search ranks chunks by words and by meaning at once. The
-- ingestion service scores the vectors itself as they stream out (`bytea`, 4 bytes a float):
-- a dot product in SQL over a `real[]` costs about 90 µs per 256-float row.

CREATE TABLE documents (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    media_type text NOT NULL CHECK (media_type IN ('text/plain', 'text/markdown', 'text/html')),
    body text NOT NULL,
    bytes integer NOT NULL CHECK (bytes BETWEEN 1 AND 524288),
    status text NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'indexed', 'failed')),
    -- The key that uploaded it and the upload's request id: the embedding calls that index it
    -- are charged to that key, recorded under that id.
    api_key_id uuid,
    request_id text NOT NULL,
    embedding_model text NOT NULL,
    chunk_count integer CHECK (chunk_count >= 0),
    failure text,
    created_at timestamptz NOT NULL DEFAULT now(),
    indexed_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- Lists page newest first (ids are time-ordered UUIDs).
CREATE INDEX documents_newest ON documents (tenant_id, id DESC);

CREATE TABLE document_chunks (
    tenant_id uuid NOT NULL,
    document_id uuid NOT NULL,
    chunk_index integer NOT NULL CHECK (chunk_index >= 0),
    text text NOT NULL,
    words tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    -- A unit vector, 32-bit floats little-endian: the dot product of two is their cosine similarity.
    embedding bytea NOT NULL CHECK (length(embedding) > 0 AND length(embedding) % 4 = 0),
    PRIMARY KEY (tenant_id, document_id, chunk_index),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX document_chunks_words ON document_chunks USING gin (words);

SELECT enable_tenant_isolation('documents');
SELECT enable_tenant_isolation('document_chunks');

GRANT SELECT, INSERT, UPDATE, DELETE ON documents, document_chunks TO switchyard_app;
