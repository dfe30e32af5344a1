//! `GET /` (the embedded demo page) and static files under `--static DIR`.
//!
//! Traversal is refused twice: a decoded path with a `..`, `.` , empty-after-decoding, NUL or
//! backslash segment is a 404 before touching the disk, and the resolved file is canonicalized
//! and must still lie under the canonical root (which also refuses symlinks leading out).
//! Directories are never listed.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::conn::{Conn, Next, Reply};
use crate::router::Route;
use crate::wire::{Request, percent_decode};

/// The demo page: four techniques side by side on one topic.
pub const DEMO_PAGE: &str = include_str!("demo.html");

/// Files larger than this are not served (a static tree is operator content, but one request
/// still must not pin unbounded memory or time).
const MAX_FILE: u64 = 256 * 1024 * 1024;

pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: &Request,
    route: Route,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<Next> {
    let next = if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    };
    let root = c.shared.static_root.clone();
    let file = match &root {
        Some(root) => resolve(root, &req.path),
        None => None,
    };
    if let Some((path, meta)) = file {
        if req.method != "GET" && req.method != "HEAD" {
            let r = Reply::error(405).header("Allow", "GET, HEAD");
            c.send(r, keep_alive, head_only).await?;
            return Ok(next);
        }
        let etag = etag(&meta);
        if if_none_match(req, &etag) {
            let r = Reply::new(304, "", Bytes::new()).header("ETag", etag);
            c.send(r, keep_alive, true).await?;
            return Ok(next);
        }
        let body = if head_only {
            Bytes::new()
        } else {
            let t = c.shared.cfg.write_timeout;
            let read = read_file(&path, meta.len());
            match crate::conn::flush_unless_ready(&mut c.io, &mut c.wbuf, t, read).await {
                Ok(b) => b,
                Err(_) => {
                    c.send(Reply::error(404), keep_alive, head_only).await?;
                    return Ok(next);
                }
            }
        };
        let len = meta.len();
        let r = Reply::new(200, content_type(&path), body)
            .header("ETag", etag)
            .header("Cache-Control", "no-cache");
        if head_only {
            // HEAD reports the length GET would send.
            return send_head_with_length(c, r, len, keep_alive)
                .await
                .map(|_| next);
        }
        c.send(r, keep_alive, head_only).await?;
        return Ok(next);
    }
    if route == Route::Index {
        let page = c.shared.cfg.index_page.unwrap_or(DEMO_PAGE);
        let r =
            Reply::new(200, "text/html; charset=utf-8", page).header("Cache-Control", "no-cache");
        c.send(r, keep_alive, head_only).await?;
        return Ok(next);
    }
    c.send(Reply::error(404), keep_alive, head_only).await?;
    Ok(next)
}

/// HEAD: the head GET would send, with its real `Content-Length`, and no body.
async fn send_head_with_length<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    r: Reply,
    len: u64,
    keep_alive: bool,
) -> std::io::Result<()> {
    let connection = c.connection_field(keep_alive);
    r.encode_head(Some(len), connection, &mut c.wbuf);
    c.flush().await
}

async fn read_file(path: &Path, len: u64) -> std::io::Result<Bytes> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut buf = Vec::with_capacity(len.min(MAX_FILE) as usize);
    (&mut f).take(MAX_FILE).read_to_end(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// The file `url_path` names under `root`, if it is a regular file inside `root`.
fn resolve(root: &Path, url_path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
    let decoded = percent_decode(url_path.as_bytes(), false)?;
    let decoded = String::from_utf8(decoded).ok()?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/').skip(1) {
        if seg.is_empty() {
            continue;
        }
        if seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        rel.push(seg);
    }
    let mut candidate = root.join(&rel);
    if decoded.ends_with('/') || rel.as_os_str().is_empty() {
        candidate.push("index.html");
    }
    let real = std::fs::canonicalize(&candidate).ok()?;
    if !real.starts_with(root) {
        return None;
    }
    let meta = std::fs::metadata(&real).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    Some((real, meta))
}

fn etag(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}\"", meta.len(), mtime)
}

/// RFC 9110 §13.1.2: `*` or any listed tag (weak comparison) matches.
fn if_none_match(req: &Request, etag: &str) -> bool {
    let Some(v) = req.header_str("if-none-match") else {
        return false;
    };
    v.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused_encoded_or_not() {
        let dir = std::env::temp_dir().join(format!("pw-files-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("sub"));
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        std::fs::write(dir.join("sub/index.html"), "i").unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        assert!(resolve(&root, "/a.txt").is_some());
        assert!(resolve(&root, "/sub/").is_some());
        assert!(resolve(&root, "/sub").is_none()); // a directory: no listing
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/sub/..%2f..%2fetc/passwd",
            "/sub/%2E%2E/a.txt",
            "/a.txt%00",
            "/..\\a.txt",
            "/%zz",
        ] {
            assert!(resolve(&root, bad).is_none(), "{bad}");
        }
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("/etc/hostname", dir.join("out"));
            assert!(resolve(&root, "/out").is_none());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn types() {
        assert_eq!(
            content_type(Path::new("x.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }
}
