//! `junqo.conversations.v1.MessagesService`: sending, reading, editing and deleting messages, and read
//! receipts. New messages go through the batching [`crate::writer`]; other changes commit here.

use junqo_proto::conversations::v1 as pb;
use junqo_proto::conversations::v1::messages_service_server::MessagesService;
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Handlers, deadline, traceparent};
use crate::access::{may_access_conversation, may_change_message, may_mark_read};
use crate::domain::{
    Actor, MessageContent, page_limit, parse_client_message_id, parse_event_seq, parse_id,
    parse_seq,
};
use crate::store::{self, MessageRow};
use crate::writer::Draft;
use crate::{ConversationsError, convert, events};

/// The original's default page size for message history.
const DEFAULT_HISTORY_LIMIT: u32 = 20;
/// Most messages one `ListMessagesSince` answers (a rejoining client is replayed up to 1,000), and most
/// events one `ListEventsSince` answers.
const MAX_SINCE_PAGE: u32 = 1000;

/// Whether the caller is a service: only they read by sequence (realtime checked the user's access with
/// the user's own token first).
fn is_service<T>(request: &Request<T>) -> bool {
    matches!(
        request.extensions().get::<jwt::Credential>(),
        Some(jwt::Credential::Service(_))
    )
}

fn since_limit(limit: u32) -> u32 {
    match limit {
        0 => MAX_SINCE_PAGE,
        n => n.min(MAX_SINCE_PAGE),
    }
}

impl Handlers {
    /// Sends one message as `actor`: validates it and hands it to the [`crate::writer`], which checks that
    /// the actor may send it (in the batch's statement, under the conversation's lock) and stores it.
    /// The answer is due by `answer_by`.
    pub(super) async fn create_one(
        &self,
        actor: &Actor,
        request: pb::CreateMessageRequest,
        traceparent: Option<String>,
        answer_by: Instant,
    ) -> Result<pb::Message, Status> {
        let (conversation_id, content, client_message_id) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            MessageContent::parse(&request.content),
            parse_client_message_id(request.client_message_id.as_deref()),
        ))?;
        let row = self
            .inner
            .writer
            .write(Draft {
                conversation_id,
                sender_id: actor.user_id,
                content,
                client_message_id,
                traceparent,
                answer_by,
            })
            .await?;
        Ok(convert::message(&row, &[]))
    }

    /// The message, and whether the actor takes part in its conversation, if the actor may see it;
    /// NotFound alike when it does not exist.
    pub(super) async fn visible_message(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(MessageRow, bool), ConversationsError> {
        let message = store::messages::find(self.pool(), id)
            .await?
            .ok_or(ConversationsError::MessageNotFound(id))?;
        match store::conversations::membership(self.pool(), message.conversation_id, actor.user_id)
            .await?
        {
            Some(is_participant) if may_access_conversation(actor, is_participant) => {
                Ok((message, is_participant))
            }
            _ => Err(ConversationsError::MessageNotFound(id)),
        }
    }

    /// Locks a message the actor is about to change; NotFound if they cannot see it, Forbidden if they
    /// see it but did not send it. Its conversation's row is locked first, as the message writer locks
    /// it: the change's event bumps that row, and the writer holds it while waiting for others.
    async fn lock_own_message(
        tx: &mut sqlx::PgConnection,
        actor: &Actor,
        id: Uuid,
        forbidden: &'static str,
    ) -> Result<MessageRow, ConversationsError> {
        // A message never moves to another conversation: the one read before the lock is its own.
        let conversation = store::messages::conversation_of(tx, id)
            .await?
            .ok_or(ConversationsError::MessageNotFound(id))?;
        let participants = store::conversations::lock(tx, conversation)
            .await?
            .unwrap_or_default();
        let message = store::messages::lock(tx, id)
            .await?
            .ok_or(ConversationsError::MessageNotFound(id))?;
        if !may_access_conversation(actor, participants.contains(&actor.user_id)) {
            return Err(ConversationsError::MessageNotFound(id));
        }
        if !may_change_message(actor, message.sender_id) {
            return Err(ConversationsError::Forbidden(forbidden));
        }
        Ok(message)
    }
}

