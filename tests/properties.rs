//! Property tests over everything that reads untrusted input: callback parsing, content
//! extraction and normalisation never panic, and normalisation keeps its promises. (The same
//! functions have a cargo-fuzz target in `fuzz/`; these run in CI.)

use floodgate::engine::ActKind;
use floodgate::engine::content::judged_text;
use floodgate::engine::fingerprint::{fingerprint, normalise};
use floodgate::engine::folded::Folded;
use floodgate::http::act_wire::parse_act;
use floodgate::http::stream_reader::StreamReader;
use floodgate::http::wire::CallbackRequest;
use proptest::prelude::*;

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

const KNOWN_FIELDS: [&str; 20] = [
    "sendID",
    "callbackCommand",
    "serverMsgID",
    "clientMsgID",
    "operationID",
    "senderPlatformID",
    "senderNickname",
    "sessionType",
    "msgFrom",
    "contentType",
    "status",
    "sendTime",
    "createTime",
    "content",
    "seq",
    "atUserList",
    "faceURL",
    "ex",
    "recvID",
    "groupID",
];

/// Every field the non-message callbacks floodgate judges are read from.
const ACT_FIELDS: [&str; 15] = [
    "operationID",
    "fromUserID",
    "reqMsg",
    "ownerUserID",
    "creatorUserID",
    "initMemberList",
    "groupID",
    "groupName",
    "notification",
    "introduction",
    "applyID",
    "reqMessage",
    "invitedUserIDs",
    "userID",
    "nickName",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = CallbackRequest::parse(&bytes);
    }

    #[test]
    fn act_bodies_of_any_shape_are_read_leniently(
        values in prop::collection::vec(json_value(), ACT_FIELDS.len()),
        kind in 0..6usize,
    ) {
        let kind = [
            ActKind::FriendRequest,
            ActKind::CreateGroup,
            ActKind::JoinGroup,
            ActKind::Invite,
            ActKind::EditGroup,
            ActKind::EditProfile,
        ][kind];
        let object: serde_json::Map<String, serde_json::Value> =
            ACT_FIELDS.iter().map(|k| k.to_string()).zip(values).collect();
        let body = serde_json::to_vec(&object).unwrap();
        // Any JSON object is an act: a field of the wrong type is absent, never a refusal.
        prop_assert!(parse_act(kind, &body).is_ok());
        let _ = parse_act(kind, &body[..body.len() / 2]);
    }

    #[test]
    fn known_fields_of_any_type_parse_or_fail_cleanly(
        values in prop::collection::vec(json_value(), KNOWN_FIELDS.len())
    ) {
        let object: serde_json::Map<String, serde_json::Value> =
            KNOWN_FIELDS.iter().map(|k| k.to_string()).zip(values).collect();
        let body = serde_json::to_vec(&object).unwrap();
        match CallbackRequest::parse(&body) {
            Ok(request) => { let _ = request.mentions(); }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn extraction_never_panics_and_judges_plain_text_as_is(content_type in -5i32..6000, raw in ".{0,200}") {
        let judged = judged_text(content_type, &raw);
        if !raw.trim_start().starts_with('{') && !raw.trim().is_empty() {
            prop_assert_eq!(judged.as_deref(), Some(raw.as_str()));
        }
    }

    #[test]
    fn extraction_of_json_elements_never_panics(content_type in 100i32..120, element in json_value()) {
        let _ = judged_text(content_type, &element.to_string());
    }

    #[test]
    fn normalised_text_is_letters_and_digits_without_repeated_letters(text in "\\PC{0,120}") {
        let normal = normalise(&text);
        prop_assert!(normal.chars().all(char::is_alphanumeric), "{normal:?}");
        let chars: Vec<char> = normal.chars().collect();
        for pair in chars.windows(2) {
            prop_assert!(pair[0] != pair[1] || pair[0].is_numeric(), "{normal:?}");
        }
    }

    #[test]
    fn normalisation_is_idempotent(text in "\\PC{0,120}") {
        let once = normalise(&text);
        prop_assert_eq!(normalise(&once), once.clone());
    }

    #[test]
    fn punctuation_spacing_invisibles_and_case_do_not_change_a_fingerprint(
        words in prop::collection::vec("[a-zA-Z0-9]{1,8}", 1..8),
        noise in prop::collection::vec(prop::sample::select(vec![" ", "!", ".", "\u{200B}", "\u{00AD}", ", ", "  ", "\u{FEFF}"]), 8)
    ) {
        let plain = words.join(" ");
        let noisy: String = words.iter().enumerate()
            .map(|(i, w)| format!("{}{}", w.to_uppercase(), noise[i % noise.len()]))
            .collect();
        prop_assert_eq!(fingerprint(&Folded::of(&plain), 1), fingerprint(&Folded::of(&noisy), 1));
    }
}

proptest! {
    /// Any text against any list: no panic, and a text that is an entry, however it is
    /// spaced or cased, is found.
    #[test]
    fn keyword_matching_never_panics_and_finds_an_entry_written_as_the_text(
        entries in prop::collection::vec("[a-zA-Z0-9 .\\-微信加我]{1,16}", 0..20),
        text in "\\PC{0,300}",
    ) {
        use floodgate::engine::keywords::KeywordList;
        let file = entries.join("\n");
        let Ok(list) = KeywordList::parse(&file) else { return Ok(()); };
        let _ = list.find(&Folded::of(&text));
        for entry in entries.iter().filter(|e| e.chars().any(char::is_alphanumeric)) {
            let shouted = format!("oh {} !", entry.to_uppercase());
            prop_assert!(list.find(&Folded::of(&shouted)).is_some(), "{entry:?} not found in {shouted:?}");
        }
    }

    #[test]
    fn link_finding_never_panics(text in "\\PC{0,300}") {
        let _ = floodgate::engine::links::hosts(&text);
    }

    /// Any text, including ones dense with payload-like pieces: no panic, at most `MAX_KEYS`
    /// keys without duplicates, and the same keys every time.
    #[test]
    fn campaign_key_extraction_never_panics_and_stays_bounded(
        text in prop_oneof![
            "\\PC{0,400}",
            "([a-z0-9]{1,6}[ @.:/+()\\-]{1,2}|微信|vx|wechat|qq|t\\.me/|\\.com|１２３){0,80}",
        ],
        group in any::<bool>(),
    ) {
        use floodgate::engine::campaign_keys::{Audience, MAX_KEYS, campaign_keys};
        let audience = if group { Audience::Group } else { Audience::OneToOne };
        let allow = floodgate::engine::links::DomainList::default();
        let normalised = floodgate::engine::fingerprint::normalise_folded(&Folded::of(&text));
        let keys = campaign_keys(&text, &normalised, &allow, audience);
        let keys = keys.as_slice();
        prop_assert!(keys.len() <= MAX_KEYS, "{} keys", keys.len());
        let mut distinct = keys.to_vec();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), keys.len());
        let again = campaign_keys(&text, &normalised, &allow, audience);
        prop_assert_eq!(again.as_slice(), keys);
    }
}

