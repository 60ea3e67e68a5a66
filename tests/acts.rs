//! Abuse beyond messages (README, "Friend requests, groups and profiles") over HTTP, on every
//! store: friend requests, groups created, applied to and invited into, group and profile edits —
//! each judged with its own windows and the texts it carries, on the same record as the user's
//! messages.

#[macro_use]
mod support;

on_every_store!(
    friend_requests_over_the_limit_are_rejected_with_5010_per_requester,
    groups_created_or_applied_to_over_the_limits_are_rejected_with_5011,
    invitees_over_a_groups_limit_are_rejected_with_5011_and_strike_nobody,
    request_texts_go_through_keyword_link_and_campaign,
    templated_request_texts_from_many_strangers_are_never_a_campaign,
    one_abuser_one_record_across_messages_and_acts,
    group_and_profile_edits_are_judged_on_their_new_texts,
    acts_follow_shadow_modes_and_exemptions,
    hostile_bodies_are_answered_without_a_crash_and_judged_where_they_can_be,
);

use std::time::Duration;

use serde_json::json;
use support::{
    Backend, TestApp, create_group_body, friend_request_body, invite_body, join_group_body,
    update_user_body,
};

async fn friend_requests_over_the_limit_are_rejected_with_5010_per_requester(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_FRIEND_LIMITS", "3/1h,5/1d")]).await;
    for i in 0..3 {
        let request = friend_request_body("adder", &format!("person{i}"), "hello");
        assert!(app.callback(&request).await.is_allow(), "request {i}");
    }
    let refused = app
        .callback(&friend_request_body("adder", "person3", "hello"))
        .await;
    assert_eq!(refused.err_code(), 5010);
    assert_eq!(refused.body["nextCode"], 1);
    assert!(
        refused.detail().starts_with("limit 3 per 1h; retry after "),
        "{}",
        refused.detail()
    );
    // The admin API shows the requester's windows beside their message windows.
    let status = app.sender("adder").await;
    assert_eq!(
        status["friendRequests"][0],
        json!({"limit": 3, "window": "1h", "count": 3})
    );
    assert_eq!(status["friendRequests"][1]["count"], 3);
    assert_eq!(status["groupsCreated"][0]["count"], 0);
    // Per requester: someone else is not affected.
    let other = friend_request_body("someone", "person0", "hello");
    assert!(app.callback(&other).await.is_allow());
    // The hour passes (and the bucket its oldest request counts in); the day's window still
    // holds two more.
    app.advance(Duration::from_secs(3600 + 360));
    for i in 0..2 {
        let request = friend_request_body("adder", &format!("later{i}"), "hello");
        assert!(app.callback(&request).await.is_allow(), "later {i}");
    }
    let daily = app
        .callback(&friend_request_body("adder", "later2", "hello"))
        .await;
    assert_eq!(daily.err_code(), 5010);
    assert!(
        daily.detail().starts_with("limit 5 per 1d"),
        "{}",
        daily.detail()
    );
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"friend\"}")
            .await,
        2.0
    );
    assert_eq!(
        app.metric(
            "floodgate_callbacks_total{command=\"callbackBeforeAddFriendCommand\",verdict=\"reject\"}"
        )
        .await,
        2.0
    );
    app
}

