-- A client message id names one send within one conversation: the same id reused by the same sender in
-- another conversation is another message, not a retry of the first.
DROP INDEX messages_client_id_key;
CREATE UNIQUE INDEX messages_client_id_key ON messages (sender_id, conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
