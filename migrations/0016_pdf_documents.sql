-- PDFs: uploaded as files, their text read out when stored. `body` holds that text (the file
-- itself is not kept); `bytes` the file's size.
ALTER TABLE documents DROP CONSTRAINT documents_media_type_check;
ALTER TABLE documents ADD CONSTRAINT documents_media_type_check
    CHECK (media_type IN ('text/plain', 'text/markdown', 'text/html', 'application/pdf'));
