-- The queue without scans (issue 11). Each queued job carries its round: a user's next job
-- takes the round after their last queued one, a newcomer joins the round at the head, so
-- (queue_round, id) is the fair order (each user's oldest job before anyone's second) and
-- a pass reads only the head of an index that holds queued jobs alone.
ALTER TABLE jobs ADD COLUMN queue_round INTEGER;
UPDATE jobs SET queue_round = (
    SELECT COUNT(*) FROM jobs k WHERE k.state = 'queued' AND k.guild_id = jobs.guild_id
        AND k.user_id = jobs.user_id AND k.id < jobs.id
) WHERE state = 'queued';
CREATE INDEX jobs_queue ON jobs (queue_round, id) WHERE state = 'queued';
CREATE INDEX jobs_user_queue ON jobs (guild_id, user_id, queue_round) WHERE state = 'queued';
CREATE INDEX jobs_round ON jobs (queue_round);
-- Worker steps come due from this index; queued jobs wait for a slot, not for a time, so
-- they stay out of it (before, every pass walked past the whole queue to reach a due step).
DROP INDEX jobs_due;
CREATE INDEX jobs_step_due ON jobs (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL AND state != 'queued';
