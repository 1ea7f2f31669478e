//! Reports of messages and the moderators' queue (part of `MessagesService`). A participant reports what
//! they saw; admins alone list and close reports.

use junqo_proto::conversations::v1 as pb;
use tonic::Status;

use super::Handlers;
use crate::access::{may_moderate, may_report};
use crate::domain::{Actor, ReportStatus, page_limit, parse_id, parse_reason};
use crate::{ConversationsError, convert, store};

/// The moderators' default page.
const DEFAULT_REPORTS_LIMIT: u32 = 20;

impl Handlers {
    pub(super) async fn file_report(
        &self,
        actor: Actor,
        request: pb::ReportMessageRequest,
    ) -> Result<pb::Report, Status> {
        let (id, reason) = validation::all((
            parse_id(&request.message_id, "Message ID"),
            parse_reason(&request.reason),
        ))?;
        let (message, is_participant) = self.visible_message(&actor, id).await?;
        if !may_report(is_participant) {
            // An admin looking in moderates; a report is a participant's word.
            return Err(ConversationsError::Forbidden("Only participants report messages").into());
        }
        let report = store::reports::insert(self.pool(), &message, actor.user_id, &reason)
            .await?
            .ok_or(ConversationsError::Conflict("Message already reported"))?;
        Ok(convert::report(&report))
    }

    pub(super) async fn reports_page(
        &self,
        actor: Actor,
        request: pb::ListReportsRequest,
    ) -> Result<pb::ListReportsResponse, Status> {
        ensure_moderator(&actor)?;
        let status = ReportStatus::parse_filter(&request.status)?;
        let limit = page_limit(request.limit, DEFAULT_REPORTS_LIMIT);
        let (rows, count) = store::reports::list(
            self.pool(),
            status.map(ReportStatus::as_str),
            limit,
            request.offset,
        )
        .await?;
        Ok(pb::ListReportsResponse {
            reports: rows.iter().map(convert::report).collect(),
            count: u64::try_from(count).unwrap_or_default(),
        })
    }

    pub(super) async fn close_report(
        &self,
        actor: Actor,
        request: pb::UpdateReportRequest,
    ) -> Result<pb::Report, Status> {
        ensure_moderator(&actor)?;
        let (id, status) = validation::all((
            parse_id(&request.report_id, "Report ID"),
            ReportStatus::parse_closing(&request.status),
        ))?;
        let report = store::reports::set_status(self.pool(), id, status.as_str())
            .await?
            .ok_or(ConversationsError::ReportNotFound(id))?;
        Ok(convert::report(&report))
    }
}

fn ensure_moderator(actor: &Actor) -> Result<(), ConversationsError> {
    if may_moderate(actor) {
        Ok(())
    } else {
        Err(ConversationsError::Forbidden("Forbidden resource"))
    }
}
