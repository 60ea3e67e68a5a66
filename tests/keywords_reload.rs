//! The keyword list follows its file: a change takes effect within seconds on a running replica,
//! a bad file keeps the list in force and is counted, and requests are never dropped meanwhile.

mod support;

use std::time::{Duration, Instant};

use support::TestApp;

fn temp_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "floodgate-reload-{}-{}.txt",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls until `text` from a fresh sender gets `code`; a request every 100 ms, 10 s at most.
async fn until_answered(app: &TestApp, text: &str, code: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        i += 1;
        let reply = app.single(&format!("poller{i}"), "bob", text).await;
        if reply.err_code() == code {
            return;
        }
        assert!(Instant::now() < deadline, "`{text}` still gets {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_changed_file_takes_effect_and_a_bad_one_keeps_the_list_in_force() {
    let file = temp_file("alpha offer\n");
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[("FLOODGATE_KEYWORDS_FILE", &path)]).await;
    assert_eq!(
        app.single("a", "b", "an alpha offer").await.err_code(),
        5008
    );
    assert!(app.single("a", "b", "a beta deal").await.is_allow());

    std::fs::write(&file, "alpha offer\nbeta deal\n").unwrap();
    until_answered(&app, "a beta deal", 5008).await;
    assert_eq!(app.metric("floodgate_keywords").await, 2.0);
    assert_eq!(
        app.metric("floodgate_reloads_total{result=\"ok\"}").await,
        1.0
    );

    // A line that cannot be an entry: the list in force stays, the failure is counted.
    std::fs::write(&file, "alpha offer\n!!!\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .metric("floodgate_reloads_total{result=\"error\"}")
        .await
        < 1.0
    {
        assert!(Instant::now() < deadline, "the bad file was not noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.single("c", "b", "a beta deal").await.err_code(), 5008);
    assert_eq!(app.metric("floodgate_keywords").await, 2.0);

    // A file that went away: likewise.
    std::fs::remove_file(&file).unwrap();
    while app
        .metric("floodgate_reloads_total{result=\"error\"}")
        .await
        < 2.0
    {
        assert!(
            Instant::now() < deadline + Duration::from_secs(10),
            "the missing file was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.single("d", "b", "an alpha offer").await.err_code(),
        5008
    );
}

/// A file of its own for one test.
fn named_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "floodgate-reload-{}-{name}.txt",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// Gives `path` the content `text` at once (a new file renamed over it), so that the replica
/// never sees it in between, as it could with a truncate-then-write.
fn replace(path: &std::path::Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// Reloads the replica has finished, whatever their result.
async fn reloads(app: &TestApp) -> f64 {
    let mut total = 0.0;
    for result in ["ok", "error"] {
        total += app
            .metric(&format!("floodgate_reloads_total{{result=\"{result}\"}}"))
            .await;
    }
    total
}

/// Waits until the replica has looked at the file and finished one more reload than `before`.
async fn until_reloaded(app: &TestApp, before: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(app).await <= before {
        assert!(Instant::now() < deadline, "the change was not noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_truncate_then_write_never_leaves_the_replica_without_its_list() {
    let list = "alpha offer\nbeta deal\ngamma ray\nepsilon tea\nzeta jones\n";
    let file = named_file("truncate", list);
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[("FLOODGATE_KEYWORDS_FILE", &path)]).await;
    assert_eq!(app.metric("floodgate_keywords").await, 5.0);

    // The editor truncates: the list in force stays.
    let before = reloads(&app).await;
    std::fs::File::create(&file).unwrap();
    until_reloaded(&app, before).await;
    assert_eq!(
        app.single("a", "b", "an alpha offer").await.err_code(),
        5008
    );
    assert_eq!(app.metric("floodgate_keywords").await, 5.0);

    // Then has written part of the new text, cut mid-line (two entries of five): still the
    // list in force.
    let before = reloads(&app).await;
    replace(&file, "alpha offer\nbet");
    until_reloaded(&app, before).await;
    assert_eq!(app.single("c", "b", "a beta deal").await.err_code(), 5008);
    assert_eq!(app.metric("floodgate_keywords").await, 5.0);
    assert_eq!(
        app.metric("floodgate_reloads_total{result=\"error\"}")
            .await,
        2.0
    );

    // The whole new text: in force at the next look.
    replace(&file, &format!("{list}delta force\n"));
    until_answered(&app, "a delta force", 5008).await;
    assert_eq!(app.metric("floodgate_keywords").await, 6.0);
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_list_emptied_on_purpose_with_a_comment_line_is_taken() {
    let file = named_file("emptied", "alpha offer\n");
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[("FLOODGATE_KEYWORDS_FILE", &path)]).await;
    assert_eq!(
        app.single("a", "b", "an alpha offer").await.err_code(),
        5008
    );

    replace(&file, "# empty\n");
    until_answered(&app, "an alpha offer", 0).await;
    assert_eq!(app.metric("floodgate_keywords").await, 0.0);
    assert_eq!(
        app.metric("floodgate_reloads_total{result=\"error\"}")
            .await,
        0.0
    );
    let _ = std::fs::remove_file(file);
}
