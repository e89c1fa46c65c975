//! The HTTP side of an attachment, shared by the minutes and the 服务面对面 questions: reading
//! an upload body within a limit, checking and storing it, answering 201 with its
//! `Location`, and sending a stored file back. Who may upload or read stays with each
//! owner's service; only the wire handling lives here so that both answer alike.

use std::path::PathBuf;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use hongying_proto::minutes::AttachmentMeta;

use crate::error::{AppError, AppResult};
use crate::minutes::attachments::{self, Kind};
use crate::store::minutes::AttachmentRow;

/// An upload that passed the checks and is on disk: what the owner's service records.
pub struct Received {
    pub kind: Kind,
    pub sha: String,
    pub size: usize,
}

/// Reads the request body, at most `limit` bytes (a `Content-Length` over it is refused
/// before anything is read), decides its type from the content against the declared
/// `Content-Type` and `filename`, and stores it content-addressed under `data_dir`.
pub async fn receive(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    filename: &str,
    data_dir: PathBuf,
) -> AppResult<Received> {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("读取上传内容失败：{e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let kind = attachments::classify(&body, declared.as_deref(), filename)?;
    let sha = attachments::sha256_hex(&body);
    let size = body.len();
    let key = attachments::storage_key(&sha);
    let bytes = body.freeze();
    web::block(move || attachments::store(&data_dir, &key, &bytes))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("storing attachment")))?;
    Ok(Received { kind, sha, size })
}

/// 201 with the recorded attachment, `Location` pointing at its download route.
pub fn created(location: String, meta: AttachmentMeta) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(meta)
}

/// The stored file of `row`, typed as detected at upload, named for download, and marked
/// `nosniff` so that no browser second-guesses that type.
pub async fn download(data_dir: PathBuf, row: AttachmentRow) -> AppResult<HttpResponse> {
    let key = row.storage_key.clone();
    let bytes = web::block(move || attachments::load(&data_dir, &key))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("reading attachment")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, row.content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            attachments::content_disposition(&row.filename),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}
