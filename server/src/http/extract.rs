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

/// Deserializes, naming the path of the field that failed. A NUL character is refused in
/// any string: no text a person writes has one, PostgreSQL cannot store it, and SQLite
/// would keep it silently, so the two backends would answer differently.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if has_escaped_nul(bytes) {
        return Err(AppError::InvalidBody(vec![FieldError {
            field: String::new(),
            code: "nul_character".into(),
            message: "文字中不能含有空字符（\\u0000）。".into(),
        }]));
    }
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
            message: format!("字段类型错误：{}", serde_zh(msg)),
        };
    }
    FieldError {
        field,
        code: "invalid_value".into(),
        message: format!("字段值无效：{}", serde_zh(msg)),
    }
}

fn strip_position(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

/// Whether the JSON text holds the escape `\u0000` (a raw NUL byte is already invalid
/// JSON). A backslash that is itself escaped (`\\u0000`, the six characters) is not one.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(pos) = bytes[i..]
        .windows(6)
        .position(|w| w.eq_ignore_ascii_case(b"\\u0000"))
    {
        let at = i + pos;
        let backslashes = bytes[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            return true;
        }
        i = at + 1;
    }
    false
}

/// The first `` `name` `` in a serde message.
fn quoted(msg: &str) -> &str {
    msg.split('`').nth(1).unwrap_or_default()
}

/// What serde, serde_urlencoded and chrono say, in Chinese: their messages are English and
/// reach people through `detail` and `errors[].message`. Field names and allowed values
/// stay as the API spells them (they are what an app sends); every other word is Chinese.
pub fn serde_zh(msg: &str) -> String {
    let msg = strip_position(msg);
    let msg = ["Query deserialize error: ", "Path deserialize error: "]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .unwrap_or(msg);
    if msg.starts_with("unknown field `") {
        return format!("不认识的参数 {}。", quoted(msg));
    }
    if msg.starts_with("missing field `") {
        return format!("缺少必填参数 {}。", quoted(msg));
    }
    if msg.starts_with("unknown variant `") {
        let allowed: Vec<&str> = msg
            .split_once("expected")
            .map(|(_, rest)| rest.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        return if allowed.is_empty() {
            format!("取值 {} 无效。", quoted(msg))
        } else {
            format!("取值 {} 无效，可选：{}。", quoted(msg), allowed.join("、"))
        };
    }
    if let Some((_, expected)) = msg.split_once(", expected ") {
        return format!("应为{}。", expected_zh(expected));
    }
    if msg.contains("invalid digit") || msg.contains("cannot parse integer") {
        return "应为整数。".into();
    }
    if msg.contains("number too large") || msg.contains("number too small") {
        return "数值超出范围。".into();
    }
    if msg.contains("input contains invalid characters")
        || msg.contains("premature end of input")
        || msg.contains("trailing input")
        || msg.contains("input is out of range")
        || msg.contains("input is not enough")
    {
        return "日期或时间格式无效（日期如 2026-11-28，时间如 2026-11-28T10:00:00+08:00）。"
            .into();
    }
    if msg.starts_with("can not parse") {
        let to = msg.rsplit(" to a ").next().unwrap_or_default();
        return format!("应为{}。", expected_zh(to));
    }
    "格式无效。".into()
}

fn expected_zh(expected: &str) -> &'static str {
    let e = expected.trim();
    let has = |w: &str| e.contains(w);
    if [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "integer",
    ]
    .iter()
    .any(|w| has(w))
    {
        "整数"
    } else if has("f32") || has("f64") || has("float") || has("number") {
        "数字"
    } else if has("bool") {
        "true 或 false"
    } else if has("sequence") || has("array") {
        "列表"
    } else if has("date") || has("Date") || has("RFC") {
        "日期或时间（日期如 2026-11-28，时间如 2026-11-28T10:00:00+08:00）"
    } else if has("string") || has("str") || has("char") {
        "文本"
    } else if has("map") || has("struct") || has("object") {
        "对象"
    } else if has("variant") || has("one of") {
        "允许的取值之一"
    } else {
        "正确的格式"
    }
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
        .error_handler(|err, _req| AppError::InvalidPath(serde_zh(&err.to_string())).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| AppError::InvalidQuery(serde_zh(&err.to_string())).into())
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

#[cfg(test)]
mod tests {
    use super::serde_zh;

    /// What serde and friends really say, as the detail a person reads: no English left
    /// but the field names and values the API itself uses.
    #[test]
    fn serde_messages_read_in_chinese() {
        let cases = [
            (
                "Query deserialize error: unknown field `limit`, expected `role`",
                "limit",
            ),
            ("missing field `title` at line 1 column 2", "title"),
            (
                "unknown variant `weekly`, expected one of `congress`, `committee`",
                "weekly",
            ),
            (
                "invalid type: string \"x\", expected u32 at line 1 column 9",
                "",
            ),
            ("invalid value: integer `-1`, expected u32", ""),
            ("Path deserialize error: can not parse \"abc\" to a u32", ""),
            ("input contains invalid characters", ""),
            ("Query deserialize error: invalid digit found in string", ""),
            ("something nobody foresaw", ""),
        ];
        for (msg, keep) in cases {
            let zh = serde_zh(msg);
            let english: String = zh
                .replace(keep, "")
                .replace("congress", "")
                .replace("committee", "")
                .replace("true", "")
                .replace("false", "")
                .replace('T', "");
            assert!(
                !english.chars().any(|c| c.is_ascii_alphabetic()),
                "{msg} → {zh}"
            );
            assert!(zh.contains(keep), "{msg} → {zh}");
        }
        assert_eq!(
            serde_zh("invalid type: string \"x\", expected u32"),
            "应为整数。"
        );
    }

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        use super::has_escaped_nul;
        assert!(has_escaped_nul(br#"{"title":"a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"title":"\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"title":"\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"title":"u0000"}"#));
    }
}
