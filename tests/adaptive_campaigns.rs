//! (v3) Campaigns that adapt (README, "Campaigns that adapt"), over HTTP on every store: what a
//! spam run varies per copy does not split it, a domain nobody vouched for is one key, and what
//! many strangers legitimately send alike — questions to one support desk, pages of a site
//! people share — is not a campaign.

#[macro_use]
mod support;

on_every_store!(
    a_reference_number_per_copy_does_not_split_a_run,
    tracking_parameters_scheme_and_www_do_not_split_a_run,
    a_greeting_and_filler_around_a_pitch_do_not_split_a_run,
    a_path_rotated_on_a_domain_nobody_vouched_for_is_one_run,
    a_run_on_one_page_of_an_unvetted_site_does_not_catch_its_other_pages,
    a_run_spread_over_a_few_pages_of_an_unvetted_domain_is_one_run,
    rotated_decoy_links_around_a_payload_do_not_split_a_run,
    a_domain_three_people_share_with_their_contacts_counts_per_page_only,
    two_accounts_of_one_spammer_writing_to_each_other_vet_no_domain,
    a_shortener_is_never_vetted_and_its_path_stays_the_payload,
    a_short_pitch_beside_a_short_link_rotated_per_copy_is_one_run,
    thirty_strangers_writing_alike_to_one_support_desk_all_pass,
    a_copy_another_key_refused_leaves_no_recipient_behind,
    a_voucher_is_refreshed_once_per_slack_of_the_memory,
    new_vouchers_within_the_slack_of_a_vetted_domain_write_nothing,
);

use std::time::Duration;

use support::{Backend, TestApp};

/// Sends `copy(i)` from `run{i}` to `victim{i}` for `n` senders; the indices of those allowed.
async fn run(app: &TestApp, name: &str, n: usize, copy: impl Fn(usize) -> String) -> Vec<usize> {
    let mut allowed = Vec::new();
    for i in 0..n {
        let reply = app
            .single(
                &format!("{name}bot{i}"),
                &format!("{name}victim{i}"),
                &copy(i),
            )
            .await;
        if reply.is_allow() {
            allowed.push(i);
        } else {
            assert_eq!(reply.err_code(), 5004, "{name}, copy {i}: {reply:?}");
        }
    }
    allowed
}

/// Has each of `friends` write to `user`: `user`'s messages to them are established.
async fn befriend(app: &TestApp, user: &str, friends: &[&str]) {
    for friend in friends {
        assert!(
            app.single(friend, user, "hey, how are you?")
                .await
                .is_allow()
        );
    }
}

const LIMIT: (&str, &str) = ("FLOODGATE_CAMPAIGN_LIMIT", "3/10m");

async fn a_reference_number_per_copy_does_not_split_a_run(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    // A parcel scam whose parcel number, fee, code and order number change per copy.
    let allowed = run(&app, "parcel", 12, |i| {
        format!(
            "Parcel {} held: customs fee {} due, reply {} to confirm delivery of order {}",
            48_213_907 + i * 7_919_113,
            100 + i * 13,
            1000 + i * 77,
            55_000_000 + i * 1_234_567
        )
    })
    .await;
    assert_eq!(allowed, [0, 1, 2], "the 4th sender on is one run");
    app
}

async fn tracking_parameters_scheme_and_www_do_not_split_a_run(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    // A shortener (no domain key): only its target, the path, stays the same.
    let variants = [
        "gift for you: bit.ly/Gx7pQ?utm_source=sms",
        "gift for you: https://bit.ly/Gx7pQ?ref=a7",
        "gift for you: http://www.bit.ly/Gx7pQ/?src=sms&utm_campaign=z",
        "gift for you: bit.ly/Gx7pQ?fbclid=x1y2",
        "gift for you: bit.ly/Gx7pQ?si=q9&from=wechat",
    ];
    let allowed = run(&app, "track", 5, |i| variants[i].to_string()).await;
    assert_eq!(allowed, [0, 1, 2]);
    // A parameter that names the target makes another target.
    let other = app
        .single("track9", "victim9", "gift for you: bit.ly/Gx7pQ?id=8812")
        .await;
    assert!(other.is_allow(), "{other:?}");
    app
}

