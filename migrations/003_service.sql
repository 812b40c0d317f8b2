-- Callbacks: the SHA-256 of each job's single-use callback token (the token itself only
-- travels to the provider), and when the provider used it (NULL: not yet; a used token is
-- refused, so a replay cannot wake the job again).
ALTER TABLE jobs ADD COLUMN callback_hash TEXT;
ALTER TABLE jobs ADD COLUMN callback_at REAL;
CREATE UNIQUE INDEX jobs_callback_hash ON jobs (callback_hash) WHERE callback_hash IS NOT NULL;
-- Provider spend: usage.credits_reserved from the create answer, to reconcile the bill.
ALTER TABLE jobs ADD COLUMN provider_credits REAL;
