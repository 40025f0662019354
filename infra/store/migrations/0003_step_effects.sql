-- Idempotency log of step effects: one row per (saga id, step), written in the
-- same transaction as the effect. Re-running a step whose effect happened
-- returns the recorded result; compensating the step deletes the row.
CREATE TABLE step_effects (
    idempotency_key TEXT PRIMARY KEY,
    result          TEXT NOT NULL,
    recorded_at     BIGINT NOT NULL
);
