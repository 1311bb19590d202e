-- Users and their change log. Timestamps keep millisecond precision (timestamptz(3)) so a
-- JavaScript Date round-trips exactly: keyset cursors built from a Date then match stored rows.

CREATE TABLE users (
  id           uuid PRIMARY KEY,
  email        text NOT NULL,
  display_name text NOT NULL,
  roles        smallint[] NOT NULL DEFAULT '{}',
  version      bigint NOT NULL,
  create_time  timestamptz(3) NOT NULL,
  update_time  timestamptz(3) NOT NULL
);

-- Emails are unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Keyset pagination of list().
CREATE INDEX users_create_time_id_idx ON users (create_time, id);

-- Append-only log of committed changes; payload is the user state after the change
-- (its last state for "deleted").
CREATE TABLE user_changes (
  seq         bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
  user_id     uuid NOT NULL,
  payload     jsonb NOT NULL,
  commit_time timestamptz(3) NOT NULL
);
