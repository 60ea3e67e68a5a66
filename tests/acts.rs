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
    a_creation_counts_the_owner_openim_checked_not_the_names_the_client_wrote,
    join_applications_count_per_applicant_and_strike_nobody,
    the_initial_members_of_created_groups_count_in_the_owners_window,
    member_nicknames_are_judged_and_strike_nobody,
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

/// `callbackBeforeCreateGroupCommand` as OpenIM writes it (`CallbackBeforeCreateGroupReq`, the
/// group's protobuf fields `omitempty`): `ownerUserID` / `creatorUserID` as the client wrote
/// them, then `initMemberList` as the server built it — the owner it checked against the caller
/// first, with `roleLevel` 100, then `members` ordinary members.
fn go_create(caller: &str, claimed: &str, name: &str, members: usize) -> String {
    let mut list = vec![format!(r#"{{"userID":"{caller}","roleLevel":100}}"#)];
    list.extend((0..members).map(|i| format!(r#"{{"userID":"member{i}","roleLevel":20}}"#)));
    format!(
        concat!(
            r#"{{"operationID":"op-create","callbackCommand":"callbackBeforeCreateGroupCommand","#,
            r#""groupName":"{}","ownerUserID":"{}","creatorUserID":"{}","groupType":2,"#,
            r#""initMemberList":[{}]}}"#,
            "\n"
        ),
        name,
        claimed,
        claimed,
        list.join(",")
    )
}

async fn create(app: &TestApp, body: String) -> support::Reply {
    app.post_raw("/callbackExample/callbackBeforeCreateGroupCommand", body)
        .await
}

async fn a_creation_counts_the_owner_openim_checked_not_the_names_the_client_wrote(
    backend: Backend,
) -> TestApp {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_GROUP_CREATE_LIMITS", "2/1h"),
            ("FLOODGATE_EXEMPT_SENDERS", "imAdmin"),
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
        ],
    )
    .await;
    // A modified client rotates the names it writes: the checked owner is counted all the same.
    for (i, fake) in ["fake1", "fake2"].iter().enumerate() {
        let reply = create(&app, go_create("spammer", fake, &format!("club {i}"), 1)).await;
        assert!(reply.is_allow(), "{:?}", reply.body);
    }
    let third = create(&app, go_create("spammer", "fake3", "club 2", 1)).await;
    assert_eq!(third.err_code(), 5011, "{:?}", third.body);
    assert_eq!(app.sender("spammer").await["groupsCreated"][0]["count"], 2);
    // Nothing was charged to the names it wrote: a victim named there creates freely.
    let framed = create(&app, go_create("spammer", "victim", "club 3", 1)).await;
    assert_eq!(framed.err_code(), 5011);
    assert_eq!(app.sender("victim").await["groupsCreated"][0]["count"], 0);
    assert!(
        create(&app, go_create("victim", "victim", "mine", 1))
            .await
            .is_allow()
    );
    // Naming an exempt user skips nothing: the group's name is still judged.
    let disguised = create(&app, go_create("other", "imAdmin", "Free Money club", 1)).await;
    assert_eq!(disguised.err_code(), 5008);
    // The exempt user, when they are the owner OpenIM checked, is exempt.
    let admin = create(&app, go_create("imAdmin", "imAdmin", "Free Money club", 1)).await;
    assert!(admin.is_allow(), "{:?}", admin.body);
    app
}

async fn join_applications_count_per_applicant_and_strike_nobody(backend: Backend) -> TestApp {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_GROUP_JOIN_LIMITS", "1/1h"),
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
            ("FLOODGATE_STRIKES", "1/1h"),
        ],
    )
    .await;
    // Anyone can name a victim as `applyID`: a keyword, the window and a campaign each reject,
    // and none of them strikes the victim (one strike would block them here).
    let keyword = join_group_body("victim", "g1", "free money");
    assert_eq!(app.callback(&keyword).await.err_code(), 5008);
    assert!(
        app.callback(&join_group_body("victim", "g1", "hi"))
            .await
            .is_allow()
    );
    let over = app.callback(&join_group_body("victim", "g2", "hi")).await;
    assert_eq!(over.err_code(), 5011, "{:?}", over.body);
    let payload = "join me at www.deals.example";
    assert!(
        app.callback(&join_group_body("victim2", "g1", payload))
            .await
            .is_allow()
    );
    let campaign = app
        .callback(&join_group_body("victim3", "g1", payload))
        .await;
    assert_eq!(campaign.err_code(), 5004, "{:?}", campaign.body);
    for victim in ["victim", "victim3"] {
        let status = app.sender(victim).await;
        assert_eq!(
            (status["strikes"].as_u64(), status["blocks"].as_u64()),
            (Some(0), Some(0))
        );
        assert!(
            app.single(victim, "friend", "hello").await.is_allow(),
            "{victim}"
        );
    }
    assert_eq!(app.metric("floodgate_blocks_total").await, 0.0);
    // The campaign's rejection handed back what the window had counted for victim3.
    assert_eq!(
        app.sender("victim3").await["groupApplications"][0]["count"],
        0
    );
    // A user blocked for their own messages is still refused here.
    assert_eq!(
        app.single("spammer", "x", "free money").await.err_code(),
        5008
    );
    let blocked = app.callback(&join_group_body("spammer", "g3", "hi")).await;
    assert_eq!(blocked.err_code(), 5006);
    app
}

async fn the_initial_members_of_created_groups_count_in_the_owners_window(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_GROUP_MEMBERS_LIMITS", "5/1h,8/1d"),
            ("FLOODGATE_GROUP_CREATE_LIMITS", "10/1h"),
        ],
    )
    .await;
    assert!(
        create(&app, go_create("owner", "", "a", 3))
            .await
            .is_allow()
    );
    let over = create(&app, go_create("owner", "", "b", 3)).await;
    assert_eq!(over.err_code(), 5011, "{:?}", over.body);
    assert!(
        over.detail().starts_with(
            "limit 5 initial members per 1h in the groups one user creates; this creation adds 3; \
             retry after "
        ),
        "{}",
        over.detail()
    );
    // The whole creation was refused and recorded nothing: what fits still fits.
    assert!(
        create(&app, go_create("owner", "", "c", 2))
            .await
            .is_allow()
    );
    let status = app.sender("owner").await;
    assert_eq!(
        status["groupMembers"][0],
        json!({"limit": 5, "window": "1h", "count": 5})
    );
    assert_eq!(status["groupsCreated"][0]["count"], 2);
    // An owner alone adds nobody; more than the limit at once never fits.
    assert!(
        create(&app, go_create("owner", "", "d", 0))
            .await
            .is_allow()
    );
    let huge = create(&app, go_create("other", "", "e", 6)).await;
    assert_eq!(
        huge.detail(),
        "limit 5 initial members per 1h in the groups one user creates; this creation adds 6; \
         retry with fewer members"
    );
    // The hour passes; the day's window holds three more.
    app.advance(Duration::from_secs(3600 + 360));
    assert!(
        create(&app, go_create("owner", "", "f", 3))
            .await
            .is_allow()
    );
    let daily = create(&app, go_create("owner", "", "g", 1)).await;
    assert!(
        daily.detail().starts_with("limit 8 initial members per 1d"),
        "{}",
        daily.detail()
    );
    app
}