async fn a_greeting_and_filler_around_a_pitch_do_not_split_a_run(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    let greetings = [
        "您好，",
        "好久不见，",
        "亲，",
        "朋友你好！",
        "在吗？",
        "打扰一下，",
        "",
        "哈喽，",
    ];
    let fillers = ["亲测有效", "真的", "", "不骗你", "绝对靠谱", "说实话"];
    let pitches = [
        "加入我们的兼职群每天在家动动手指轻松赚三百元日结不收任何费用名额有限快来",
        "本店新到一批高仿名牌包包价格只要专柜的一折质量保证支持验货",
        "Join our part time team and earn 300 dollars a day from home, no fees",
    ];
    // Each copy: its own greeting before, filler inside, at its own place.
    for (k, pitch) in pitches.iter().enumerate() {
        let allowed = run(&app, &format!("pitch{k}"), 15, |i| {
            let cut = pitch
                .char_indices()
                .nth(5 + i * 7 % 11)
                .map_or(0, |(at, _)| at);
            let greeting = greetings[i * 3 % greetings.len()];
            let filler = fillers[i * 5 % fillers.len()];
            format!("{greeting}{}{filler}{}", &pitch[..cut], &pitch[cut..])
        })
        .await;
        assert!(allowed.iter().all(|&i| i < 9), "pitch {k}: {allowed:?}");
    }
    app
}

