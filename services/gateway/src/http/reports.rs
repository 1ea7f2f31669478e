//! `/messages/{id}/report` (a participant reports a message) and `/reports` (the moderators' queue,
//! admins only). The conversations service decides who may; these handlers shape the answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use junqo_proto::conversations::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use validation::rules::{self, Raw};

use super::dto::{ErrorDto, ReportBody, ReportDto, ReportStatusBody, Rows};
use super::extract::{PathId, QueryParams};
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_message))
        .routes(routes!(list_reports))
        .routes(routes!(close_report))
}

/// Report a message to the moderators. Participants only; one open report per message and reporter.
#[utoipa::path(post, path = "/messages/{id}/report", tag = "reports", request_body = ReportBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 201, description = "The report, open", body = ReportDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 403, description = "Only participants report messages", body = ErrorDto), (status = 404, description = "No such message, or the caller may not see it", body = ErrorDto),
              (status = 409, description = "Message already reported (by the caller, still open)", body = ErrorDto)))]
async fn report_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<(StatusCode, Json<ReportDto>), ApiError> {
    body.allow_fields_of::<ReportBody>()?;
    let reason = match Raw::json(body.get("reason")) {
        Raw::Text(reason) => reason.to_owned(),
        other => rules::required_text(other, "Reason", 500)?,
    };
    let request = pb::ReportMessageRequest {
        message_id: id.0.to_string(),
        reason,
    };
    let report = state
        .messages
        .clone()
        .report_message(caller.call(request))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ReportDto::filed(report.into_inner())),
    ))
}

/// The moderators' queue, oldest first. Admins only.
#[utoipa::path(get, path = "/reports", tag = "reports", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "open, resolved or dismissed (default: every status)"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)"),
        ("offset" = Option<u32>, Query, description = "reports to skip (default 0)"),
    ),
    responses((status = 200, description = "A page of reports, each with the message as reported", body = Rows<ReportDto>), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 403, description = "Admins only", body = ErrorDto)))]
async fn list_reports(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Rows<ReportDto>>, ApiError> {
    query.allow_only(&["status", "limit", "offset"])?;
    let (limit, offset) = validation::all((
        query.integer("limit", "Limit", 1, Some(100)),
        query.integer("offset", "Offset", 0, None),
    ))?;
    let request = pb::ListReportsRequest {
        status: query.get("status").unwrap_or_default().to_owned(),
        limit: limit.and_then(|n| u32::try_from(n).ok()).unwrap_or(20),
        offset: offset.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
    };
    let page = state
        .messages
        .clone()
        .list_reports(caller.call(request))
        .await?
        .into_inner();
    Ok(Json(Rows {
        rows: page.reports.into_iter().map(ReportDto::moderated).collect(),
        count: page.count,
    }))
}

/// Close a report as resolved or dismissed. Admins only.
#[utoipa::path(patch, path = "/reports/{id}", tag = "reports", request_body = ReportStatusBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The report, as changed", body = ReportDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 403, description = "Admins only", body = ErrorDto), (status = 404, description = "No such report", body = ErrorDto)))]
async fn close_report(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<ReportDto>, ApiError> {
    body.allow_fields_of::<ReportStatusBody>()?;
    let request = pb::UpdateReportRequest {
        report_id: id.0.to_string(),
        status: body.text("status").unwrap_or_default(),
    };
    let report = state
        .messages
        .clone()
        .update_report(caller.call(request))
        .await?;
    Ok(Json(ReportDto::moderated(report.into_inner())))
}