/// Linear time, not a timed assertion: a megabyte of the input that worst-cases naive matchers
/// (one long word of repeated prefixes of the entries) is matched without running away.
#[test]
fn keyword_matching_of_a_megabyte_of_adversarial_text_completes() {
    use floodgate::engine::keywords::KeywordList;
    let list = KeywordList::parse("aaaa aaab\naaaaaaaaab\n").unwrap();
    let text = "a ".repeat(500_000);
    assert!(list.find(&Folded::of(&text)).is_none());
    let words = "aaaa ".repeat(200_000);
    assert!(list.find(&Folded::of(&words)).is_none());
}

/// A known message field's value: mostly of its own type, sometimes any JSON at all.
fn message_value(name: &'static str) -> BoxedStrategy<serde_json::Value> {
    use serde_json::Value;
    let typed: BoxedStrategy<Value> = match name {
        "senderPlatformID" | "sessionType" | "msgFrom" | "contentType" | "status" => {
            any::<i32>().prop_map(Value::from).boxed()
        }
        "sendTime" | "createTime" => any::<i64>().prop_map(Value::from).boxed(),
        "seq" => any::<u32>().prop_map(Value::from).boxed(),
        "atUserList" => prop::collection::vec(
            prop_oneof![Just("AtAllTag".to_string()), "[a-c]{1,2}", "\\PC{0,6}"],
            0..8,
        )
        .prop_map(Value::from)
        .boxed(),
        "content" => prop_oneof![
            "\\PC{0,30}".prop_map(Value::from),
            "\\PC{0,30}".prop_map(|t| Value::from(serde_json::json!({ "content": t }).to_string())),
        ]
        .boxed(),
        _ => "\\PC{0,12}".prop_map(Value::from).boxed(),
    };
    prop_oneof![4 => typed, 1 => json_value()].boxed()
}

