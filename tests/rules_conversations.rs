//! Established conversations over HTTP: a recipient who wrote back (kept for
//! `FLOODGATE_CONTACT_MEMORY`) or a group the sender is seasoned in exempts a message from
//! fanout and campaign and counts its repeats per conversation.

#[macro_use]
mod support;

on_every_store!(
    greetings_are_never_a_campaign_and_friends_get_their_own_repeats,
    established_conversations_skip_fanout_and_campaign,
    a_conversation_is_forgotten_after_the_contact_memory,
    group_messages_are_established_once_the_sender_is_seasoned,
    a_support_desk_answers_a_rush_of_strangers_half_an_hour_later,
    a_support_desk_answers_two_hundred_strangers_who_wrote_within_minutes,
);

use std::time::Duration;

use support::{Backend, TestApp, befriend, names};

async fn greetings_are_never_a_campaign_and_friends_get_their_own_repeats(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[]).await;
    // The first week of December: 20 users, each greeting a friend they never wrote to.
    for i in 0..20 {
        for greeting in [
            "Merry Christmas!!",
            "Happy birthday to you, my dear friend!",
        ] {
            let reply = app
                .single(&format!("user{i}"), &format!("friend{i}"), greeting)
                .await;
            assert!(reply.is_allow(), "user{i}: {greeting}: {reply:?}");
        }
    }
    // One greeting to six friends who write to this user: each conversation has its own count.
    let friends = names("pal", 6);
    befriend(&app, "greeter", &friends).await;
    for friend in &friends {
        let reply = app
            .single("greeter", friend, "Happy new year to you and yours!")
            .await;
        assert!(reply.is_allow(), "{friend}: {reply:?}");
    }
    // Small talk to strangers is counted per stranger too (fanout still counts the strangers).
    for i in 0..6 {
        let to = format!("stranger{i}");
        let reply = app
            .single("greeter", &to, "Happy new year to you and yours!")
            .await;
        assert!(reply.is_allow(), "{to}: {reply:?}");
    }
    // …and a friend still gets no more than 3 copies of one text.
    for _ in 0..2 {
        assert!(
            app.single("greeter", "pal0", "Happy new year to you and yours!")
                .await
                .is_allow()
        );
    }
    let refused = app
        .single("greeter", "pal0", "Happy new year to you and yours!")
        .await;
    assert_eq!(refused.err_code(), 5003, "repeat within one conversation");
    app
}

async fn established_conversations_skip_fanout_and_campaign(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FANOUT_LIMIT", "3/10m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
        ],
    )
    .await;
    let contacts = names("contact", 6);
    befriend(&app, "alice", &contacts).await;
    let status = app.sender("alice").await;
    assert_eq!(status["establishedContacts"], 6, "{status}");
    for contact in &contacts {
        let text = format!("the party is at example.com/party, see you {contact}");
        let reply = app.single("alice", contact, &text).await;
        assert!(reply.is_allow(), "{contact}: {reply:?}");
    }
    // Strangers are cold: fanout counts them.
    for i in 0..3 {
        assert!(
            app.single("alice", &format!("s{i}"), "hi there")
                .await
                .is_allow()
        );
    }
    assert_eq!(app.single("alice", "s3", "hi there").await.err_code(), 5005);

    // The same link from many senders, each to someone who wrote to them: not a campaign.
    let invite = "Join the party tonight: example.com/party";
    for i in 0..5 {
        let (host, guest) = (format!("host{i}"), format!("guest{i}"));
        befriend(&app, &host, std::slice::from_ref(&guest)).await;
        assert!(
            app.single(&host, &guest, invite).await.is_allow(),
            "host{i}"
        );
    }
    // From senders to strangers it is: the third cold sender is over the limit of 2.
    for i in 0..2 {
        let reply = app
            .single(&format!("bot{i}"), &format!("mark{i}"), invite)
            .await;
        assert!(reply.is_allow(), "bot{i}: {reply:?}");
    }
    assert_eq!(app.single("bot2", "mark2", invite).await.err_code(), 5004);
    app
}