async fn groups_created_or_applied_to_over_the_limits_are_rejected_with_5011(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_GROUP_CREATE_LIMITS", "2/1h"),
            ("FLOODGATE_GROUP_JOIN_LIMITS", "2/1h"),
        ],
    )
    .await;
    for i in 0..2 {
        let create = create_group_body("founder", &format!("club {i}"));
        assert!(app.callback(&create).await.is_allow(), "create {i}");
    }
    let third = app.callback(&create_group_body("founder", "club 2")).await;
    assert_eq!(third.err_code(), 5011);
    assert!(
        third.detail().starts_with("limit 2 per 1h"),
        "{}",
        third.detail()
    );
    // The owner named by the server (ownerUserID), and the role-100 member, are the same user.
    let mut by_owner = create_group_body("", "club 3");
    by_owner["ownerUserID"] = json!("founder");
    assert_eq!(app.callback(&by_owner).await.err_code(), 5011);
    let mut by_member = create_group_body("", "club 4");
    by_member["initMemberList"] = json!([{"userID": "founder", "roleLevel": 100}]);
    assert_eq!(app.callback(&by_member).await.err_code(), 5011);

    // Applications to join are counted apart from creations.
    for i in 0..2 {
        let join = join_group_body("founder", &format!("g{i}"), "let me in");
        assert!(app.callback(&join).await.is_allow(), "join {i}");
    }
    let join = join_group_body("founder", "g2", "let me in");
    assert_eq!(app.callback(&join).await.err_code(), 5011);
    assert!(
        app.callback(&join_group_body("newcomer", "g2", "hi"))
            .await
            .is_allow()
    );
    app
}

async fn invitees_over_a_groups_limit_are_rejected_with_5011_and_strike_nobody(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_GROUP_INVITE_LIMIT", "5/1h"),
            ("FLOODGATE_STRIKES", "1/1h"),
        ],
    )
    .await;
    assert!(app.callback(&invite_body("g1", 3)).await.is_allow());
    let over = app.callback(&invite_body("g1", 3)).await;
    assert_eq!(over.err_code(), 5011);
    assert!(
        over.detail()
            .starts_with("limit 5 invitees per 1h per group; this invitation has 3; retry after"),
        "{}",
        over.detail()
    );
    // What fits still fits: the rejected invitation recorded nothing.
    assert!(app.callback(&invite_body("g1", 2)).await.is_allow());
    assert_eq!(app.callback(&invite_body("g1", 1)).await.err_code(), 5011);
    // Another group has its own count; more than the limit at once never fits.
    let too_many = app.callback(&invite_body("g2", 6)).await;
    assert_eq!(too_many.err_code(), 5011);
    assert_eq!(
        too_many.detail(),
        "limit 5 invitees per 1h per group; this invitation has 6; retry with fewer invitees"
    );
    assert!(app.callback(&invite_body("g2", 5)).await.is_allow());
    // An invitation names no inviter: nobody was struck (one strike would block).
    assert_eq!(app.metric("floodgate_blocks_total").await, 0.0);
    app.advance(Duration::from_secs(3600 + 360));
    assert!(app.callback(&invite_body("g1", 5)).await.is_allow());
    app
}

async fn request_texts_go_through_keyword_link_and_campaign(backend: Backend) -> TestApp {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
            ("FLOODGATE_LINK_DENY", "spam.example"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "3/10m"),
        ],
    )
    .await;
    let linked = friend_request_body("a", "b", "see www.spam.example/deal");
    assert_eq!(app.callback(&linked).await.err_code(), 5009);
    let keyword = join_group_body("a", "g", "F.R.E.E  money here");
    assert_eq!(app.callback(&keyword).await.err_code(), 5008);
    // The same phone number from many requesters is one campaign, whatever the words.
    let words = ["hi", "hello there", "nice to meet you", "add me", "hey"];
    let mut codes = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let text = format!("{word}, call me +1 (555) 010-{:04}", 4242);
        let request = friend_request_body(&format!("bot{i}"), &format!("victim{i}"), &text);
        codes.push(app.callback(&request).await.err_code());
    }
    assert_eq!(codes, vec![0, 0, 0, 5004, 5004]);
    // A join application with the same payload is the same campaign.
    let join = join_group_body("bot9", "g", "cheap deals: +1 555 010 4242");
    assert_eq!(app.callback(&join).await.err_code(), 5004);
    app
}

