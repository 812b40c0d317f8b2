-- The worker counts jobs by state (provider slots in use) on every pass.
CREATE INDEX jobs_state ON jobs (state);
