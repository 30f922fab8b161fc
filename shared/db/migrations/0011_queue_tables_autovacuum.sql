-- The outbox and the poll stamps are queues: rows inserted and deleted (or rewritten) all the
-- time, a few live at once. Postgres's default autovacuum waits for dead rows to reach 20 %
-- of the live ones plus 50, measured in seconds of churn here, but on a busy table it still
-- lags; dead entries then fill the index the relay walks (a batch took 4 ms instead of 0.2
-- with 850,000 dead rows). Vacuum these after every thousand dead rows, without throttling.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                        autovacuum_vacuum_cost_delay = 0);
ALTER TABLE poll_marks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                            autovacuum_vacuum_cost_delay = 0);
