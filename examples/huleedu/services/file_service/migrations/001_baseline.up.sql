-- File Service: uploaded essay files, their validation and text extraction, and the history of
-- each file's processing state.

CREATE TYPE file_processing_status AS ENUM (
    'pending_upload',
    'uploaded',
    'validating',
    'extracting_text',
    'text_extracted',
    'rejected',
    'failed'
);

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An explicit updated_at (imports, backfills) is kept; otherwise it is the statement's time.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE file_uploads (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id               uuid NOT NULL,             -- batch_orchestrator_service.batches.id
    user_id                uuid NOT NULL,
    correlation_id         uuid NOT NULL,
    original_filename      varchar(500) NOT NULL,
    content_type           varchar(100) NOT NULL,
    size_bytes             bigint NOT NULL,
    sha256                 char(64) NOT NULL,
    raw_file_storage_id    varchar(255),
    text_storage_id        varchar(255),
    status                 file_processing_status NOT NULL DEFAULT 'pending_upload',
    validation_error_code  varchar(50),
    validation_error       text,
    uploaded_at            timestamptz,
    processed_at           timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT file_uploads_content_type_check CHECK (content_type IN (
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'application/pdf',
        'text/plain',
        'application/vnd.oasis.opendocument.text')),
    CONSTRAINT file_uploads_size_check CHECK (size_bytes BETWEEN 1 AND 10485760),
    CONSTRAINT file_uploads_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT file_uploads_rejection_check CHECK (
        (status IN ('rejected', 'failed')) = (validation_error_code IS NOT NULL)),
    CONSTRAINT file_uploads_text_check CHECK (status <> 'text_extracted' OR text_storage_id IS NOT NULL),
    -- The same file uploaded twice to one batch is a duplicate.
    CONSTRAINT file_uploads_batch_sha256_key UNIQUE (batch_id, sha256)
);

CREATE INDEX idx_file_uploads_batch_status ON file_uploads (batch_id, status);
CREATE INDEX idx_file_uploads_in_flight ON file_uploads (updated_at)
    WHERE status IN ('uploaded', 'validating', 'extracting_text');

CREATE TRIGGER file_uploads_set_updated_at
    BEFORE UPDATE ON file_uploads
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE file_processing_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_upload_id  uuid NOT NULL REFERENCES file_uploads (id) ON DELETE CASCADE,
    from_status     file_processing_status,
    to_status       file_processing_status NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT file_processing_events_change_check CHECK (from_status IS DISTINCT FROM to_status)
);

CREATE INDEX idx_file_processing_events_file ON file_processing_events (file_upload_id, occurred_at);
