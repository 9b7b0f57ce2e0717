-- What a task's machine is, asked from Prometheus (cgminer_info, cgminer_device_info,
-- cgminer_probe_error_info) when the task is made and again at most every display.facts_refresh
-- while it is open: next_at is when it is asked next. Empty fields are unknown.
CREATE TABLE machine_facts (
  task_id     BIGINT NOT NULL PRIMARY KEY REFERENCES tasks (id),
  model       TEXT   NOT NULL DEFAULT '',
  firmware    TEXT   NOT NULL DEFAULT '',
  software    TEXT   NOT NULL DEFAULT '',
  serial      TEXT   NOT NULL DEFAULT '',
  mac         TEXT   NOT NULL DEFAULT '',
  probe_error TEXT   NOT NULL DEFAULT '',
  asked_at    BIGINT NOT NULL DEFAULT 0,
  next_at     BIGINT NOT NULL DEFAULT 0,
  last_error  TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX machine_facts_next ON machine_facts (next_at);

-- The evidence snapshot: what the exporter's /probe?debug=true said about the machine when its
-- task was made (raw replies, the probe's log, the metrics), fetched by a loop of its own.
-- state: pending (next_at: when to try), taken, failed.
CREATE TABLE snapshots (
  task_id     BIGINT  NOT NULL PRIMARY KEY REFERENCES tasks (id),
  target      TEXT    NOT NULL,
  module      TEXT    NOT NULL DEFAULT '',
  state       TEXT    NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  next_at     BIGINT  NOT NULL DEFAULT 0,
  taken_at    BIGINT  NOT NULL DEFAULT 0,
  http_status INTEGER NOT NULL DEFAULT 0,
  truncated   INTEGER NOT NULL DEFAULT 0,
  body        TEXT    NOT NULL DEFAULT '',
  last_error  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX snapshots_pending ON snapshots (next_at) WHERE state = 'pending';