async fn templated_request_texts_from_many_strangers_are_never_a_campaign(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "3/10m")]).await;
    // A class's parents add the teacher with the text the client fills in, and apply to the
    // school's group with the same words: near-duplicates without a payload.
    for i in 0..20 {
        let text = format!("我是群聊“三年二班家长群”的第{i}位家长，孩子的名字叫小明{i}号，请通过");
        let request = friend_request_body(&format!("parent{i}"), "teacher", &text);
        assert!(app.callback(&request).await.is_allow(), "parent {i}");
        let join = join_group_body(
            &format!("parent{i}"),
            "school",
            "Hi, I'd like to join the group",
        );
        assert!(app.callback(&join).await.is_allow(), "join {i}");
    }
    app
}

async fn one_abuser_one_record_across_messages_and_acts(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FRIEND_LIMITS", "1/1h"),
            ("FLOODGATE_STRIKES", "2/1h"),
            ("FLOODGATE_BLOCK_FOR", "10m"),
        ],
    )
    .await;
    let request = |to: &str| friend_request_body("adder", to, "hi");
    assert!(app.callback(&request("p0")).await.is_allow());
    assert_eq!(app.callback(&request("p1")).await.err_code(), 5010);
    let second = app.callback(&request("p2")).await;
    assert_eq!(second.err_code(), 5010);
    assert!(
        second.detail().ends_with("blocked for 10m"),
        "{}",
        second.detail()
    );
    // Blocked for friend-request spam: no messages, no groups, no profile edits either.
    assert_eq!(app.single("adder", "p0", "hello").await.err_code(), 5006);
    let create = create_group_body("adder", "new club");
    assert_eq!(app.callback(&create).await.err_code(), 5006);
    let profile = update_user_body("adder", "Adder", false);
    assert_eq!(app.callback(&profile).await.err_code(), 5006);
    assert_eq!(app.sender("adder").await["blocks"], 1);

    // And the other way: a user blocked for messages cannot send friend requests.
    let keywords = support::keyword_file("forbidden\n");
    let app2 = TestApp::on(
        backend,
        &[
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
            ("FLOODGATE_STRIKES", "1/1h"),
        ],
    )
    .await;
    assert_eq!(
        app2.single("sender", "x", "forbidden").await.err_code(),
        5008
    );
    let blocked = app2
        .callback(&friend_request_body("sender", "y", "hi"))
        .await;
    assert_eq!(blocked.err_code(), 5006);
    app2.assert_store_healthy().await;
    app
}

async fn group_and_profile_edits_are_judged_on_their_new_texts(backend: Backend) -> TestApp {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        backend,
        &[("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap())],
    )
    .await;
    let edit = json!({
        "callbackCommand": "callbackBeforeSetGroupInfoExCommand",
        "groupID": "g1",
        "groupName": {"value": "Free Money club"},
        "notification": null,
        "introduction": {"value": "welcome"},
    });
    assert_eq!(app.callback(&edit).await.err_code(), 5008);
    // An allowed edit echoes the fields OpenIM copies back from the reply.
    let fine = json!({
        "callbackCommand": "callbackBeforeSetGroupInfoCommand",
        "groupID": "g1",
        "groupName": "Chess club",
        "introduction": "",
        "faceURL": "https://example.com/a.png",
    });
    let reply = app.callback(&fine).await;
    assert!(
        reply.body["actionCode"] == 0 && reply.body["errCode"] == 0,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["groupName"], "Chess club");
    assert_eq!(reply.body["faceURL"], "https://example.com/a.png");

    let nickname = update_user_body("u1", "ｆｒｅｅ ｍｏｎｅｙ", true);
    assert_eq!(app.callback(&nickname).await.err_code(), 5008);
    assert!(
        app.callback(&update_user_body("u2", "Alice", false))
            .await
            .is_allow()
    );
    // The nickname's violation is a strike on the user's record.
    assert_eq!(app.sender("u1").await["strikes"], 1);
    app
}

async fn acts_follow_shadow_modes_and_exemptions(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FRIEND_LIMITS", "1/1h"),
            ("FLOODGATE_FRIEND_MODE", "shadow"),
            ("FLOODGATE_GROUP_JOIN_LIMITS", "1/1h"),
            ("FLOODGATE_EXEMPT_SENDERS", "imAdmin"),
        ],
    )
    .await;
    for to in ["p0", "p1", "p2"] {
        let request = friend_request_body("adder", to, "hi");
        assert!(app.callback(&request).await.is_allow(), "{to}");
    }
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"shadow\",rule=\"friend\"}")
            .await,
        2.0
    );
    for group in ["g0", "g1", "g2"] {
        let join = join_group_body("imAdmin", group, "");
        assert!(app.callback(&join).await.is_allow(), "{group}");
    }
    assert_eq!(
        app.callback(&join_group_body("member", "g0", ""))
            .await
            .err_code(),
        0
    );
    assert_eq!(
        app.callback(&join_group_body("member", "g1", ""))
            .await
            .err_code(),
        5011
    );
    app
}

