//! Who may do what, as pure functions over facts the caller has loaded. Every handler asks here, so the
//! rules live in one place and are tested without a database; handlers only choose the answer (a
//! conversation the actor may not see is NotFound, one they see but may not change is Forbidden).

use uuid::Uuid;

use crate::domain::Actor;

/// Participants read and manage their conversation; an admin may act on any.
pub fn may_access_conversation(actor: &Actor, is_participant: bool) -> bool {
    actor.is_admin || is_participant
}

/// Only the sender edits or deletes a message; an admin may too.
pub fn may_change_message(actor: &Actor, sender_id: Uuid) -> bool {
    actor.is_admin || actor.user_id == sender_id
}

/// Sending is for participants only, admin or not: a message is always somebody's own words in the
/// conversation.
pub fn may_send(is_participant: bool) -> bool {
    is_participant
}

/// Titles are personal: only a participant has one of their own, admin or not.
pub fn may_keep_title(is_participant: bool) -> bool {
    is_participant
}

/// Receipts say who in the conversation has read a message: an admin looking in leaves none.
pub fn may_mark_read(is_participant: bool) -> bool {
    is_participant
}

/// Reports are for the moderators: admins alone read and close them.
pub fn may_moderate(actor: &Actor) -> bool {
    actor.is_admin
}

/// Reporting and searching are about what a participant saw: only participants report a message or
/// find it, admin or not.
pub fn may_report(is_participant: bool) -> bool {
    is_participant
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(is_admin: bool) -> Actor {
        Actor {
            user_id: Uuid::new_v4(),
            is_admin,
        }
    }

    #[test]
    fn participants_and_admins_access_a_conversation() {
        assert!(may_access_conversation(&actor(false), true));
        assert!(!may_access_conversation(&actor(false), false));
        assert!(may_access_conversation(&actor(true), false));
    }

    #[test]
    fn only_the_sender_or_an_admin_changes_a_message() {
        let sender = actor(false);
        assert!(may_change_message(&sender, sender.user_id));
        assert!(!may_change_message(&actor(false), sender.user_id));
        assert!(may_change_message(&actor(true), sender.user_id));
    }

    #[test]
    fn only_participants_send_keep_titles_and_leave_receipts() {
        for rule in [may_send, may_keep_title, may_mark_read] {
            assert!(rule(true));
            assert!(!rule(false));
        }
    }
}
