//! The moderation console (README, "Moderation console"): one page, its script and its style,
//! compiled into the binary and served on the admin listener. It owns only the static files and
//! their security headers; everything the page shows comes from the admin API, behind the token.
//!
//! The page renders text that spammers wrote, so it is served under a Content-Security-Policy
//! that allows no inline script or style and no other origin: even a mistake in the page's own
//! rendering could not run an injected script. Nothing here needs the token (the page holds no
//! data), and nothing here is cached: an upgraded replica serves its own page at once.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// Same origin only, no inline code, no frames, no forms posting anywhere, no `<base>` games.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// The console's three routes; merged into the admin router outside the token check.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { file(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/console.js",
            get(|| async { file(CONSOLE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console.css",
            get(|| async { file(CONSOLE_CSS, "text/css; charset=utf-8") }),
        )
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's script builds every element by hand and inserts data only as text; these are
    /// the ways a string becomes markup or code in a browser.
    #[test]
    fn the_script_has_no_way_to_turn_a_string_into_markup_or_code() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setTimeout(\"",
            "createContextualFragment",
            "DOMParser",
            "srcdoc",
            "localStorage",
            "document.cookie",
        ] {
            assert!(!CONSOLE_JS.contains(sink), "console.js uses {sink}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_other_origin() {
        let page = INDEX_HTML.to_ascii_lowercase();
        assert_eq!(page.matches("<script").count(), 1, "one script");
        assert!(page.contains(r#"<script src="/console.js" defer></script>"#));
        assert!(page.contains(r#"<link rel="stylesheet" href="/console.css">"#));
        assert!(!page.contains("<style"), "no inline style element");
        assert!(!page.contains(" style="), "no inline style attribute");
        let handler = page.split(" on").skip(1).any(|rest| {
            let name_end = rest.find(|c: char| !c.is_ascii_alphabetic());
            name_end.is_some_and(|end| end > 0 && rest[end..].starts_with('='))
        });
        assert!(!handler, "no inline event handler");
        assert!(!page.contains("http:") && !page.contains("https:") && !page.contains("//"));
        assert!(
            !CONSOLE_CSS.contains("url("),
            "no fonts or images from anywhere"
        );
        assert!(!CONSOLE_CSS.contains("@import"));
    }
}