async fn hostile_bodies_are_answered_without_a_crash_and_judged_where_they_can_be(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FRIEND_LIMITS", "2/1h"),
            ("FLOODGATE_GROUP_INVITE_LIMIT", "50000/1h"),
            ("FLOODGATE_MAX_BODY", "1MiB"),
        ],
    )
    .await;
    // A 10,000-character requester is one requester like any other.
    let giant = "x".repeat(10_000);
    for to in ["a", "b"] {
        let request = friend_request_body(&giant, to, "hi");
        assert!(app.callback(&request).await.is_allow());
    }
    let third = app.callback(&friend_request_body(&giant, "c", "hi")).await;
    assert_eq!(third.err_code(), 5010);
    // 40,000 invitees in one body are counted as they stream by, and the limit holds.
    let huge = invite_body("big", 40_000);
    assert!(app.callback(&huge).await.is_allow());
    assert_eq!(
        app.callback(&invite_body("big", 10_001)).await.err_code(),
        5011
    );
    // Wrong types everywhere: read as absent, never a refusal of the user's act.
    let odd = [
        json!({"callbackCommand": "callbackBeforeAddFriendCommand", "fromUserID": 12, "reqMsg": ["x"]}),
        json!({"callbackCommand": "callbackBeforeCreateGroupCommand", "creatorUserID": {"a": 1}, "initMemberList": "all"}),
        json!({"callbackCommand": "callbackBeforeCreateGroupCommand", "initMemberList": [null, 1, [], {"userID": 5, "roleLevel": "100"}]}),
        json!({"callbackCommand": "callbackBeforeJoinGroupCommand", "applyID": null, "groupType": "\u{1}"}),
        json!({"callbackCommand": "callbackBeforeInviteJoinGroupCommand", "groupID": "g", "invitedUserIDs": {"n": 5}}),
        json!({"callbackCommand": "callbackBeforeUpdateUserInfoExCommand", "userID": "u", "nickName": {"value": {"value": 3}}}),
        json!({"callbackCommand": "callbackBeforeSetGroupInfoExCommand", "groupName": {"value": null}}),
    ];
    for body in odd {
        let reply = app.callback(&body).await;
        let allowed = reply.body["errCode"] == 0 && reply.body["nextCode"] == 0;
        assert!(reply.status == 200 && allowed, "{body}: {:?}", reply.body);
    }
    // Not JSON at all: allowed as before floodgate judged these, and counted invalid.
    let broken = app
        .post_raw(
            "/callbackExample/callbackBeforeAddFriendCommand",
            "{\"fromUserID\": ",
        )
        .await;
    assert!(
        broken.status == 200 && broken.is_allow(),
        "{:?}",
        broken.body
    );
    assert_eq!(
        app.metric(
            "floodgate_callbacks_total{command=\"callbackBeforeAddFriendCommand\",verdict=\"invalid\"}"
        )
        .await,
        1.0
    );
    app
}
