-- Module 1 schema (SQLite): Country -> City -> Address -> User, plus Product and Order.
-- Every lookup the repositories make has an index; every relation has a foreign key.
-- Same tables as the PostgreSQL migration; SQLite types: INTEGER PRIMARY KEY is the rowid
-- (ids grow from the largest one), timestamps are ISO-8601 text, BOOLEAN is 0/1.

CREATE TABLE countries (
    id        INTEGER PRIMARY KEY,
    code      TEXT NOT NULL CONSTRAINT countries_code_key UNIQUE,
    name      TEXT NOT NULL CONSTRAINT countries_name_key UNIQUE,
    continent TEXT NOT NULL
);

CREATE TABLE cities (
    id         INTEGER PRIMARY KEY,
    country_id BIGINT NOT NULL REFERENCES countries (id),
    name       TEXT NOT NULL,
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    CONSTRAINT cities_country_name_key UNIQUE (country_id, name)
);
CREATE INDEX cities_name_idx ON cities (name);

CREATE TABLE addresses (
    id          INTEGER PRIMARY KEY,
    city_id     BIGINT NOT NULL REFERENCES cities (id),
    street      TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL
);
CREATE INDEX addresses_city_id_idx ON addresses (city_id);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL CONSTRAINT users_username_key UNIQUE,
    email          TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    address_id     BIGINT REFERENCES addresses (id),
    registered_at  TIMESTAMP NOT NULL,
    profile_score  REAL NOT NULL DEFAULT 0 CONSTRAINT users_profile_score_check CHECK (profile_score BETWEEN 0 AND 100),
    verified       BOOLEAN NOT NULL DEFAULT 0,
    last_active_at TIMESTAMP NOT NULL,
    login_count    BIGINT NOT NULL DEFAULT 0 CONSTRAINT users_login_count_check CHECK (login_count >= 0)
);
CREATE INDEX users_address_id_idx ON users (address_id);
CREATE INDEX users_registered_at_idx ON users (registered_at);
-- Ranking by activity and its keyset pagination walk this index.
CREATE INDEX users_activity_idx ON users (login_count DESC, id);

CREATE TABLE products (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    category TEXT NOT NULL,
    price    REAL NOT NULL CONSTRAINT products_price_check CHECK (price >= 0)
);
CREATE INDEX products_category_idx ON products (category);

CREATE TABLE orders (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity   BIGINT NOT NULL CONSTRAINT orders_quantity_check CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    total      REAL NOT NULL,
    ordered_at TIMESTAMP NOT NULL,
    status     TEXT NOT NULL CONSTRAINT orders_status_check CHECK (status IN ('completed', 'refunded', 'pending'))
);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX orders_product_id_idx ON orders (product_id);
CREATE INDEX orders_ordered_at_idx ON orders (ordered_at);
