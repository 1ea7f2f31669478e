//! Span names of deliveries, one static string per event kind. The delivery span is enabled whenever logs
//! are at `info` (the log layer keeps span context), tracing export or not, so a `format!`ed name cost
//! an allocation per event; a static name costs nothing.

/// `deliver <kind>`, the name a delivery's span is exported under.
pub(super) fn deliver(kind: &'static str) -> &'static str {
    match kind {
        "message.created" => "deliver message.created",
        "message.updated" => "deliver message.updated",
        "message.deleted" => "deliver message.deleted",
        "message.read" => "deliver message.read",
        "participants.added" => "deliver participants.added",
        "participants.removed" => "deliver participants.removed",
        "conversation.deleted" => "deliver conversation.deleted",
        "conversation.read" => "deliver conversation.read",
        "typing" => "deliver typing",
        "room" => "deliver room",
        "presence" => "deliver presence",
        "presence.heartbeat" => "deliver presence.heartbeat",
        "presence.snapshot" => "deliver presence.snapshot",
        "presence.sync" => "deliver presence.sync",
        _ => "deliver",
    }
}

#[cfg(test)]
mod tests {
    use junqo_proto::events::v1::event::Payload;

    /// Every kind an event can have gets its own name, as `format!("deliver {kind}")` gave it.
    #[test]
    fn every_kind_has_its_own_name() {
        let payloads = [
            Payload::MessageCreated(Default::default()),
            Payload::MessageUpdated(Default::default()),
            Payload::MessageDeleted(Default::default()),
            Payload::MessageRead(Default::default()),
            Payload::ParticipantsAdded(Default::default()),
            Payload::ParticipantsRemoved(Default::default()),
            Payload::ConversationDeleted(Default::default()),
            Payload::ConversationRead(Default::default()),
            Payload::Typing(Default::default()),
            Payload::RoomNotice(Default::default()),
            Payload::Presence(Default::default()),
            Payload::PresenceHeartbeat(Default::default()),
            Payload::PresenceSnapshot(Default::default()),
            Payload::PresenceSyncRequest(Default::default()),
        ];
        for payload in payloads {
            let kind = payload.kind();
            assert_eq!(super::deliver(kind), format!("deliver {kind}"));
        }
    }
}
