//! OpenIM's webhook wire format (docs/openim.md): the callback body as OpenIM sends
//! it and the replies it understands. The command names are `commands`'.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::engine::{Chat, Message};

/// `atUserList`'s entry for "the whole group" (OpenIM's protocol constants).
pub const AT_ALL_TAG: &str = "AtAllTag";

/// The command a body names (`callbackCommand`), read without interpreting anything else: any
/// callback may be routed, whatever its other fields hold. `None` when the body is not a JSON
/// object or names no command as a string.
pub fn body_command(body: &[u8]) -> Option<Cow<'_, str>> {
    // OpenIM writes the command second, after `sendID`: found there without parsing the rest.
    if let Some(command) = leading_command(body) {
        return Some(command);
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "callbackCommand", borrow, default)]
        command: Option<Cow<'a, str>>,
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Envelope<'_>>(body)
        .ok()?
        .command
        .filter(|c| !c.is_empty())
}

/// The string fields at the start of a body that cannot be parsed whole (cut off at the size
/// limit, or broken further on), in order, up to the first value that is not a string.
/// OpenIM's encoder writes `sendID`, `callbackCommand`, `serverMsgID`, `clientMsgID` and
/// `operationID` first, so the sender of an over-long message can still be judged.
pub fn leading_strings(prefix: &[u8]) -> Vec<(String, String)> {
    let decode = |raw: &[u8]| serde_json::from_slice::<String>(raw).ok();
    LeadingPairs::of(prefix)
        .take(16)
        .map_while(|(key, value)| Some((decode(key)?, decode(value)?)))
        .collect()
}

/// `callbackCommand` among the leading string fields, borrowed from the body when it has no
/// escapes (every command name OpenIM sends). `None`: not there, let the parser look.
fn leading_command(body: &[u8]) -> Option<Cow<'_, str>> {
    let (_, value) = LeadingPairs::of(body)
        .take(4)
        .find(|(key, _)| *key == b"\"callbackCommand\"")?;
    let raw = &value[1..value.len() - 1];
    if raw.contains(&b'\\') || raw.is_empty() {
        return None;
    }
    std::str::from_utf8(raw).ok().map(Cow::Borrowed)
}

/// The `"key": "value"` pairs at the start of a JSON object, raw (quotes and escapes as
/// written), up to the first value that is not a string or the first byte that is not JSON.
struct LeadingPairs<'a> {
    bytes: &'a [u8],
    /// Where the next key starts; `None` once the pairs ended.
    at: Option<usize>,
}

impl<'a> LeadingPairs<'a> {
    fn of(bytes: &'a [u8]) -> LeadingPairs<'a> {
        let open = skip_space(bytes, 0);
        let at = (bytes.get(open) == Some(&b'{')).then_some(open + 1);
        LeadingPairs { bytes, at }
    }
}

impl<'a> Iterator for LeadingPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        let key_start = skip_space(bytes, self.at.take()?);
        let key_end = raw_string_end(bytes, key_start)?;
        let colon = skip_space(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value_start = skip_space(bytes, colon + 1);
        let value_end = raw_string_end(bytes, value_start)?;
        let comma = skip_space(bytes, value_end);
        if bytes.get(comma) == Some(&b',') {
            self.at = Some(comma + 1);
        }
        Some((&bytes[key_start..key_end], &bytes[value_start..value_end]))
    }
}

/// The index after the JSON string starting at `at` (its opening quote), undecoded.
fn raw_string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut end = at + 1;
    loop {
        match bytes.get(end)? {
            b'\\' => end += 2,
            b'"' => return Some(end + 1),
            _ => end += 1,
        }
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// A callback body. Every field may be missing or `null`; unknown fields are ignored; a known
/// field of the wrong JSON type makes the request invalid.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CallbackRequest<'a> {
    #[serde(rename = "sendID", borrow)]
    pub send_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub callback_command: Option<Cow<'a, str>>,
    #[serde(rename = "serverMsgID", borrow)]
    pub server_msg_id: Option<Cow<'a, str>>,
    #[serde(rename = "clientMsgID", borrow)]
    pub client_msg_id: Option<Cow<'a, str>>,
    #[serde(rename = "operationID", borrow)]
    pub operation_id: Option<Cow<'a, str>>,
    #[serde(rename = "senderPlatformID")]
    pub sender_platform_id: Option<i32>,
    #[serde(borrow)]
    pub sender_nickname: Option<Cow<'a, str>>,
    pub session_type: Option<i32>,
    pub msg_from: Option<i32>,
    pub content_type: Option<i32>,
    pub status: Option<i32>,
    pub send_time: Option<i64>,
    pub create_time: Option<i64>,
    #[serde(borrow)]
    pub content: Option<Cow<'a, str>>,
    pub seq: Option<u32>,
    #[serde(borrow)]
    pub at_user_list: Option<Vec<Cow<'a, str>>>,
    #[serde(rename = "faceURL", borrow)]
    pub face_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub ex: Option<Cow<'a, str>>,
    #[serde(rename = "recvID", borrow)]
    pub recv_id: Option<Cow<'a, str>>,
    #[serde(rename = "groupID", borrow)]
    pub group_id: Option<Cow<'a, str>>,
}

