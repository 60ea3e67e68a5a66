//! The moderation console (README, "Moderation console") in a real headless Chromium driven
//! through WebDriver: the token, the security headers, text that spammers wrote shown as text,
//! and a moderator's day (a rejection and a campaign appear, a report, a lift).

#[path = "support/browser.rs"]
mod browser;
mod support;

use browser::Browser;
use support::TestApp;

const TOKEN: &str = "console-admin-token";
/// What the page must never do with a spammer's text: run it. Both payloads would change the
/// title and set a global if they ever reached the page as markup.
const IMG_PAYLOAD: &str = "<img src=x onerror=\"document.title='pwned';window.__pwned=1\">";
const SCRIPT_PAYLOAD: &str = "<script>document.title='pwned';window.__pwned=2</script>";

async fn app(vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("FLOODGATE_ADMIN_TOKEN", TOKEN)];
    all.extend_from_slice(vars);
    TestApp::with_vars(&all).await
}

/// Opens the console and signs in with `token`.
async fn sign_in(browser: &Browser, app: &TestApp, token: &str) {
    browser
        .client
        .goto(&format!("{}/", app.admin))
        .await
        .expect("page opens");
    browser.type_into("#token", token).await;
    browser.click("#login-button").await;
}

async fn visible(browser: &Browser, id: &str) -> bool {
    browser
        .run(&format!("return !document.getElementById('{id}').hidden;"))
        .await
        .as_bool()
        .unwrap_or(false)
}

#[tokio::test]
async fn the_console_files_are_served_with_a_strict_content_security_policy() {
    let app = app(&[]).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console.js", "text/javascript; charset=utf-8"),
        ("/console.css", "text/css; charset=utf-8"),
    ] {
        // The files hold no data: no token is needed for them.
        let response = app
            .client
            .get(format!("{}{path}", app.admin))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(
            header("content-security-policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            "{path}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
    }
    // The API behind it still wants the token.
    assert_eq!(app.admin_get("/v1/senders/alice").await.0, 401);
}

#[tokio::test]
async fn the_token_is_asked_once_and_kept_for_the_tab_only() {
    let app = app(&[]).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.admin))
        .await
        .expect("page opens");
    browser
        .eventually("the login form", || async {
            visible(&browser, "login").await.then_some(())
        })
        .await;
    assert!(!visible(&browser, "console").await);

    sign_in(&browser, &app, TOKEN).await;
    browser
        .eventually("the console", || async {
            visible(&browser, "console").await.then_some(())
        })
        .await;
    let storage = browser
        .run(
            "return [sessionStorage.getItem('floodgate-admin-token'), localStorage.length, \
             document.cookie];",
        )
        .await;
    assert_eq!(storage, serde_json::json!([TOKEN, 0, ""]));

    // A reload in the same tab does not ask again.
    browser.client.refresh().await.expect("reloaded");
    browser
        .eventually("the console after a reload", || async {
            visible(&browser, "console").await.then_some(())
        })
        .await;
    assert!(!visible(&browser, "login").await);

    // "Forget token" forgets it.
    browser.click("#logout").await;
    browser
        .eventually("the login form after forgetting", || async {
            visible(&browser, "login").await.then_some(())
        })
        .await;
    let kept = browser
        .run("return sessionStorage.getItem('floodgate-admin-token');")
        .await;
    assert!(kept.is_null(), "{kept}");
    browser.close().await;
}

#[tokio::test]
async fn a_block_is_lifted_from_the_console_and_its_name_shown_as_text() {
    // One message a minute and one strike blocks: the second message blocks the sender.
    let app = app(&[
        ("FLOODGATE_RATE_LIMITS", "1/1m"),
        ("FLOODGATE_STRIKES", "1/1h"),
    ])
    .await;
    // An ID is the client's word too: a spammer's markup must arrive as text.
    let spammer = format!("spam{IMG_PAYLOAD}{SCRIPT_PAYLOAD}");
    app.single(&spammer, "bob", "one").await;
    app.single(&spammer, "bob", "two").await;
    let encoded = percent_encode(&spammer);
    assert!(blocked_for(&app, &encoded).await > 0);

    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    let title = browser.client.title().await.expect("a title");
    browser.type_into("#lift-user", &spammer).await;
    browser.click("#lift-submit").await;
    let said = browser
        .eventually("the lift's result", || async {
            let text = browser.find("#action-result").await.text().await.ok()?;
            text.contains("done").then_some(text)
        })
        .await;
    assert_eq!(said, format!("Lift the block of {spammer}: done."));
    assert_eq!(blocked_for(&app, &encoded).await, 0);
    assert_nothing_ran(&browser, &title).await;
    browser.close().await;
}

/// The payloads' effects are absent: no global set, the title unchanged, no element made.
async fn assert_nothing_ran(browser: &Browser, title: &str) {
    let effects = browser
        .run(
            "return [typeof window.__pwned, document.title, \
             document.querySelectorAll('main img, main script').length];",
        )
        .await;
    assert_eq!(effects, serde_json::json!(["undefined", title, 0]));
}

/// The API's `blockedForSeconds` for a percent-encoded sender ID.
async fn blocked_for(app: &TestApp, encoded_id: &str) -> u64 {
    let status: serde_json::Value = app
        .client
        .get(format!("{}/v1/senders/{encoded_id}", app.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    status["blockedForSeconds"].as_u64().expect("a number")
}

fn percent_encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
