//! The page: `page/page.html` with `page/page.css` and `page/page.js`
//! written into it (one self-contained document: no other request than the
//! timeline JSON, no CDN, no build step). Its Content-Security-Policy allows
//! exactly that style and script, by their SHA-256 (CSP Level 3 hash
//! sources), and `fetch` to this origin only; so a tenant value that got
//! into the page as markup still could not run.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::LazyLock;

const TEMPLATE: &str = include_str!("page/page.html");
const STYLE: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");

struct Page {
    html: String,
    csp: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| Page {
    html: TEMPLATE
        .replace("{{STYLE}}", STYLE)
        .replace("{{SCRIPT}}", SCRIPT),
    csp: format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash_source(SCRIPT),
        hash_source(STYLE)
    ),
});

/// A CSP hash source, `sha256-<base64>` of the element's text.
fn hash_source(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The page with its headers.
pub(crate) fn response() -> Response {
    let page = &*PAGE;
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.html.clone(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&page.csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_its_style_and_script_and_the_policy_allows_exactly_them() {
        let page = &*PAGE;
        assert!(!page.html.contains("{{"), "a placeholder is left");
        assert!(page.html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(page.html.contains(&format!("<style>{STYLE}</style>")));
        assert!(!SCRIPT.contains("</script"), "the script would end early");
        // Known vector: SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            hash_source("abc"),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert!(
            page.csp
                .contains(&format!("script-src '{}'", hash_source(SCRIPT)))
        );
        assert!(
            page.csp
                .contains(&format!("style-src '{}'", hash_source(STYLE)))
        );
        assert!(!page.csp.contains("unsafe-inline"));
        // No request leaves the page but its own JSON (the one URL is the
        // SVG namespace, a name, not a request).
        let urls = page.html.replace("http://www.w3.org/2000/svg", "");
        assert!(!urls.contains("http://") && !urls.contains("https://"));
    }
}
