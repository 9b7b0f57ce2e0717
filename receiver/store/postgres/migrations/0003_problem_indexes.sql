-- A task's problems are read a page at a time, the firing ones first (Detail), and the intake asks
-- whether a task already holds a problem key and whether any of its problems still fires: each an
-- index range, never every problem of a task that has flapped for a year (one row per occurrence).
-- (task_id, firing, starts_at, id) makes problems_task redundant.
CREATE INDEX problems_task_firing ON problems (task_id, firing, starts_at, id);
CREATE INDEX problems_task_key ON problems (task_id, key);
DROP INDEX problems_task;
