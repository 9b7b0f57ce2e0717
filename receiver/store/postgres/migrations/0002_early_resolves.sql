-- Resolved notifications that arrived before their firing copy (AM #878, HA peers, retries): a
-- firing copy of the same occurrence arriving within windows.out_of_order is a late duplicate and
-- makes no task. Rows older than that window are pruned by the sweep, and the table is capped.
CREATE TABLE early_resolves (
  key         TEXT   NOT NULL,
  starts_at   BIGINT NOT NULL,
  ends_at     BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (key, starts_at)
);
CREATE INDEX early_resolves_received ON early_resolves (received_at);
