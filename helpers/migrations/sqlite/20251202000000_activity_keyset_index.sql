-- The activity ranking is ordered by (login_count DESC, id DESC), so that keyset pagination
-- can say `WHERE (login_count, id) < ($1, $2)`: one row-value comparison that an index on
-- (login_count, id), read backwards, answers with a range scan. The first index
-- (login_count DESC, id) could not serve that comparison.
DROP INDEX users_activity_idx;
CREATE INDEX users_activity_idx ON users (login_count, id);