fn with_receipts(rows: &[MessageRow], receipts: &[store::ReceiptRow]) -> Vec<pb::Message> {
    rows.iter()
        .map(|row| convert::message(row, receipts))
        .collect()
}

#[tonic::async_trait]
impl MessagesService for Handlers {
    async fn create_message(
        &self,
        request: Request<pb::CreateMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let answer_by = deadline::answer_by(&request);
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let message = self
            .create_one(&actor, request.into_inner(), trace, answer_by)
            .await?;
        Ok(Response::new(message))
    }

    async fn create_messages(
        &self,
        request: Request<pb::CreateMessagesRequest>,
    ) -> Result<Response<pb::CreateMessagesResponse>, Status> {
        Ok(Response::new(self.send_batch(request).await?))
    }

    async fn get_message(
        &self,
        request: Request<pb::MessageRef>,
    ) -> Result<Response<pb::Message>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.message_id, "Message ID")?;
        let (message, _) = self.visible_message(&actor, id).await?;
        let receipts = store::messages::receipts(self.pool(), &[id]).await?;
        Ok(Response::new(convert::message(&message, &receipts)))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let conversation_id = parse_id(&request.conversation_id, "Conversation ID")?;
        self.ensure_access(&actor, conversation_id).await?;
        let limit = page_limit(request.limit, DEFAULT_HISTORY_LIMIT);
        let rows = match request.after_seq {
            Some(after) => {
                store::messages::after_seq(self.pool(), conversation_id, after, limit).await?
            }
            None => {
                let before = request.before.as_ref().and_then(convert::from_timestamp);
                store::messages::history(self.pool(), conversation_id, limit, before).await?
            }
        };
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let receipts = store::messages::receipts(self.pool(), &ids).await?;
        Ok(Response::new(pb::ListMessagesResponse {
            count: rows.len() as u64,
            messages: with_receipts(&rows, &receipts),
        }))
    }

    async fn update_message(
        &self,
        request: Request<pb::UpdateMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let (id, content) = validation::all((
            parse_id(&request.message_id, "Message ID"),
            MessageContent::parse(&request.content),
        ))?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        Self::lock_own_message(
            &mut tx,
            &actor,
            id,
            "You do not have permission to update this message",
        )
        .await?;
        let updated = store::messages::update_content(&mut tx, id, content.as_str()).await?;
        // On the transaction's own connection: a second one per edit could exhaust the pool.
        let receipts = store::messages::receipts(&mut *tx, &[id]).await?;
        let event = events::message_updated(&updated, &receipts, trace.as_deref());
        self.commit_with(tx, vec![event]).await?;
        Ok(Response::new(convert::message(&updated, &receipts)))
    }

    async fn delete_message(
        &self,
        request: Request<pb::MessageRef>,
    ) -> Result<Response<pb::Message>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.message_id, "Message ID")?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        let message = Self::lock_own_message(
            &mut tx,
            &actor,
            id,
            "You do not have permission to delete this message",
        )
        .await?;
        store::messages::delete(&mut tx, &message).await?;
        let event = events::message_deleted(&message, actor.user_id, trace.as_deref());
        self.commit_with(tx, vec![event]).await?;
        Ok(Response::new(convert::message(&message, &[])))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MessageRef>,
    ) -> Result<Response<pb::ReadReceipt>, Status> {
        let trace = traceparent(&request);
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.message_id, "Message ID")?;
        let (message, is_participant) = self.visible_message(&actor, id).await?;
        if !may_mark_read(is_participant) {
            return Err(
                ConversationsError::Forbidden("Only participants mark messages as read").into(),
            );
        }
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(ConversationsError::from)?;
        // The conversation's row first, as the message writer locks it (see `store::outbox::insert`).
        store::conversations::lock_rows(&mut tx, &[message.conversation_id]).await?;
        let receipt = store::messages::mark_read(&mut tx, id, actor.user_id).await?;
        store::messages::read_up_to(&mut tx, message.conversation_id, actor.user_id, message.seq)
            .await?;
        let event = events::message_read(message.conversation_id, &receipt, trace.as_deref());
        self.commit_with(tx, vec![event]).await?;
        Ok(Response::new(convert::receipt(&receipt)))
    }

    async fn list_read_receipts(
        &self,
        request: Request<pb::MessageRef>,
    ) -> Result<Response<pb::ListReadReceiptsResponse>, Status> {
        let actor = Actor::of(&request)?;
        let request = request.into_inner();
        let id = parse_id(&request.message_id, "Message ID")?;
        self.visible_message(&actor, id).await?;
        let receipts = store::messages::receipts(self.pool(), &[id]).await?;
        Ok(Response::new(pb::ListReadReceiptsResponse {
            receipts: receipts.iter().map(convert::receipt).collect(),
        }))
    }

    async fn report_message(
        &self,
        request: Request<pb::ReportMessageRequest>,
    ) -> Result<Response<pb::Report>, Status> {
        Ok(Response::new(
            self.file_report(Actor::of(&request)?, request.into_inner())
                .await?,
        ))
    }

    async fn list_reports(
        &self,
        request: Request<pb::ListReportsRequest>,
    ) -> Result<Response<pb::ListReportsResponse>, Status> {
        Ok(Response::new(
            self.reports_page(Actor::of(&request)?, request.into_inner())
                .await?,
        ))
    }

    async fn update_report(
        &self,
        request: Request<pb::UpdateReportRequest>,
    ) -> Result<Response<pb::Report>, Status> {
        Ok(Response::new(
            self.close_report(Actor::of(&request)?, request.into_inner())
                .await?,
        ))
    }

    async fn search_messages(
        &self,
        request: Request<pb::SearchMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        Ok(Response::new(
            self.search(Actor::of(&request)?, request.into_inner())
                .await?,
        ))
    }

    async fn list_messages_since(
        &self,
        request: Request<pb::ListMessagesSinceRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        if !is_service(&request) {
            return Err(
                ConversationsError::Forbidden("Only services read messages by sequence").into(),
            );
        }
        let request = request.into_inner();
        let (conversation_id, after) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            parse_seq(request.after_seq),
        ))?;
        let limit = since_limit(request.limit);
        let rows = store::messages::after_seq(self.pool(), conversation_id, after, limit).await?;
        Ok(Response::new(pb::ListMessagesResponse {
            count: rows.len() as u64,
            messages: with_receipts(&rows, &[]),
        }))
    }

    async fn list_events_since(
        &self,
        request: Request<pb::ListEventsSinceRequest>,
    ) -> Result<Response<pb::ListEventsSinceResponse>, Status> {
        if !is_service(&request) {
            return Err(
                ConversationsError::Forbidden("Only services read events by sequence").into(),
            );
        }
        let request = request.into_inner();
        let (conversation_id, after) = validation::all((
            parse_id(&request.conversation_id, "Conversation ID"),
            parse_event_seq(request.after_event_seq),
        ))?;
        let limit = since_limit(request.limit);
        // Unlike ListMessagesSince (an empty page), a conversation that is gone is NotFound: there is no
        // latest number to answer, and a room whose conversation was deleted (an event that carries no
        // number) learns it here.
        let since = store::outbox::since(self.pool(), conversation_id, after, i64::from(limit))
            .await?
            .ok_or(ConversationsError::ConversationNotFound(conversation_id))?;
        Ok(Response::new(pb::ListEventsSinceResponse {
            events: since.events,
            latest_event_seq: since.latest_event_seq,
            complete: since.complete,
        }))
    }
}
