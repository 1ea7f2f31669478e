//! Full-text search over the messages of the actor's conversations (part of `MessagesService`).

use junqo_proto::conversations::v1 as pb;
use tonic::Status;

use super::Handlers;
use crate::access::may_report;
use crate::domain::{Actor, SearchQuery, page_limit, parse_optional_id};
use crate::{ConversationsError, convert, store};

/// A search page, as for history.
const DEFAULT_SEARCH_LIMIT: u32 = 20;

impl Handlers {
    pub(super) async fn search(
        &self,
        actor: Actor,
        request: pb::SearchMessagesRequest,
    ) -> Result<pb::ListMessagesResponse, Status> {
        let (query, conversation) = validation::all((
            SearchQuery::parse(&request.query),
            parse_optional_id(request.conversation_id.as_deref(), "Conversation ID"),
        ))?;
        if let Some(id) = conversation {
            // Only conversations the actor takes part in, admin or not: search finds what one saw.
            let membership =
                store::conversations::membership(self.pool(), id, actor.user_id).await?;
            if !membership.is_some_and(may_report) {
                return Err(ConversationsError::ConversationNotFound(id).into());
            }
        }
        let Some(tsquery) = query.tsquery() else {
            return Ok(pb::ListMessagesResponse::default());
        };
        let limit = page_limit(request.limit, DEFAULT_SEARCH_LIMIT);
        let before = request.before.as_ref().and_then(convert::from_timestamp);
        let rows = store::messages::search(
            self.pool(),
            actor.user_id,
            tsquery,
            conversation,
            before,
            limit,
        )
        .await?;
        Ok(pb::ListMessagesResponse {
            count: rows.len() as u64,
            messages: rows.iter().map(|row| convert::message(row, &[])).collect(),
        })
    }
}