impl<'a> CallbackRequest<'a> {
    /// Parses a body, refusing anything but a JSON object (serde would take an array as a
    /// struct written positionally).
    pub fn parse(body: &'a [u8]) -> Result<CallbackRequest<'a>, String> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err("the body is not a JSON object".into());
        }
        // The plain parser first; only a body it refuses is parsed again with path tracking,
        // which names the offending field but costs allocations on every call.
        serde_json::from_slice(body).map_err(|_| {
            let deserializer = &mut serde_json::Deserializer::from_slice(body);
            match serde_path_to_error::deserialize::<_, CallbackRequest<'_>>(deserializer) {
                Ok(_) => "the body is not a valid callback".to_string(),
                Err(error) => match error.path().to_string().as_str() {
                    "." | "" => format!("the body is not a valid callback: {}", error.inner()),
                    field => format!("field `{field}`: {}", error.inner()),
                },
            }
        })
    }

    /// What the rules read of a message callback of `chat`: every field the engine's
    /// [`Message`] has, taken from the body here and nowhere else. A missing field is empty.
    pub fn message(&self, chat: Chat) -> Message<'_> {
        Message {
            chat,
            send_id: self.send_id.as_deref().unwrap_or(""),
            recv_id: self.recv_id.as_deref().unwrap_or(""),
            group_id: self.group_id.as_deref().unwrap_or(""),
            content_type: self.content_type.unwrap_or(0),
            content: self.content.as_deref().unwrap_or(""),
            mentions: self.mentions(),
            at_all: self.mentions_all(),
        }
    }

    /// Whether the whole group is mentioned (`AtAllTag`).
    pub fn mentions_all(&self) -> bool {
        self.at_user_list
            .as_ref()
            .is_some_and(|list| list.iter().any(|id| id == AT_ALL_TAG))
    }

    /// Distinct users @-mentioned (`AtAllTag` is one entry, so it counts as one).
    pub fn mentions(&self) -> usize {
        let Some(list) = &self.at_user_list else {
            return 0;
        };
        let mut ids: Vec<&str> = list.iter().map(|id| id.as_ref()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

/// OpenIM's reply (`CommonCallbackResp`): field names and order exactly as OpenIM reads them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackResponse<'a> {
    pub action_code: i32,
    pub err_code: i32,
    pub err_msg: &'a str,
    pub err_dlt: &'a str,
    pub next_code: i32,
}

impl<'a> CallbackResponse<'a> {
    /// Deliver the message.
    pub const ALLOW: CallbackResponse<'static> = CallbackResponse {
        action_code: 0,
        err_code: 0,
        err_msg: "",
        err_dlt: "",
        next_code: 0,
    };

    /// Refuse the message with `err_code`: `actionCode` 0 and `nextCode` 1 is the only
    /// combination that rejects on every OpenIM version but v3.6 (docs/openim.md, "How the answer is read").
    pub fn reject(err_code: i32, err_msg: &'a str, err_dlt: &'a str) -> Self {
        CallbackResponse {
            action_code: 0,
            err_code,
            err_msg,
            err_dlt,
            next_code: 1,
        }
    }

    /// A request we could not judge: `actionCode` 1 makes OpenIM deliver the message anyway,
    /// while a person reading the reply sees what was wrong.
    pub fn invalid(err_msg: &'a str, err_dlt: &'a str) -> Self {
        CallbackResponse {
            action_code: 1,
            err_code: 0,
            err_msg,
            err_dlt,
            next_code: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_parses() {
        let body = br#"{"sendID":"user123","callbackCommand":"callbackBeforeSendSingleMsgCommand",
            "serverMsgID":"msg001","clientMsgID":"clientmsg001","operationID":"1646445464564",
            "senderPlatformID":1,"senderNickname":"User123","sessionType":1,"msgFrom":1,
            "contentType":1,"status":1,"sendTime":1673048592000,"createTime":1673048592000,
            "content":"Hello, this is a test message","seq":1001,"atUserList":["user456","user789"],
            "faceURL":"http://example.com/path/to/user/image.png","ex":"Extra data","recvID":"user456"}
"#;
        let request = CallbackRequest::parse(body).unwrap();
        assert_eq!(request.send_id.as_deref(), Some("user123"));
        assert_eq!(request.recv_id.as_deref(), Some("user456"));
        assert_eq!(request.mentions(), 2);
    }

    #[test]
    fn null_missing_and_unknown_fields_are_fine() {
        let request =
            CallbackRequest::parse(br#"{"atUserList":null,"brandNew":{"x":[1]}}"#).unwrap();
        assert_eq!(request.mentions(), 0);
        assert!(request.send_id.is_none());
    }

    #[test]
    fn wrong_types_and_non_objects_are_invalid() {
        for body in [
            &br#"{"sendID":5}"#[..],
            br#"{"contentType":"101"}"#,
            br#"{"contentType":101.5}"#,
            br#"{"atUserList":"bob"}"#,
            br#"["user123"]"#,
            b"null",
            b"hello",
            b"",
        ] {
            assert!(
                CallbackRequest::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn replies_serialise_exactly() {
        let allow = serde_json::to_string(&CallbackResponse::ALLOW).unwrap();
        assert_eq!(
            allow,
            r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#
        );
        let reject = serde_json::to_string(&CallbackResponse::reject(5002, "m", "d")).unwrap();
        assert_eq!(
            reject,
            r#"{"actionCode":0,"errCode":5002,"errMsg":"m","errDlt":"d","nextCode":1}"#
        );
    }

    #[test]
    fn the_command_is_read_whatever_the_other_fields_hold() {
        let online = br#"{"callbackCommand":"callbackAfterUserOnlineCommand","seq":1767225600123,"platformID":"x"}"#;
        assert_eq!(
            body_command(online).as_deref(),
            Some("callbackAfterUserOnlineCommand")
        );
        assert_eq!(body_command(br#"{"seq":1}"#), None);
        let go_order =
            br#"{"sendID":"a\"b","callbackCommand":"callbackBeforeSendSingleMsgCommand","x":1}"#;
        assert!(
            matches!(body_command(go_order), Some(Cow::Borrowed(c)) if c == "callbackBeforeSendSingleMsgCommand")
        );
        let late = br#"{"seq":1,"callbackCommand":"callbackAfterUserOnlineCommand"}"#;
        assert_eq!(
            body_command(late).as_deref(),
            Some("callbackAfterUserOnlineCommand")
        );
        let escaped = br#"{"callbackCommand":"callback\u0041"}"#;
        assert_eq!(body_command(escaped).as_deref(), Some("callbackA"));
        assert_eq!(body_command(br#"{"callbackCommand":5}"#), None);
        assert_eq!(body_command(b"[1]"), None);
        assert_eq!(body_command(b"not json"), None);
    }

    #[test]
    fn the_leading_string_fields_of_a_cut_off_body_are_read() {
        let body = br#"{"sendID":"al\"ice","callbackCommand":"callbackBeforeSendSingleMsgCommand",
            "operationID":"op","senderPlatformID":1,"content":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"#;
        let fields = leading_strings(body);
        assert_eq!(fields[0], ("sendID".into(), "al\"ice".into()));
        assert_eq!(fields[1].1, "callbackBeforeSendSingleMsgCommand");
        assert_eq!(fields.len(), 3);
        assert!(leading_strings(br#"{"sendID":"cut of"#).is_empty());
        assert!(leading_strings(b"[\"sendID\"]").is_empty());
        assert!(leading_strings(b"").is_empty());
    }

    #[test]
    fn the_engine_message_is_every_field_the_rules_read() {
        let body = br#"{"sendID":"al","recvID":"bo","groupID":"g","contentType":101,
            "content":"{\"content\":\"hi\"}","atUserList":["AtAllTag","bo","bo"]}"#;
        let request = CallbackRequest::parse(body).unwrap();
        let message = request.message(Chat::Group);
        assert_eq!(message.chat, Chat::Group);
        assert_eq!(
            (message.send_id, message.recv_id, message.group_id),
            ("al", "bo", "g")
        );
        assert_eq!(message.content_type, 101);
        assert_eq!(message.content, r#"{"content":"hi"}"#);
        assert_eq!((message.mentions, message.at_all), (2, true));
        let empty = CallbackRequest::parse(b"{}").unwrap();
        let message = empty.message(Chat::Single);
        assert_eq!(
            (message.send_id, message.content_type, message.at_all),
            ("", 0, false)
        );
    }

    #[test]
    fn at_all_is_one_mention_and_is_seen() {
        let request =
            CallbackRequest::parse(br#"{"atUserList":["AtAllTag","bob","bob"]}"#).unwrap();
        assert!(request.mentions_all());
        assert_eq!(request.mentions(), 2);
    }
}
