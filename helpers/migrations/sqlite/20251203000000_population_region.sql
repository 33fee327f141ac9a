-- The original's models carry more than names: a country's population and GDP per head, a
-- city's region (state, province). Added columns with defaults, so a database seeded before
-- this migration stays valid; the next seed writes the values.
ALTER TABLE countries ADD COLUMN population BIGINT NOT NULL DEFAULT 0;
ALTER TABLE countries ADD COLUMN gdp_per_capita DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE cities ADD COLUMN region TEXT NOT NULL DEFAULT '';