/// A message body's members: each known field present or not.
fn message_members() -> impl Strategy<Value = Vec<(String, serde_json::Value)>> {
    let fields: Vec<_> = KNOWN_FIELDS
        .iter()
        .map(|&name| prop::option::weighted(0.8, message_value(name)))
        .collect();
    fields.prop_map(|values| {
        KNOWN_FIELDS
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((name.to_string(), value?)))
            .collect()
    })
}

/// The object of `members` in their order, with `padding` (a member) before the `at`-th.
fn object_text(members: &[(String, serde_json::Value)], padding: Option<(&str, usize)>) -> Vec<u8> {
    let mut parts: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
        .collect();
    if let Some((member, at)) = padding {
        parts.insert(at.min(parts.len()), member.to_string());
    }
    format!("{{{}}}", parts.join(",")).into_bytes()
}

/// What the streamed reader makes of `body`, fed in pieces of `piece` bytes.
fn streamed(body: &[u8], piece: usize, command: &str) -> Vec<u8> {
    let mut reader = StreamReader::new(1024, command);
    for chunk in body.chunks(piece) {
        if reader.feed(chunk).is_err() {
            break;
        }
    }
    reader.finish()
}

/// Everything of a message the engine judges, written out, or `None` for an invalid body.
fn judged_message(body: &[u8]) -> Option<String> {
    let r = CallbackRequest::parse(body).ok()?;
    Some(format!(
        "{:?}",
        (
            &r.send_id,
            &r.recv_id,
            &r.group_id,
            r.content_type,
            &r.content,
            r.mentions(),
            r.mentions_all(),
            &r.operation_id,
        )
    ))
}

/// Client-set padding past the reader's 1 KiB cap: a push notification's text, or `ex`.
fn padding() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!(
            r#""offlinePushInfo":{{"title":"t","desc":"{}","ex":[1,{{}}]}}"#,
            "\\\"x".repeat(700)
        )),
        Just(format!(r#""ex":"{}""#, "\\u00e9\\\"".repeat(300))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Padding never changes what is judged, whatever the message, where the padding sits and
    /// how the body arrives.
    #[test]
    fn a_padded_message_is_judged_as_the_unpadded_one(
        members in message_members(),
        padding in padding(),
        at in 0..24usize,
        piece in 1..96usize,
    ) {
        let has_ex = members.iter().any(|(k, _)| k == "ex");
        prop_assume!(!(has_ex && padding.starts_with(r#""ex""#)));
        let plain = object_text(&members, None);
        let padded = object_text(&members, Some((&padding, at)));
        prop_assert!(padded.len() > 2048);
        let kept = streamed(&padded, piece, "callbackBeforeSendSingleMsgCommand");
        prop_assert_eq!(
            judged_message(&plain),
            judged_message(&kept),
            "{}",
            String::from_utf8_lossy(&kept)
        );
    }

    #[test]
    fn a_padded_act_is_judged_as_the_unpadded_one(
        values in prop::collection::vec(json_value(), ACT_FIELDS.len()),
        kind in 0..6usize,
        at in 0..16usize,
        piece in 1..96usize,
    ) {
        let kind = [
            ActKind::FriendRequest,
            ActKind::CreateGroup,
            ActKind::JoinGroup,
            ActKind::Invite,
            ActKind::EditGroup,
            ActKind::EditProfile,
        ][kind];
        let members: Vec<(String, serde_json::Value)> =
            ACT_FIELDS.iter().map(|k| k.to_string()).zip(values).collect();
        let plain = object_text(&members, None);
        let padding = format!(r#""ex":"{}""#, "pad".repeat(700));
        let padded = object_text(&members, Some((&padding, at)));
        let kept = streamed(&padded, piece, "callbackBeforeAddFriendCommand");
        let read = |body: &[u8]| parse_act(kind, body).map(|p| format!("{:?} {}", p.request, p.operation_id));
        prop_assert_eq!(read(&plain), read(&kept));
    }
}
