-- Jobs: everything needed to finish a job after a restart.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    guild_id          TEXT    NOT NULL,
    channel_id        TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    prompt            TEXT    NOT NULL,
    aspect_ratio      TEXT    NOT NULL,
    duration          INTEGER NOT NULL,
    remove_watermark  INTEGER NOT NULL,
    image_url         TEXT,
    cost              INTEGER NOT NULL,
    credit_day        TEXT    NOT NULL,              -- UTC day the credits were taken from
    credit_state      TEXT    NOT NULL,              -- reserved | settled | refunded | none
    state             TEXT    NOT NULL,
    task_id           TEXT    UNIQUE,
    progress          INTEGER NOT NULL DEFAULT 0,
    estimated_seconds INTEGER,
    error_code        TEXT,
    error_message     TEXT,
    video_url         TEXT,
    file_path         TEXT,
    file_size         INTEGER,
    front_ref         TEXT,                          -- free JSON for the front end (message/thread ids)
    delivery_ref      TEXT,                          -- where the result was posted
    outcome_posted    INTEGER NOT NULL DEFAULT 0,    -- the user has been told the final outcome
    attempts          INTEGER NOT NULL DEFAULT 0,    -- consecutive transient errors
    created_at        REAL    NOT NULL,
    submitted_at      REAL,
    completed_at      REAL,
    finished_at       REAL,
    updated_at        REAL    NOT NULL,
    next_attempt_at   REAL                           -- NULL: nothing left for the worker to do
);
CREATE INDEX jobs_due ON jobs (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX jobs_user_day ON jobs (guild_id, user_id, credit_day);
CREATE INDEX jobs_guild_day ON jobs (guild_id, credit_day);
CREATE INDEX jobs_user_state ON jobs (guild_id, user_id, state);

-- Per-guild settings the admin commands change (NULL: use the process default).
CREATE TABLE guild_settings (
    guild_id      TEXT PRIMARY KEY,
    daily_credits INTEGER,
    daily_budget  INTEGER,
    paused        INTEGER NOT NULL DEFAULT 0
);

-- Daily allowance overrides: kind = 'user' or 'role'.
CREATE TABLE allowance_overrides (
    guild_id      TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('user', 'role')),
    target_id     TEXT    NOT NULL,
    daily_credits INTEGER NOT NULL,
    PRIMARY KEY (guild_id, kind, target_id)
);

-- One-off grants: extra credits for one user on one UTC day.
CREATE TABLE credit_grants (
    id         INTEGER PRIMARY KEY,
    guild_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    amount     INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at REAL    NOT NULL
);
CREATE INDEX credit_grants_user_day ON credit_grants (guild_id, user_id, day);

-- Small key/value facts about this installation (e.g. the hash of the last command sync).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