async fn a_conversation_is_forgotten_after_the_contact_memory(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FANOUT_LIMIT", "2/10m"),
            ("FLOODGATE_CONTACT_MEMORY", "1h"),
        ],
    )
    .await;
    let contacts = names("c", 3);
    befriend(&app, "bob", &contacts).await;
    for contact in &contacts {
        assert!(app.single("bob", contact, "thanks!").await.is_allow());
    }
    app.advance(Duration::from_secs(3601));
    // Forgotten: bob's messages to them are cold again, and fanout counts them.
    for contact in &contacts[..2] {
        assert!(app.single("bob", contact, "still there?").await.is_allow());
    }
    let refused = app.single("bob", &contacts[2], "still there?").await;
    assert_eq!(refused.err_code(), 5005);
    let status = app.sender("bob").await;
    assert_eq!(status["establishedContacts"], 0, "{status}");
    app
}

async fn group_messages_are_established_once_the_sender_is_seasoned(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
            ("FLOODGATE_GROUP_SEASONING", "1h"),
        ],
    )
    .await;
    let members = names("member", 5);
    for member in &members {
        assert!(
            app.group(member, "hiking", "hello everyone", &[])
                .await
                .is_allow()
        );
    }
    app.advance(Duration::from_secs(1800));
    for member in &members {
        assert!(
            app.group(member, "hiking", "half an hour in", &[])
                .await
                .is_allow()
        );
    }
    app.advance(Duration::from_secs(1801));
    // Everyone shares the route link: members who have posted here for an hour are not a campaign.
    let route = "Route for Sunday: maps.example.com/route/42";
    for member in &members {
        let reply = app.group(member, "hiking", route, &[]).await;
        assert!(reply.is_allow(), "{member}: {reply:?}");
    }
    let status = app.sender("member0").await;
    assert_eq!(status["establishedGroups"], 1, "{status}");
    // Newcomers posting the same link are cold: the third is over the limit.
    for i in 0..2 {
        let reply = app.group(&format!("new{i}"), "hiking", route, &[]).await;
        assert!(reply.is_allow(), "new{i}: {reply:?}");
    }
    assert_eq!(
        app.group("new2", "hiking", route, &[]).await.err_code(),
        5004
    );
    app
}

/// A support desk hears from 200 customers in a 17-minute rush and answers each of them half
/// an hour after they wrote: every answer is to a stranger who wrote first, so established —
/// neither fanout (30 people per 10 minutes) nor the campaign rule counts it, however late
/// after the rules' windows it comes and however many wrote meanwhile.
async fn a_support_desk_answers_a_rush_of_strangers_half_an_hour_later(
    backend: Backend,
) -> TestApp {
    const CUSTOMERS: usize = 200;
    let app = TestApp::on(backend, &[]).await;
    for i in 0..CUSTOMERS {
        let question = format!("Hi, where is my order {}? It is late.", 7_100_000 + i * 37);
        let reply = app.single(&format!("customer{i}"), "desk", &question).await;
        assert!(reply.is_allow(), "customer {i}: {reply:?}");
        app.advance(Duration::from_secs(5));
    }
    app.advance(Duration::from_secs(30 * 60 - 5 * CUSTOMERS as u64));
    for i in 0..CUSTOMERS {
        let answer = format!(
            "Thank you for waiting. Order {} left our warehouse yesterday and arrives within 2 days.",
            7_100_000 + i * 37
        );
        let reply = app.single("desk", &format!("customer{i}"), &answer).await;
        assert!(reply.is_allow(), "answer to customer {i}: {reply:?}");
        app.advance(Duration::from_secs(5));
    }
    app
}

/// 200 customers write within 7 minutes and the desk answers each 7 minutes later: more
/// strangers pending at once than the conversation memory's cap, all remembered.
async fn a_support_desk_answers_two_hundred_strangers_who_wrote_within_minutes(
    backend: Backend,
) -> TestApp {
    const CUSTOMERS: usize = 200;
    let app = TestApp::on(backend, &[]).await;
    for i in 0..CUSTOMERS {
        let question = format!("Is item {} still in stock?", 5_300 + i);
        let reply = app.single(&format!("buyer{i}"), "desk", &question).await;
        assert!(reply.is_allow(), "buyer {i}: {reply:?}");
        app.advance(Duration::from_secs(2));
    }
    for i in 0..CUSTOMERS {
        let answer = format!("Yes, item {} is in stock and ships today.", 5_300 + i);
        let reply = app.single("desk", &format!("buyer{i}"), &answer).await;
        assert!(reply.is_allow(), "answer to buyer {i}: {reply:?}");
        app.advance(Duration::from_secs(2));
    }
    app
}
