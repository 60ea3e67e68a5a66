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

    // A wrong token is refused by the API, forgotten, and asked for again.
    sign_in(&browser, &app, "not-the-admin-token").await;
    let refused = browser
        .eventually("the refusal", || async {
            let text = browser.find("#login-error").await.text().await.ok()?;
            (visible(&browser, "login").await && !text.is_empty()).then_some(text)
        })
        .await;
    assert!(refused.contains("refused"), "{refused}");
    let kept = browser
        .run("return sessionStorage.getItem('floodgate-admin-token');")
        .await;
    assert!(kept.is_null(), "{kept}");

    // Asked again on the same page, without a reload.
    browser.type_into("#token", TOKEN).await;
    browser.click("#login-button").await;
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

/// A spam run with a link, and a moderator who sees it, reports it and lifts a block.
#[tokio::test]
async fn a_moderator_sees_a_campaign_reports_it_and_the_next_copy_gets_5012() {
    // Two bots pass (the campaign counts them, under its limit of 3); the second, writing too
    // fast, is refused with 5002: the rejection a moderator sees first.
    let app = app(&[
        ("FLOODGATE_CAMPAIGN_LIMIT", "3/10m"),
        ("FLOODGATE_RATE_LIMITS", "1/1m"),
    ])
    .await;
    let spam = format!("Claim your prize at example.com/prizes {IMG_PAYLOAD} {SCRIPT_PAYLOAD}");
    assert!(app.single("bot0", "v0", &spam).await.is_allow());
    assert!(app.single("bot1", "v1", &spam).await.is_allow());
    assert_eq!(app.single("bot1", "v2", &spam).await.err_code(), 5002);

    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    let title = browser.client.title().await.expect("a title");

    // The rejection appears, its text exactly as the spammer wrote it.
    let rejection = browser
        .eventually("the campaign rejection", || async {
            let rows = browser.table("rejections").await;
            rows.into_iter()
                .find(|row| row.len() == 8 && row[3] == "bot1")
        })
        .await;
    assert_eq!(rejection[1], "rate");
    assert_eq!(rejection[2], "5002");
    assert_eq!(rejection[5], spam, "the text is shown as text");
    assert_nothing_ran(&browser, &title).await;

    // The campaign appears, still counting: its link, and the text as a near-duplicate, shown
    // as written.
    let campaign = browser
        .eventually("the campaign", || async {
            let rows = browser.table("campaigns").await;
            rows.into_iter()
                .find(|row| row.len() == 7 && row[0] == "link" && row[1] == "example.com/prizes")
        })
        .await;
    assert_eq!(campaign[5], "counting", "{campaign:?}");
    let near_duplicate = browser
        .eventually("the near-duplicate", || async {
            let rows = browser.table("campaigns").await;
            rows.into_iter()
                .find(|row| row.len() == 7 && row[0] == "near-duplicate")
        })
        .await;
    assert_eq!(near_duplicate[1], spam, "the sample is shown as text");
    let key = browser
        .run(
            "return Array.from(document.querySelectorAll('#campaigns tbody tr'))\
             .find(tr => tr.cells[0].textContent === 'link' \
                   && tr.cells[1].textContent === 'example.com/prizes').dataset.key;",
        )
        .await;
    let key = key.as_str().expect("a key").to_string();

    // Report it from its row, blocking the senders already seen with it.
    browser
        .click(&format!(
            "#campaigns tr[data-key='{key}'] button[aria-label^='Report']"
        ))
        .await;
    let filled = browser
        .find("#report-key")
        .await
        .prop("value")
        .await
        .ok()
        .flatten();
    assert_eq!(filled.as_deref(), Some(key.as_str()));
    browser.click("#report-block").await;
    browser.type_into("#report-reason", "prize spam wave").await;
    browser.click("#report-submit").await;
    browser
        .eventually("the report's answer", || async {
            let text = browser.find("#action-result").await.text().await.ok()?;
            text.starts_with("Reported").then_some(())
        })
        .await;

    // The next copy, from a sender never seen, is refused at its first copy.
    assert_eq!(app.single("bot9", "v9", &spam).await.err_code(), 5012);

    // The senders seen with it are blocked, and the console lists them.
    let blocked = browser
        .eventually("bot0 in the blocks", || async {
            let rows = browser.table("blocks").await;
            rows.into_iter()
                .find(|row| row.len() == 7 && row[0] == "bot0")
        })
        .await;
    assert_eq!(blocked[5], "report: prize spam wave", "{blocked:?}");
    browser
        .eventually("the reported campaign", || async {
            let rows = browser.table("campaigns").await;
            rows.into_iter()
                .find(|row| row.len() == 7 && row[0] == "link" && row[1] == "example.com/prizes")
                .filter(|row| row[5] == "reported")
        })
        .await;
    save_screenshot(&browser).await;

    // Lift bot0's block from its row, with a reason.
    assert!(blocked_for(&app, "bot0").await > 0);
    browser
        .click("#blocks tr[data-send-id='bot0'] button")
        .await;
    let filled = browser
        .find("#lift-user")
        .await
        .prop("value")
        .await
        .ok()
        .flatten();
    assert_eq!(filled.as_deref(), Some("bot0"));
    browser.type_into("#lift-reason", "a real customer").await;
    browser.click("#lift-submit").await;
    browser
        .eventually("bot0 gone from the blocks", || async {
            let rows = browser.table("blocks").await;
            (!rows.iter().any(|row| row[0] == "bot0")).then_some(())
        })
        .await;
    assert_eq!(blocked_for(&app, "bot0").await, 0);

    // The audit lists both actions.
    browser
        .eventually("the audit of the report and the lift", || async {
            let rows = browser.table("audit").await;
            let report = rows.iter().any(|r| r.len() == 5 && r[1] == "report");
            let lift = rows
                .iter()
                .any(|r| r.len() == 5 && r[1] == "lift" && r[2] == "bot0");
            (report && lift).then_some(())
        })
        .await;
    assert_nothing_ran(&browser, &title).await;
    browser.close().await;
}

