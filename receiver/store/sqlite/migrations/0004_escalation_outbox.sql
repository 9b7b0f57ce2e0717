-- The escalation ladder (task/escalation.go): the step a task is at (0: its assignee's own
-- notification), since when, whether every delivery of the step's latest message was given up,
-- and when it climbs next (0: never). The sweep selects on escalate_at; the receiver plans it
-- again for every task that is not closed when it starts, so the rows migrated here get theirs.
ALTER TABLE tasks ADD COLUMN ladder_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN step_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN step_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN escalate_at BIGINT NOT NULL DEFAULT 0;
-- An open task escalated since it opened was at the old single step (the lead's).
UPDATE tasks SET step_at = MAX(opened_at, acked_at, started_at, last_escalated_at),
  ladder_step = CASE WHEN state = 'open' AND escalations > 0 AND last_escalated_at >= opened_at THEN 1 ELSE 0 END;
CREATE INDEX tasks_escalate ON tasks (escalate_at) WHERE escalate_at > 0;

-- A delivery is one message to one recipient over one channel: telegram (chat id), email
-- (address), webhook (phone), log; '' for rows from before (the default channel). step is the
-- ladder step the message belongs to; fields are the task's facts for the channel's text.
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN fields TEXT NOT NULL DEFAULT '{}';
CREATE INDEX outbox_task ON outbox (task_id, step, created_at);
CREATE INDEX outbox_undeliverable ON outbox (task_id) WHERE gave_up = 1;

-- Every attempt to deliver and its outcome: sent, failed (retried), gave_up (with the error).
CREATE TABLE notification_attempts (
  id         INTEGER PRIMARY KEY,
  message_id BIGINT NOT NULL REFERENCES outbox (id),
  task_id    BIGINT NOT NULL,
  at         BIGINT NOT NULL,
  channel    TEXT   NOT NULL DEFAULT '',
  recipient  TEXT   NOT NULL DEFAULT '',
  result     TEXT   NOT NULL,
  error_text TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_task ON notification_attempts (task_id, message_id, id);
