//! Extractors whose failures are problem+json with field-level detail.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use hongying_proto::FieldError;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::AppError;

/// Limit of a JSON body, configured once in app data.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A JSON body: content type checked, size capped, unknown fields refused (the proto
/// types deny them), each wrong field named, then validated with its declared rules.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> FromRequest for ApiJson<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<JsonLimit>>()
            .map(|l| l.0)
            .unwrap_or(256 * 1024);
        let content_type_ok = is_json_content_type(req);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(AppError::UnsupportedMediaType);
            }
            if declared_len.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| AppError::BadRequest(format!("读取请求体失败：{e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            let value = parse_json::<T>(&body)?;
            value
                .validate()
                .map_err(|e| AppError::Validation(field_errors(&e)))?;
            Ok(ApiJson(value))
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes, naming the path of the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                AppError::MalformedJson(inner.to_string())
            }
            serde_json::error::Category::Io => AppError::MalformedJson(inner.to_string()),
            serde_json::error::Category::Data => {
                AppError::InvalidBody(vec![describe_data_error(&path, &inner.to_string())])
            }
        }
    })
}

fn describe_data_error(path: &str, msg: &str) -> FieldError {
    let field = if path == "." {
        String::new()
    } else {
        path.to_string()
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let field = if field.is_empty() || field.ends_with(name) {
            field
        } else {
            format!("{field}.{name}")
        };
        return FieldError {
            field: if field.is_empty() {
                name.to_string()
            } else {
                field
            },
            code: "unknown_field".into(),
            message: format!("未知字段 {name}。"),
        };
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let full = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
        return FieldError {
            field: full,
            code: "required".into(),
            message: format!("缺少必填字段 {name}。"),
        };
    }
    if msg.starts_with("invalid type") {
        return FieldError {
            field,
            code: "invalid_type".into(),
            message: format!("字段类型错误（{}）。", strip_position(msg)),
        };
    }
    FieldError {
        field,
        code: "invalid_value".into(),
        message: format!("字段值无效（{}）。", strip_position(msg)),
    }
}

fn strip_position(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

/// Flattens validator's nested errors into one list with dotted paths.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(errs) => {
                for e in errs {
                    out.push(FieldError {
                        field: path.clone(),
                        code: e.code.to_string(),
                        message: e
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| default_message(&e.code)),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn default_message(code: &str) -> String {
    match code {
        "length" => "长度不符合要求。".into(),
        "range" => "数值超出允许范围。".into(),
        "email" => "邮箱格式不正确。".into(),
        "url" => "网址格式不正确。".into(),
        "required" => "缺少必填字段。".into(),
        "regex" => "格式不正确。".into(),
        other => format!("字段未通过校验（{other}）。"),
    }
}

/// Maps actix's own path and query failures to problem+json.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| AppError::InvalidPath(err.to_string()).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| AppError::InvalidQuery(err.to_string()).into())
}

/// For handlers that still take actix's `web::Json`.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            use actix_web::error::JsonPayloadError as E;
            match err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    AppError::PayloadTooLarge { limit }.into()
                }
                E::ContentType => AppError::UnsupportedMediaType.into(),
                E::Deserialize(e) if e.is_data() => {
                    AppError::InvalidBody(vec![describe_data_error("", &e.to_string())]).into()
                }
                E::Deserialize(e) => AppError::MalformedJson(e.to_string()).into(),
                other => AppError::BadRequest(format!("请求体无效：{other}")).into(),
            }
        })
}
