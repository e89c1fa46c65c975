//! Attachments of a meeting record (签到表 photos, scans, PDFs): the type is decided by the
//! content's magic bytes, never by the name or the declared type, and files are stored
//! content-addressed under `<data_dir>/attachments/<first 2 hex of sha256>/<sha256>`.

use std::io::Write;
use std::path::{Path, PathBuf};

use hongying_proto::ErrorCode;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// A type we accept: its MIME type and the file name extensions that fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub mime: &'static str,
    pub extensions: &'static [&'static str],
}

pub const PNG: Kind = Kind {
    mime: "image/png",
    extensions: &["png"],
};
pub const JPEG: Kind = Kind {
    mime: "image/jpeg",
    extensions: &["jpg", "jpeg"],
};
pub const PDF: Kind = Kind {
    mime: "application/pdf",
    extensions: &["pdf"],
};

/// The accepted type the content is, by its first bytes.
pub fn detect(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(PNG)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(JPEG)
    } else if bytes.starts_with(b"%PDF-") {
        Some(PDF)
    } else {
        None
    }
}

fn invalid(detail: &str) -> AppError {
    AppError::Domain {
        status: 422,
        code: ErrorCode::InvalidAttachment,
        detail: detail.into(),
    }
}

/// A file name safe to keep and to send back in `Content-Disposition`: the last path
/// component, without control characters, at most 200 characters.
pub fn clean_filename(raw: &str) -> AppResult<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let name = name.trim().to_owned();
    if name.is_empty() || name == "." || name == ".." {
        return Err(invalid("文件名无效。"));
    }
    Ok(name)
}

fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// Checks an upload and says what it is. Content that is none of PNG, JPEG or PDF is 415;
/// an empty body, or a declared type or name extension that contradicts the content, is
/// 422 `invalid_attachment`.
pub fn classify(bytes: &[u8], declared: Option<&str>, filename: &str) -> AppResult<Kind> {
    if bytes.is_empty() {
        return Err(invalid("上传的文件为空。"));
    }
    let Some(kind) = detect(bytes) else {
        return Err(AppError::Domain {
            status: 415,
            code: ErrorCode::UnsupportedMediaType,
            detail: "只接受 PNG、JPEG 图片或 PDF 文件（按文件内容判断）。".into(),
        });
    };
    if let Some(d) = declared {
        let essence = d
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let generic = essence.is_empty() || essence == "application/octet-stream";
        let same = essence == kind.mime || (kind == JPEG && essence == "image/jpg");
        if !generic && !same {
            return Err(invalid(&format!(
                "声明的类型 {essence} 与文件内容（{}）不符。",
                kind.mime
            )));
        }
    }
    match extension(filename) {
        Some(ext) if kind.extensions.contains(&ext.as_str()) => Ok(kind),
        Some(ext) => Err(invalid(&format!(
            "文件扩展名 .{ext} 与文件内容（{}）不符。",
            kind.mime
        ))),
        None => Err(invalid(
            "文件名须带有与内容相符的扩展名（.png、.jpg、.pdf）。",
        )),
    }
}

/// Hex SHA-256 of the content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The storage key of content with this digest (relative to the attachments root).
pub fn storage_key(sha: &str) -> String {
    format!("{}/{sha}", &sha[..2.min(sha.len())])
}

pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("attachments")
}

/// Writes the content under its key unless it is there already (same digest, same bytes).
/// Written to a temporary file first and renamed, so a reader never sees half a file.
pub fn store(data_dir: &Path, key: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = root(data_dir).join(key);
    if path.exists() {
        return Ok(());
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("attachment path without a directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    drop(tmp.1);
    std::fs::rename(&tmp.0, &path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

/// Reads stored content back.
pub fn load(data_dir: &Path, key: &str) -> std::io::Result<Vec<u8>> {
    // Keys are written by `storage_key` only; refuse anything that could leave the root.
    if key.contains("..") || key.starts_with('/') || key.contains('\\') {
        return Err(std::io::Error::other("bad storage key"));
    }
    std::fs::read(root(data_dir).join(key))
}

/// `Content-Disposition` value for a download, with the UTF-8 name (RFC 6266/5987) and an
/// ASCII fallback.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.as_bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(b) {
            encoded.push(char::from(*b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_content_decides_the_type() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(classify(png, Some("image/png"), "签到表.png").unwrap(), PNG);
        assert_eq!(classify(png, None, "a.PNG").unwrap(), PNG);
        assert_eq!(
            classify(b"%PDF-1.7 ...", Some("application/octet-stream"), "x.pdf").unwrap(),
            PDF
        );
        assert_eq!(
            classify(&[0xFF, 0xD8, 0xFF, 0xE0], Some("image/jpg"), "p.jpeg").unwrap(),
            JPEG
        );

        // Text dressed as a photo.
        let e = classify(b"hello, not a photo", Some("image/jpeg"), "photo.jpg").unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedMediaType);
        // A real PNG claiming to be a PDF, by type or by name.
        assert_eq!(
            classify(png, Some("application/pdf"), "a.png")
                .unwrap_err()
                .code(),
            ErrorCode::InvalidAttachment
        );
        assert_eq!(
            classify(png, None, "a.pdf").unwrap_err().code(),
            ErrorCode::InvalidAttachment
        );
        assert_eq!(
            classify(png, None, "noext").unwrap_err().code(),
            ErrorCode::InvalidAttachment
        );
        assert_eq!(
            classify(b"", None, "a.png").unwrap_err().code(),
            ErrorCode::InvalidAttachment
        );
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(
            clean_filename("../../etc/passwd.png").unwrap(),
            "passwd.png"
        );
        assert_eq!(clean_filename("C:\\x\\签到表.jpg").unwrap(), "签到表.jpg");
        assert_eq!(clean_filename("a\"b\n.pdf").unwrap(), "ab.pdf");
        assert!(clean_filename("..").is_err());
        assert!(clean_filename("  ").is_err());
    }

    #[test]
    fn stored_content_round_trips_and_keys_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"%PDF-1.4 test";
        let key = storage_key(&sha256_hex(bytes));
        store(dir.path(), &key, bytes).unwrap();
        store(dir.path(), &key, bytes).unwrap();
        assert_eq!(load(dir.path(), &key).unwrap(), bytes);
        assert!(load(dir.path(), "../secret").is_err());
        assert!(content_disposition("签到表.pdf").contains("filename*=UTF-8''%E7%AD%BE"));
    }
}
