//! The web client's files under `/pkg/`: named by content hash, sent precompressed, cached by
//! browsers for good.
//!
//! `scripts/build-web` names each file `hoop.<hash>.<ext>` (the hash, as cargo-leptos makes
//! it, is the MD5 of the final bytes in unpadded base64url: 22 characters), writes `.br` and
//! `.gz` next to it, and lists the hashes in `hash.txt` at the site root, where Leptos reads
//! them to name the files in each page. A hashed name never changes its bytes, so it may be
//! cached forever; a new build is a new name, which the next page asks for.

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::Response,
    Router,
};
use std::path::{Path, PathBuf};
use tower_http::services::ServeDir;

/// Where Leptos finds the hashes: it joins this to the binary's own directory, so an absolute
/// path keeps the build's list with the build's files, wherever the binary is.
pub fn hash_file(site_root: &Path) -> PathBuf {
    let file = site_root.join("hash.txt");
    std::path::absolute(&file).unwrap_or(file)
}

/// `/pkg/` from the site root: the `.br` or `.gz` twin of a file when the request accepts it
/// (ServeDir honours `Accept-Encoding` and its q-values), the file itself otherwise.
pub fn router(site_root: &Path, pkg_dir: &str) -> Router {
    let files = ServeDir::new(site_root.join(pkg_dir))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service(&format!("/{pkg_dir}"), files)
        .layer(middleware::from_fn(cache_headers))
}

async fn cache_headers(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let found = response.status().is_success() || response.status().as_u16() == 304;
    let policy = if hashed && found {
        "public, max-age=31536000, immutable"
    } else {
        // An unhashed name may get new bytes: the browser asks again each time (a 304 when
        // nothing changed).
        "no-cache"
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    // One URL, several bodies: a shared cache must not hand the brotli one to a client that
    // did not ask for it.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// `name.<22 base64url characters>.ext`, as build-web names what it hashed.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn only_names_with_a_content_hash_count_as_hashed() {
        assert!(is_hashed("/pkg/hoop.ZPTsdQ6ec0pw-TW6Ra_dvQ.wasm"));
        assert!(is_hashed("/pkg/hoop.ZPTsdQ6ec0pw-TW6Ra_dvQ.css"));
        assert!(!is_hashed("/pkg/hoop.wasm"));
        assert!(!is_hashed("/pkg/hoop_bg.wasm"));
        assert!(!is_hashed("/pkg/.ZPTsdQ6ec0pw-TW6Ra_dvQ.js"));
        assert!(!is_hashed("/pkg/hoop.ZPTsdQ6ec0pw-TW6Ra_dv.js"));
        assert!(!is_hashed("/pkg/hoop.ZPTsdQ6ec0pw+TW6Ra/dvQ.js"));
    }
}
