//! `junqo.conversations.v1.ConversationsService`: conversations, their participants and each
//! participant's own title.

use junqo_proto::conversations::v1 as pb;
use junqo_proto::conversations::v1::conversations_service_server::ConversationsService;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use validation::Violations;

use super::{Handlers, traceparent};
use crate::access::{may_access_conversation, may_keep_title};
use crate::domain::{
    Actor, ParticipantsForm, Title, page_limit, parse_id, parse_optional_id, parse_participants,
    parse_seq,
};
use crate::store::{self, conversations::NewConversation};
use crate::{ConversationsError, convert, events};

/// The original's default page size for conversation lists.
const DEFAULT_LIST_LIMIT: u32 = 10;

impl Handlers {
    /// The conversation as the actor sees it, or NotFound when it does not exist or they may not see it.
    async fn visible(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<pb::Conversation, ConversationsError> {
        let row = store::conversations::find(self.pool(), actor.user_id, id)
            .await?
            .filter(|row| {
                may_access_conversation(actor, row.participant_ids.contains(&actor.user_id))
            })
            .ok_or(ConversationsError::ConversationNotFound(id))?;
        Ok(convert::conversation(row))
    }

    /// Fails with NotFound unless the actor may act on the conversation.
    pub(super) async fn ensure_access(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), ConversationsError> {
        match store::conversations::membership(self.pool(), id, actor.user_id).await? {
            Some(is_participant) if may_access_conversation(actor, is_participant) => Ok(()),
            _ => Err(ConversationsError::ConversationNotFound(id)),
        }
    }

    /// Locks the conversation in `tx` and returns its participants, after checking the actor's access.
    async fn lock_for(
        tx: &mut sqlx::PgConnection,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Vec<Uuid>, ConversationsError> {
        store::conversations::lock(tx, id)
            .await?
            .filter(|participants| {
                may_access_conversation(actor, participants.contains(&actor.user_id))
            })
            .ok_or(ConversationsError::ConversationNotFound(id))
    }
}

#[tonic::async_trait]
impl ConversationsService for Handlers {
    async fn create_conversation(
        &self,
        request: Request<pb::CreateConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (mut participants, title, offer_id, application_id) = validation::all((
            parse_participants(&request.participant_ids, ParticipantsForm::Create),
            Title::parse_optional(request.title.as_deref()),
            parse_optional_id(request.offer_id.as_deref(), "Offer ID"),
            parse_optional_id(request.application_id.as_deref(), "Application ID"),
        ))?;

        participants.retain(|id| *id != actor.user_id);
        // The creator takes one of the places.
        let room_for = self.inner.max_participants - 1;
        if participants.len() > room_for {
            return Err(participant_cap(format!(
                "participantsIds must contain no more than {room_for} elements"
            )));
        }
        self.inner.users.ensure_exist(&participants).await?;
        if store::blocks::any_between(self.pool(), actor.user_id, &participants).await? {
            return Err(ConversationsError::Forbidden(
                "You cannot start a conversation with this user",
            )
            .into());
        }
        participants.insert(0, actor.user_id);

        let id = Uuid::new_v4();
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        store::conversations::insert(
            &mut tx,
            NewConversation {
                id,
                title: title.as_ref().map(Title::as_str),
                offer_id,
                application_id,
                participants: &participants,
            },
        )
        .await?;
        let event = events::participants_added(id, &participants, actor.user_id, trace.as_deref());
        self.commit_with(tx, vec![event]).await?;
        Ok(Response::new(self.visible(&actor, id).await?))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::ConversationRef>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.conversation_id, "Conversation ID")?;
        Ok(Response::new(self.visible(&actor, id).await?))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let with = parse_optional_id(request.participant_id.as_deref(), "Participant ID")?;
        let limit = page_limit(request.limit, DEFAULT_LIST_LIMIT);
        let (rows, count) =
            store::conversations::list(self.pool(), actor.user_id, with, limit, request.offset)
                .await?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: rows.into_iter().map(convert::conversation).collect(),
            count: u64::try_from(count).unwrap_or_default(),
        }))
    }

    async fn delete_conversation(
        &self,
        request: Request<pb::ConversationRef>,
    ) -> Result<Response<pb::Empty>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.conversation_id, "Conversation ID")?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        let participants = Self::lock_for(&mut tx, &actor, id).await?;
        store::conversations::delete(&mut tx, id).await?;
        let event =
            events::conversation_deleted(id, &participants, actor.user_id, trace.as_deref());
        self.commit_with(tx, vec![event]).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn add_participants(
        &self,
        request: Request<pb::ParticipantsRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (id, users) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            parse_participants(&request.participant_ids, ParticipantsForm::Add),
        ))?;
        self.ensure_access(&actor, id).await?;
        self.inner.users.ensure_exist(&users).await?;
        if store::blocks::any_between(self.pool(), actor.user_id, &users).await? {
            return Err(ConversationsError::Forbidden(
                "You cannot add this user to a conversation",
            )
            .into());
        }

        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        let present = Self::lock_for(&mut tx, &actor, id).await?;
        let newcomers = users.iter().filter(|u| !present.contains(*u)).count();
        if present.len() + newcomers > self.inner.max_participants {
            return Err(participant_cap(format!(
                "participantsIds would take the conversation past {} participants",
                self.inner.max_participants
            )));
        }
        let added = store::conversations::add_participants(&mut tx, id, &users).await?;
        let mut changes = Vec::new();
        if !added.is_empty() {
            store::conversations::touch(&mut tx, id).await?;
            changes.push(events::participants_added(
                id,
                &added,
                actor.user_id,
                trace.as_deref(),
            ));
        }
        self.commit_with(tx, changes).await?;
        Ok(Response::new(self.visible(&actor, id).await?))
    }

    async fn remove_participants(
        &self,
        request: Request<pb::ParticipantsRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (id, users) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            parse_participants(&request.participant_ids, ParticipantsForm::Remove),
        ))?;

        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        let participants = Self::lock_for(&mut tx, &actor, id).await?;
        if participants.iter().all(|p| users.contains(p)) {
            return Err(ConversationsError::Forbidden(
                "Cannot remove all participants from a conversation",
            )
            .into());
        }
        let removed = store::conversations::remove_participants(&mut tx, id, &users).await?;
        let mut changes = Vec::new();
        if !removed.is_empty() {
            store::conversations::touch(&mut tx, id).await?;
            changes.push(events::participants_removed(
                id,
                &removed,
                actor.user_id,
                trace.as_deref(),
            ));
        }
        self.commit_with(tx, changes).await?;
        // A participant who removed themselves no longer sees the conversation, but is told how it ends.
        let row = store::conversations::find(self.pool(), actor.user_id, id)
            .await?
            .ok_or(ConversationsError::ConversationNotFound(id))?;
        Ok(Response::new(convert::conversation(row)))
    }

    async fn get_title(
        &self,
        request: Request<pb::ConversationRef>,
    ) -> Result<Response<pb::ConversationTitle>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.conversation_id, "Conversation ID")?;
        self.ensure_access(&actor, id).await?;
        let title = store::conversations::title(self.pool(), id, actor.user_id).await?;
        Ok(Response::new(pb::ConversationTitle {
            user_id: actor.user_id.to_string(),
            conversation_id: id.to_string(),
            title: title.unwrap_or_default(),
        }))
    }

    async fn set_title(
        &self,
        request: Request<pb::SetTitleRequest>,
    ) -> Result<Response<pb::ConversationTitle>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (id, title) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            Title::parse(&request.title),
        ))?;
        match store::conversations::membership(self.pool(), id, actor.user_id).await? {
            Some(is_participant) if may_access_conversation(&actor, is_participant) => {
                if !may_keep_title(is_participant) {
                    return Err(ConversationsError::Forbidden(
                        "Only participants can set their own title",
                    )
                    .into());
                }
            }
            _ => return Err(ConversationsError::ConversationNotFound(id).into()),
        }
        store::conversations::set_title(self.pool(), id, actor.user_id, title.as_str()).await?;
        Ok(Response::new(pb::ConversationTitle {
            user_id: actor.user_id.to_string(),
            conversation_id: id.to_string(),
            title: title.as_str().to_owned(),
        }))
    }

    async fn delete_title(
        &self,
        request: Request<pb::ConversationRef>,
    ) -> Result<Response<pb::Empty>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.conversation_id, "Conversation ID")?;
        self.ensure_access(&actor, id).await?;
        if !store::conversations::delete_title(self.pool(), id, actor.user_id).await? {
            return Err(ConversationsError::TitleNotFound {
                user: actor.user_id,
                conversation: id,
            }
            .into());
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn check_access(
        &self,
        request: Request<pb::ConversationRef>,
    ) -> Result<Response<pb::AccessGrant>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.conversation_id, "Conversation ID")?;
        match store::conversations::access_grant(self.pool(), id, actor.user_id).await? {
            Some(grant) if may_access_conversation(&actor, grant.is_participant) => {
                Ok(Response::new(pb::AccessGrant {
                    latest_seq: grant.latest_seq,
                    latest_event_seq: grant.latest_event_seq,
                }))
            }
            _ => Err(ConversationsError::ConversationNotFound(id).into()),
        }
    }

    async fn list_contacts(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let actor = Actor::of_user_or_service(&request)?;
        let contacts = store::conversations::contacts(self.pool(), actor.user_id).await?;
        Ok(Response::new(pb::ListContactsResponse {
            user_ids: contacts.iter().map(Uuid::to_string).collect(),
        }))
    }

    async fn mark_conversation_read(
        &self,
        request: Request<pb::MarkConversationReadRequest>,
    ) -> Result<Response<pb::ConversationReadState>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (id, seq) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            parse_seq(request.seq),
        ))?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        // The conversation's row first, as the message writer locks it (see `store::outbox::insert`).
        store::conversations::lock_rows(&mut tx, &[id]).await?;
        // Read state is a participant's own: anyone else (an admin looking in too) finds nothing here.
        let (last_read, last_seq) = store::messages::lock_read_state(&mut tx, id, actor.user_id)
            .await?
            .ok_or(ConversationsError::ConversationNotFound(id))?;
        if seq > last_seq {
            return Err(Violations::one("Seq must not be beyond the latest message").into_status());
        }
        let mut changes = Vec::new();
        let last_read_seq = if seq > last_read {
            store::messages::read_up_to(&mut tx, id, actor.user_id, seq).await?;
            changes.push(events::conversation_read(
                id,
                actor.user_id,
                seq,
                trace.as_deref(),
            ));
            seq
        } else {
            last_read
        };
        let unread_count =
            store::messages::unread_count(&mut *tx, id, actor.user_id, last_read_seq).await?;
        self.commit_with(tx, changes).await?;
        Ok(Response::new(pb::ConversationReadState {
            conversation_id: id.to_string(),
            user_id: actor.user_id.to_string(),
            last_read_seq,
            unread_count,
        }))
    }

    async fn block_user(
        &self,
        request: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::Block>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let other = parse_other_user(&actor, &request.user_id)?;
        // The auth service owns users: ask it whether this one exists.
        match self.inner.users.ensure_exist(&[other]).await {
            Err(ConversationsError::UnknownUser(_)) => {
                return Err(ConversationsError::UserNotFound(other).into());
            }
            outcome => outcome?,
        }
        let block = store::blocks::insert(self.pool(), actor.user_id, other).await?;
        Ok(Response::new(convert::block(&block)))
    }

    async fn unblock_user(
        &self,
        request: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let other = parse_other_user(&actor, &request.user_id)?;
        store::blocks::delete(self.pool(), actor.user_id, other).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn list_kept_apart(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let actor = Actor::of(&request)?;
        let users = store::blocks::kept_apart(self.pool(), actor.user_id).await?;
        Ok(Response::new(pb::ListContactsResponse {
            user_ids: users.iter().map(Uuid::to_string).collect(),
        }))
    }

    async fn list_blocked(
        &self,
        request: Request<pb::ListBlockedRequest>,
    ) -> Result<Response<pb::ListBlockedResponse>, Status> {
        let actor = Actor::of(&request)?;
        let blocks = store::blocks::list(self.pool(), actor.user_id).await?;
        Ok(Response::new(pb::ListBlockedResponse {
            blocks: blocks.iter().map(convert::block).collect(),
        }))
    }
}

/// The user to block or unblock: a valid id, and not the actor.
fn parse_other_user(actor: &Actor, text: &str) -> Result<Uuid, Status> {
    let other = parse_id(text, "User ID")?;
    if other == actor.user_id {
        return Err(Violations::one("You cannot block yourself").into_status());
    }
    Ok(other)
}

/// Over `CONVERSATION_MAX_PARTICIPANTS`: a 400 naming the REST field. When adding, the count is taken
/// under the conversation's lock, so concurrent additions cannot pass the cap together.
fn participant_cap(sentence: String) -> Status {
    validation::Violations::one(sentence).into_status()
}
