-- Tasks: one row per repair job. At most one task per machine is not closed (partial unique index).
CREATE TABLE tasks (
  id                INTEGER PRIMARY KEY,
  machine           TEXT    NOT NULL,
  fleet             INTEGER NOT NULL DEFAULT 0,
  identity          TEXT    NOT NULL DEFAULT '{}',
  location          TEXT    NOT NULL DEFAULT '{}',
  site              TEXT    NOT NULL DEFAULT '',
  category          TEXT    NOT NULL DEFAULT '',
  severity          TEXT    NOT NULL DEFAULT '',
  title             TEXT    NOT NULL DEFAULT '',
  state             TEXT    NOT NULL,
  assignee          TEXT    NOT NULL DEFAULT '',
  team              TEXT    NOT NULL DEFAULT '',
  created_at        BIGINT  NOT NULL,
  updated_at        BIGINT  NOT NULL,
  opened_at         BIGINT  NOT NULL DEFAULT 0,
  acked_at          BIGINT  NOT NULL DEFAULT 0,
  started_at        BIGINT  NOT NULL DEFAULT 0,
  reported_at       BIGINT  NOT NULL DEFAULT 0,
  closed_at         BIGINT  NOT NULL DEFAULT 0,
  cleared_at        BIGINT  NOT NULL DEFAULT 0,
  last_escalated_at BIGINT  NOT NULL DEFAULT 0,
  report            TEXT    NOT NULL DEFAULT '',
  reason            TEXT    NOT NULL DEFAULT '',
  recurrences       INTEGER NOT NULL DEFAULT 0,
  failed_repairs    INTEGER NOT NULL DEFAULT 0,
  escalations       INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX tasks_one_open_per_machine ON tasks (machine) WHERE state NOT IN ('done','auto_resolved','cancelled');
CREATE INDEX tasks_machine_closed ON tasks (machine, closed_at);
CREATE INDEX tasks_state ON tasks (state, id);
CREATE INDEX tasks_assignee ON tasks (assignee, state);
CREATE INDEX tasks_site ON tasks (site, state);
CREATE INDEX tasks_category ON tasks (category, state);
CREATE INDEX tasks_team ON tasks (team, id);

-- Problems: one row per occurrence of an alert (problem key + startsAt), unique across all tasks so
-- that a duplicate delivery can never make a second one.
CREATE TABLE problems (
  id            INTEGER PRIMARY KEY,
  task_id       BIGINT  NOT NULL REFERENCES tasks (id),
  key           TEXT    NOT NULL,
  alertname     TEXT    NOT NULL,
  category      TEXT    NOT NULL DEFAULT '',
  severity      TEXT    NOT NULL DEFAULT '',
  labels        TEXT    NOT NULL DEFAULT '{}',
  annotations   TEXT    NOT NULL DEFAULT '{}',
  starts_at     BIGINT  NOT NULL,
  ends_at       BIGINT  NOT NULL DEFAULT 0,
  firing        INTEGER NOT NULL,
  received_at   BIGINT  NOT NULL DEFAULT 0,
  resolved_at   BIGINT  NOT NULL DEFAULT 0,
  fingerprint   TEXT    NOT NULL DEFAULT '',
  generator_url TEXT    NOT NULL DEFAULT '',
  source_url    TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX problems_occurrence ON problems (key, starts_at);
CREATE INDEX problems_task ON problems (task_id);

CREATE TABLE events (
  id         INTEGER PRIMARY KEY,
  task_id    BIGINT NOT NULL REFERENCES tasks (id),
  at         BIGINT NOT NULL,
  actor      TEXT   NOT NULL,
  kind       TEXT   NOT NULL,
  from_state TEXT   NOT NULL DEFAULT '',
  to_state   TEXT   NOT NULL DEFAULT '',
  text       TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX events_task ON events (task_id, id);

-- Outbox: notifications written in the same transaction as the change they announce.
CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY,
  task_id    BIGINT  NOT NULL,
  recipient  TEXT    NOT NULL DEFAULT '',
  text       TEXT    NOT NULL,
  created_at BIGINT  NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  next_at    BIGINT  NOT NULL DEFAULT 0,
  sent_at    BIGINT  NOT NULL DEFAULT 0,
  gave_up    INTEGER NOT NULL DEFAULT 0,
  last_error TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (next_at) WHERE sent_at = 0 AND gave_up = 0;

CREATE TABLE heartbeats (
  name      TEXT PRIMARY KEY,
  last_seen BIGINT NOT NULL
);