async fn member_nicknames_are_judged_and_strike_nobody(backend: Backend) -> TestApp {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
            ("FLOODGATE_LINK_DENY", "spam.example"),
            ("FLOODGATE_STRIKES", "1/1h"),
        ],
    )
    .await;
    // `CallbackBeforeSetGroupMemberInfoReq`: the member edited, never the editor.
    let edit = |nick: &str| {
        format!(
            concat!(
                r#"{{"callbackCommand":"callbackBeforeSetGroupMemberInfoCommand","#,
                r#""groupID":"g1","userID":"member","nickName":"{}","faceURL":null,"#,
                r#""roleLevel":null,"ex":null}}"#,
                "\n"
            ),
            nick
        )
    };
    let path = "/callbackExample/callbackBeforeSetGroupMemberInfoCommand";
    assert_eq!(
        app.post_raw(path, edit("FREE money")).await.err_code(),
        5008
    );
    assert_eq!(
        app.post_raw(path, edit("see spam.example"))
            .await
            .err_code(),
        5009
    );
    // A bare allow: OpenIM's reply fields are pointers, so it changes nothing.
    assert!(app.post_raw(path, edit("Alice")).await.is_allow());
    let status = app.sender("member").await;
    assert_eq!(status["strikes"], 0);
    assert!(app.single("member", "x", "hello").await.is_allow());
    assert_eq!(
        app.metric(
            "floodgate_callbacks_total{command=\"callbackBeforeSetGroupMemberInfoCommand\",verdict=\"reject\"}"
        )
        .await,
        2.0
    );
    app
}