/// The console with data in it, for the README: `FLOODGATE_SCREENSHOT=docs/console.png`
/// writes it there, otherwise to a temporary file.
async fn save_screenshot(browser: &Browser) {
    // Taller than the 1280x800 the tests run at, so that the three lists fit in one picture.
    browser
        .client
        .set_window_size(1280, 1000)
        .await
        .expect("window size");
    browser.run("window.scrollTo(0, 0); return null;").await;
    let png = browser.client.screenshot().await.expect("a screenshot");
    let path = std::env::var_os("FLOODGATE_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("floodgate-console-{}.png", std::process::id()))
        });
    std::fs::write(&path, png).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

/// Blocking by hand, allowing and removing an allowance, and a key's senders, from the forms.
#[tokio::test]
async fn a_block_by_hand_an_allowance_and_its_removal_are_made_from_the_forms() {
    let app = app(&[("FLOODGATE_CAMPAIGN_LIMIT", "5/10m")]).await;
    let spam = "cheap followers at followers.example.net/buy today";
    for bot in ["bot0", "bot1"] {
        assert!(app.single(bot, "v", spam).await.is_allow());
    }
    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;

    // Block by hand: the user gets 5006, and the blocks list says who and why.
    browser.type_into("#block-user", "troll").await;
    browser.type_into("#block-for", "2h").await;
    browser.type_into("#block-reason", "abuse report #41").await;
    browser.click("#block-submit").await;
    let blocked = browser
        .eventually("troll in the blocks", || async {
            let rows = browser.table("blocks").await;
            rows.into_iter()
                .find(|row| row.len() == 7 && row[0] == "troll")
        })
        .await;
    assert_eq!(blocked[5], "abuse report #41", "{blocked:?}");
    assert_eq!(app.single("troll", "v", "hi").await.err_code(), 5006);

    // The link's senders, listed from its row.
    let link = "#campaigns tr[data-state='counting']";
    let key = browser
        .eventually("the link campaign", || async {
            let rows = browser
                .run(
                    "return Array.from(document.querySelectorAll('#campaigns tbody tr'))\
                     .filter(tr => tr.cells[0].textContent === 'link').map(tr => tr.dataset.key);",
                )
                .await;
            rows.as_array()?.first()?.as_str().map(str::to_string)
        })
        .await;
    browser
        .click(&format!(
            "{link}[data-key='{key}'] button[aria-label^='Senders']"
        ))
        .await;
    let senders = browser
        .eventually("the senders", || async {
            let list = browser
                .run(
                    "return Array.from(document.querySelectorAll('#campaign-senders-list li'))\
                     .map(li => li.textContent).sort();",
                )
                .await;
            (list == serde_json::json!(["bot0", "bot1"])).then_some(list)
        })
        .await;
    assert_eq!(senders, serde_json::json!(["bot0", "bot1"]));

    // Not spam: the text's keys are allowed; then the allowance of the link is removed.
    browser.type_into("#allow-text", spam).await;
    browser.type_into("#allow-reason", "our own shop").await;
    browser.click("#allow-submit").await;
    browser
        .eventually("the link allowed", || async {
            let state = browser
                .run(&format!(
                    "const tr = document.querySelector(\"#campaigns tr[data-key='{key}']\");\
                     return tr ? tr.dataset.state : null;"
                ))
                .await;
            (state == "allowed").then_some(())
        })
        .await;
    browser
        .click(&format!(
            "#campaigns tr[data-key='{key}'] button[aria-label^='Remove']"
        ))
        .await;
    let filled = browser
        .find("#allow-key")
        .await
        .prop("value")
        .await
        .ok()
        .flatten();
    assert_eq!(filled.as_deref(), Some(key.as_str()));
    browser.click("#unallow-submit").await;
    browser
        .eventually("the audit of the three actions", || async {
            let rows = browser.table("audit").await;
            let actions: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
            ["block", "allow", "unallow"]
                .iter()
                .all(|a| actions.contains(a))
                .then_some(())
        })
        .await;
    browser.close().await;
}

