-- What receiver/remedy decided about a task's machine (restart sent, dry run, refused, failed,
-- rate-limited; pending while a restart is being sent). Its limits count these rows: at most one
-- decision per machine per window, so many attempts per site per hour, per task in all. Rows
-- older than a week are pruned as new ones are written.
CREATE TABLE remediations (
  id       INTEGER PRIMARY KEY,
  task_id  BIGINT NOT NULL,
  machine  TEXT   NOT NULL,
  site     TEXT   NOT NULL DEFAULT '',
  target   TEXT   NOT NULL DEFAULT '',
  result   TEXT   NOT NULL,
  reply    TEXT   NOT NULL DEFAULT '',
  at       BIGINT NOT NULL,
  done_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX remediations_machine ON remediations (machine, at);
CREATE INDEX remediations_site ON remediations (site, at);
CREATE INDEX remediations_task ON remediations (task_id);
CREATE INDEX remediations_at ON remediations (at);