async fn a_path_rotated_on_a_domain_nobody_vouched_for_is_one_run(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    let allowed = run(&app, "rotate", 8, |i| {
        format!("new deals: promo-x.shop/{:x}", 0xa8f3 + i * 977)
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    app
}

/// A run repeating one page of a site nobody vouched for yet (a marketplace item) is caught by
/// that page's own key; its senders fill the domain's key too, but with one page, so strangers
/// sharing other pages of the site still pass — and a run rotating paths after it is caught,
/// since every copy the domain key holds back still counts its page.
async fn a_run_on_one_page_of_an_unvetted_site_does_not_catch_its_other_pages(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    let allowed = run(&app, "fixed", 8, |i| {
        format!(
            "limited offer {i}: https://bigmall.example/item.htm?id=692350127493&utm_source=x{i}"
        )
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    for i in 0..2 {
        let text =
            format!("这个商品不错，https://bigmall.example/item.htm?id=56992822{i} 快来看看");
        let reply = app
            .single(&format!("sharer{i}"), &format!("stranger{i}"), &text)
            .await;
        assert!(reply.is_allow(), "sharer {i}: {reply:?}");
    }
    let allowed = run(&app, "rotated", 5, |i| {
        format!("new deals: bigmall.example/p/{:x}", 0xa8f3 + i * 977)
    })
    .await;
    assert!(allowed.is_empty(), "{allowed:?}");
    app
}

/// Each page's own key lets `limit` senders through; the domain key, full of senders, must not
/// hold back copies that repeat its pages, or a run spread over `limit` pages would pass
/// `limit`² senders.
async fn a_run_spread_over_a_few_pages_of_an_unvetted_domain_is_one_run(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    let allowed = run(&app, "spread", 12, |i| {
        format!("new deals: promo-x.shop/p{}", i % 3)
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    app
}

/// Four decoy pages rotated per copy take a message's payload keys before the real payload;
/// with several pages in the text, the pages do not set its near-duplicate bands apart, so the
/// text around them still makes one run.
async fn rotated_decoy_links_around_a_payload_do_not_split_a_run(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    let allowed = run(&app, "decoy", 8, |i| {
        let decoys: Vec<String> = (0..4)
            .map(|k| format!("news.example/story/{}", 1000 + 10 * i + k))
            .collect();
        format!(
            "Read {} and then claim your prize at prize-x.shop/claim before it expires",
            decoys.join(" ")
        )
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    app
}

async fn a_domain_three_people_share_with_their_contacts_counts_per_page_only(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    for (user, friend) in [("ann", "bea"), ("cal", "dan"), ("eve", "fay")] {
        befriend(&app, user, &[friend]).await;
        let text = format!("look at this videos.example/watch?v={user}123");
        assert!(app.single(user, friend, &text).await.is_allow());
    }
    // Fifteen strangers each sharing another page, as a share button writes it: all pass.
    let allowed = run(&app, "share", 15, |i| {
        format!("you might like this one, I watched it twice last night https://videos.example/watch?v=Vid{i:04}")
    })
    .await;
    assert_eq!(allowed.len(), 15, "{allowed:?}");
    // One page from many strangers is still one payload.
    let allowed = run(&app, "same", 5, |_| {
        "free prizes inside: videos.example/watch?v=spam01".to_string()
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    app
}

async fn two_accounts_of_one_spammer_writing_to_each_other_vet_no_domain(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    // The two accounts write to each other: their links are established, two vouchers.
    befriend(&app, "sybil1", &["sybil2"]).await;
    befriend(&app, "sybil2", &["sybil1"]).await;
    for (from, to) in [("sybil1", "sybil2"), ("sybil2", "sybil1")] {
        for page in ["a1", "b2", "c3"] {
            let text = format!("check promo-y.shop/{from}{page}");
            assert!(app.single(from, to, &text).await.is_allow());
        }
    }
    let allowed = run(&app, "sybilrun", 6, |i| {
        format!("new deals: promo-y.shop/{:x}", 0xbeef + i * 31)
    })
    .await;
    assert_eq!(allowed, [0, 1, 2], "two vouchers do not vet the domain");
    app
}

async fn a_shortener_is_never_vetted_and_its_path_stays_the_payload(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    // Nobody vouched for bit.ly, yet different short links have nothing in common: a
    // shortener's domain is never a key of its own.
    let allowed = run(&app, "short", 6, |i| {
        format!("the recipe I told you about: bit.ly/k{i}x")
    })
    .await;
    assert_eq!(allowed.len(), 6, "{allowed:?}");
    for (user, friend) in [("ann", "bea"), ("cal", "dan"), ("eve", "fay")] {
        befriend(&app, user, &[friend]).await;
        let text = "the recipe I told you about: bit.ly/Rc1pe";
        assert!(app.single(user, friend, text).await.is_allow());
    }
    // One short link from cold strangers is a run however many friends shared it.
    let allowed = run(&app, "shortsame", 5, |_| {
        "claim it: bit.ly/Rc1pe".to_string()
    })
    .await;
    assert_eq!(allowed, [0, 1, 2]);
    app
}

/// The usual smishing text: a pitch of 25-40 characters and a short link rotated per copy. A
/// text is not long for the page it links (its path and query are what the bands' salt
/// compares), but a shortener's code salts nothing and stays words: long enough to compare.
async fn a_short_pitch_beside_a_short_link_rotated_per_copy_is_one_run(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT]).await;
    const CODES: [&str; 14] = [
        "3xYz9Qw", "9kLm2Pq", "Tr4vB8n", "Qa7Ze1K", "mP5sW2x", "Hd8Jq3L", "Zy6Cv9R", "bN2fG7t",
        "Wc3Ks8d", "uE7hR2m", "Jp9Lx4a", "Vn1Ty6q", "sG5bM3z", "Kf8Dw2r",
    ];
    let allowed = run(&app, "parcel", 14, |i| {
        format!(
            "Your parcel is on hold, pay the fee: https://bit.ly/{}",
            CODES[i]
        )
    })
    .await;
    // Near-duplicate bands match most such pairs of short texts, not all: a few copies past the
    // limit pass, none from the 10th sender on.
    let stopped = |allowed: &[usize]| allowed.len() <= 5 && allowed.iter().all(|&i| i < 9);
    assert!(stopped(&allowed), "English: {allowed:?}");
    let allowed = run(&app, "baoguo", 14, |i| {
        format!(
            "您的包裹被扣留，请点击链接支付关税 https://bit.ly/{}",
            CODES[i]
        )
    })
    .await;
    assert!(stopped(&allowed), "Chinese: {allowed:?}");
    app
}

async fn thirty_strangers_writing_alike_to_one_support_desk_all_pass(backend: Backend) -> TestApp {
    // The default limit (5 distinct senders).
    let app = TestApp::on(backend, &[]).await;
    for i in 0..30 {
        let question = format!(
            "Hello, my order #{} has not arrived yet, it was due last week. Can you check where it is?",
            100_482 + i * 7_331
        );
        let reply = app
            .single(&format!("customer{i}"), "shop_support", &question)
            .await;
        assert!(reply.is_allow(), "customer {i}: {reply:?}");
    }
    // The same text to many accounts is a campaign again.
    let allowed = run(&app, "desk", 8, |i| {
        format!(
            "Hello, my order #{} has not arrived yet, it was due last week. Can you check where it is?",
            100_482 + i * 7_331
        )
    })
    .await;
    assert!(allowed.len() < 8, "{allowed:?}");
    app
}

/// A copy one of its keys refuses is recorded in none: on a Redis Cluster, where each key decides
/// on its own slot, the other keys take back its sender and the recipient it named. Left behind,
/// that recipient would make the other key's copies look spread over two people.
async fn a_copy_another_key_refused_leaves_no_recipient_behind(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "2/10m")]).await;
    // The mail address's key: two senders to two people, at its limit.
    for i in 0..2 {
        let reply = app
            .single(
                &format!("mail{i}"),
                &format!("reader{i}"),
                "write to deals@promo-x.shop",
            )
            .await;
        assert!(reply.is_allow(), "{reply:?}");
    }
    // The phone number's key: one sender, to the help desk.
    let phone = "call me back on 5551234567";
    assert!(app.single("caller0", "helpdesk", phone).await.is_allow());
    // Both: refused by the mail address's key, so the phone's key records nothing of it.
    let both = app
        .single("both", "stranger", "deals@promo-x.shop or 5551234567")
        .await;
    assert_eq!(both.err_code(), 5004, "{both:?}");
    // The phone's key at its limit, every copy to the help desk: not a campaign.
    assert!(app.single("caller1", "helpdesk", phone).await.is_allow());
    let third = app.single("caller2", "helpdesk", phone).await;
    assert!(
        third.is_allow(),
        "one recipient is not a campaign: {third:?}"
    );
    app
}

/// A voucher's time is refreshed once per slack of the contact memory (a 32nd, as a
/// conversation's), not by every message: vouching again within it writes nothing, so the
/// domain is vetted until a memory after the first vouches, on every store alike.
async fn a_voucher_is_refreshed_once_per_slack_of_the_memory(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT, ("FLOODGATE_CONTACT_MEMORY", "32h")]).await;
    let pairs = [("ann", "bea"), ("cal", "dan"), ("eve", "fay")];
    for (user, friend) in pairs {
        befriend(&app, user, &[friend]).await;
        let text = format!("look at promo-z.shop/{user}");
        assert!(app.single(user, friend, &text).await.is_allow());
    }
    // Within the slack (an hour): the same three vouch again, and nothing is written.
    app.advance(Duration::from_secs(30 * 60));
    for (user, friend) in pairs {
        let text = format!("and promo-z.shop/{user}2");
        assert!(app.single(user, friend, &text).await.is_allow());
    }
    let rotated = |i: usize| format!("new deals: promo-z.shop/{:x}", 0xcafe + i * 31);
    let allowed = run(&app, "vetted", 5, rotated).await;
    assert_eq!(allowed.len(), 5, "vetted: the domain counts nothing");
    // A memory after the first vouches (not after the second): no longer vetted.
    app.advance(Duration::from_secs(31 * 3600 + 31 * 60));
    let allowed = run(&app, "lapsed", 5, rotated).await;
    assert_eq!(allowed, [0, 1, 2], "the vouchers left the memory");
    app
}

/// A domain vetted by vouchers all within the slack is not rewritten by each new person who
/// carries it (a big site would be written by nearly every message): it stays vetted until a
/// memory after the vouchers that vetted it, on every store alike.
async fn new_vouchers_within_the_slack_of_a_vetted_domain_write_nothing(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[LIMIT, ("FLOODGATE_CONTACT_MEMORY", "32h")]).await;
    let vouch = |pairs: [(&'static str, &'static str); 3]| {
        let app = &app;
        async move {
            for (user, friend) in pairs {
                befriend(app, user, &[friend]).await;
                let text = format!("look at promo-w.shop/{user}");
                assert!(app.single(user, friend, &text).await.is_allow());
            }
        }
    };
    vouch([("ann", "bea"), ("cal", "dan"), ("eve", "fay")]).await;
    // Within the slack (an hour): three others vouch, and nothing is written.
    app.advance(Duration::from_secs(30 * 60));
    vouch([("gil", "hal"), ("ivy", "jon"), ("kim", "lou")]).await;
    let rotated = |i: usize| format!("new deals: promo-w.shop/{:x}", 0xbeef + i * 31);
    let allowed = run(&app, "vetted", 5, rotated).await;
    assert_eq!(allowed.len(), 5, "vetted: the domain counts nothing");
    // A memory after the first three vouched (not after the second three): no longer vetted.
    app.advance(Duration::from_secs(31 * 3600 + 31 * 60));
    let allowed = run(&app, "lapsed", 5, rotated).await;
    assert_eq!(
        allowed,
        [0, 1, 2],
        "the vouchers that vetted it left the memory"
    );
    app
}