/// A list longer than a page offers more, up to the API's limit.
#[tokio::test]
async fn a_long_list_shows_fifty_entries_and_more_on_request() {
    let app = app(&[
        ("FLOODGATE_RATE_LIMITS", "1/1m"),
        ("FLOODGATE_STRIKES", "off"),
    ])
    .await;
    for i in 0..52 {
        let reply = app.single("chatty", &format!("v{i}"), "hello there").await;
        assert_eq!(reply.is_allow(), i == 0, "message {i}");
    }
    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    let rows = |wanted: usize| {
        let browser = &browser;
        async move {
            let rows = browser.table("rejections").await;
            (rows.len() == wanted && rows.iter().all(|r| r[3] == "chatty")).then_some(())
        }
    };
    browser.eventually("a page of 50", || rows(50)).await;
    assert!(visible(&browser, "rejections-more").await);
    browser.click("#rejections-more").await;
    browser.eventually("all 51", || rows(51)).await;
    browser
        .eventually("no more to show", || async {
            (!visible(&browser, "rejections-more").await).then_some(())
        })
        .await;
    browser.close().await;
}

/// An admin listener without `FLOODGATE_ADMIN_TOKEN` (loopback only, say) takes an empty token.
#[tokio::test]
async fn without_an_admin_token_an_empty_token_opens_the_console() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    app.single("alice", "bob", "one").await;
    assert_eq!(app.single("alice", "bob", "two").await.err_code(), 5002);
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.admin))
        .await
        .expect("page opens");
    browser.click("#login-button").await;
    browser
        .eventually("alice's rejection", || async {
            let rows = browser.table("rejections").await;
            rows.iter()
                .any(|row| row.len() == 8 && row[3] == "alice")
                .then_some(())
        })
        .await;
    browser.close().await;
}

/// The policy is not only sent but enforced: markup injected into the page (as a rendering bug
/// would) runs no handler, and the browser reports the violation.
#[tokio::test]
async fn markup_injected_into_the_page_runs_nothing_under_its_policy() {
    let app = app(&[]).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    browser
        .eventually("the console", || async {
            visible(&browser, "console").await.then_some(())
        })
        .await;
    let title = browser.client.title().await.expect("a title");
    // WebDriver's own script is privileged; the markup it inserts is not.
    browser
        .run(&format!(
            "window.__violations = [];\
             document.addEventListener('securitypolicyviolation',\
               e => window.__violations.push(e.effectiveDirective));\
             const probe = document.createElement('div');\
             probe.innerHTML = {};\
             document.querySelector('main').appendChild(probe);\
             return null;",
            serde_json::to_string(IMG_PAYLOAD).expect("a JSON string")
        ))
        .await;
    let violated = browser
        .eventually("the browser's report of the blocked handler", || async {
            let seen = browser.run("return window.__violations;").await;
            let seen: Vec<String> = serde_json::from_value(seen).ok()?;
            (!seen.is_empty()).then_some(seen)
        })
        .await;
    assert!(
        violated.iter().any(|d| d.starts_with("script-src")),
        "{violated:?}"
    );
    let effects = browser
        .run("return [typeof window.__pwned, document.title];")
        .await;
    assert_eq!(effects, serde_json::json!(["undefined", title]));
    browser.close().await;
}
