-- Guild defaults for /video options the user leaves out (NULL: the built-in default).
ALTER TABLE guild_settings ADD COLUMN default_aspect_ratio TEXT;
ALTER TABLE guild_settings ADD COLUMN default_duration INTEGER;
ALTER TABLE guild_settings ADD COLUMN default_keep_watermark INTEGER;
-- Credits added for watermark removal in this guild (NULL: SORA_WATERMARK_SURCHARGE).
ALTER TABLE guild_settings ADD COLUMN watermark_surcharge INTEGER;

-- Members who may not start videos in a guild.
CREATE TABLE blocked_members (
    guild_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Channels where /video may be used; no rows for a guild means everywhere.
CREATE TABLE allowed_channels (
    guild_id   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- Words or phrases refused before submission; matched on their normalized form.
CREATE TABLE blocked_terms (
    guild_id   TEXT NOT NULL,
    normalized TEXT NOT NULL,
    term       TEXT NOT NULL,                    -- as the admin typed it
    created_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (guild_id, normalized)
);

-- Every admin change: who, when, what (details is a JSON object).
CREATE TABLE admin_actions (
    id         INTEGER PRIMARY KEY,
    guild_id   TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX admin_actions_guild ON admin_actions (guild_id, created_at);
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
