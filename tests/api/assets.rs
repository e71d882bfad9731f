//! The web client's files through the real binary: pages name them by content hash, they come
//! precompressed as the request accepts, browsers may keep them for good; pages stay uncached.
//!
//! The site is made here, as scripts/build-web lays it out (hash.txt, `pkg/hoop.<hash>.<ext>`
//! with `.br` and `.gz` twins), so that no wasm build is needed; the gateway does not check a
//! hash against the bytes, it only serves what the list names.

use crate::helpers::*;
use reqwest::{header, Client, Response};
use std::{io::Read, path::Path};

const FILES: [(&str, &str, &str); 3] = [
    ("js", "JsHash_0123456789abcde", "text/javascript"),
    ("wasm", "WasmHash-0123456789abc", "application/wasm"),
    ("css", "CssHash_0123456789abcd", "text/css"),
];

/// Bytes that compress, different for each file so that a mix-up shows.
fn content(ext: &str) -> Vec<u8> {
    let mut bytes = if ext == "wasm" {
        b"\0asm\x01\0\0\0".to_vec()
    } else {
        Vec::new()
    };
    for i in 0..2000 {
        bytes.extend_from_slice(format!("/* {ext} line {i} */\n").as_bytes());
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzEncoder::new(bytes, flate2::Compression::default())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::CompressorReader::new(bytes, 4096, 9, 22)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn make_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let mut list = String::new();
    for (ext, hash, _) in FILES {
        assert_eq!(hash.len(), 22, "build-web's hashes are 22 characters");
        let name = format!("hoop.{hash}.{ext}");
        let bytes = content(ext);
        std::fs::write(pkg.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        std::fs::write(pkg.join(format!("{name}.br")), brotli(&bytes)).unwrap();
        std::fs::write(pkg.join(&name), bytes).unwrap();
        list.push_str(&format!("{ext}: {hash}\n"));
    }
    std::fs::write(root.join("hash.txt"), list).unwrap();
    // A name without a hash, as an older build left it.
    std::fs::write(pkg.join("hoop.js"), content("js")).unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
}

async fn fetch(gw: &Gateway, path: &str, accept: Option<&str>) -> Response {
    let mut request = Client::new().get(gw.url(path));
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path} with {accept:?}");
    response
}

fn header(response: &Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .map_or("", |v| v.to_str().unwrap())
}

async fn assets_are_hashed_precompressed_and_immutable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    make_site(&site);
    let (database_url, _) = fresh_database(backend, dir.path()).await;
    let gw = Gateway::start(&[
        ("DATABASE_URL", &database_url),
        ("HOOP_SITE_ROOT", site.to_str().unwrap()),
    ])
    .await;

    let page = fetch(&gw, "/login", None).await;
    assert_eq!(header(&page, header::CACHE_CONTROL), "no-store");
    let html = page.text().await.unwrap();
    for (ext, hash, content_type) in FILES {
        let path = format!("/pkg/hoop.{hash}.{ext}");
        assert!(
            html.contains(&format!("\"{path}\"")),
            "{path} not in {html}"
        );
        let original = content(ext);
        for (accept, encoding) in [
            // What browsers send: brotli is the smallest on offer.
            (Some("gzip, deflate, br"), "br"),
            (Some("br"), "br"),
            (Some("gzip"), "gzip"),
            (Some("br;q=0.5, gzip"), "gzip"),
            (None, ""),
            (Some("identity"), ""),
        ] {
            let response = fetch(&gw, &path, accept).await;
            let why = format!("{path} with {accept:?}");
            assert_eq!(
                header(&response, header::CONTENT_ENCODING),
                encoding,
                "{why}"
            );
            assert_eq!(
                header(&response, header::CONTENT_TYPE),
                content_type,
                "{why}"
            );
            assert_eq!(
                header(&response, header::CACHE_CONTROL),
                "public, max-age=31536000, immutable",
                "{why}"
            );
            assert_eq!(header(&response, header::VARY), "accept-encoding", "{why}");
            let body = response.bytes().await.unwrap();
            let plain = match encoding {
                "br" => unbrotli(&body),
                "gzip" => gunzip(&body),
                _ => body.to_vec(),
            };
            assert!(plain == original, "{why}: not the file's bytes");
            if !encoding.is_empty() {
                assert!(
                    body.len() * 4 < original.len(),
                    "{why}: {} bytes",
                    body.len()
                );
            }
        }
    }
    // The names of before hashing appear nowhere.
    for old in [
        "/pkg/hoop.js\"",
        "hoop_bg.wasm",
        "/pkg/hoop.css\"",
        "/pkg/hoop.wasm",
    ] {
        assert!(!html.contains(old), "{old} in {html}");
    }

    // Without a hash in its name a file may change under it: asked again every time.
    let old = fetch(&gw, "/pkg/hoop.js", Some("br")).await;
    assert_eq!(header(&old, header::CACHE_CONTROL), "no-cache");
    assert_eq!(header(&old, header::CONTENT_ENCODING), "");
    let missing = Client::new()
        .get(gw.url(&format!("/pkg/hoop.{}.js", FILES[1].1)))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, header::CACHE_CONTROL), "no-cache");

    let icon = fetch(&gw, "/favicon.svg", None).await;
    assert_eq!(header(&icon, header::CACHE_CONTROL), "public, max-age=3600");
    drop(gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_sqlite() {
    assets_are_hashed_precompressed_and_immutable(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_postgres() {
    assets_are_hashed_precompressed_and_immutable(Backend::Postgres).await;
}
