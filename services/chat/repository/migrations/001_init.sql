-- Chat messages. `seq` orders a room's history (keyset pagination, newest first);
-- `id` is the public identifier.
CREATE TABLE chat_messages (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  room text NOT NULL,
  sender_id uuid NOT NULL,
  sender_name text NOT NULL,
  text text NOT NULL,
  send_time timestamptz(3) NOT NULL DEFAULT now()
);

CREATE INDEX chat_messages_room_seq ON chat_messages (room, seq DESC);
