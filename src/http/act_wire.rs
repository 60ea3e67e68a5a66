//! The bodies of the non-message callbacks floodgate judges (docs/openim.md "Friend requests,
//! groups and profiles"), read into an [`ActRequest`].
//!
//! Read leniently: these callbacks are not messages, and a field floodgate cannot use must not
//! cost a user their friend request. A text is a string (the Ex commands' protobuf wrappers too:
//! OpenIM encodes them as plain values or `null`); a `{"value": …}` object, which OpenIM never
//! sends, is read as its value, and anything else as absent. Lists are counted or searched as
//! they stream by, never kept, so a 10,000-entry invitee list costs no memory.
//!
//! Also the echo a reply to a set-group-info command must carry ([`with_group_info_echo`]):
//! OpenIM copies fields of that reply over the edit.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::engine::{ActKind, ActRequest};

use super::commands::{
    BEFORE_ADD_FRIEND, BEFORE_CREATE_GROUP, BEFORE_INVITE, BEFORE_JOIN_GROUP,
    BEFORE_SET_GROUP_INFO, BEFORE_SET_GROUP_INFO_EX, BEFORE_SET_GROUP_MEMBER_INFO,
    BEFORE_UPDATE_USER, BEFORE_UPDATE_USER_EX,
};

/// The `roleLevel` of a group's owner in `initMemberList` (OpenIM's protocol constants).
const OWNER_ROLE_LEVEL: i64 = 100;

/// The act a command reports, when floodgate judges it.
pub fn act_kind(command: &str) -> Option<ActKind> {
    Some(match command {
        BEFORE_ADD_FRIEND => ActKind::FriendRequest,
        BEFORE_CREATE_GROUP => ActKind::CreateGroup,
        BEFORE_JOIN_GROUP => ActKind::JoinGroup,
        BEFORE_INVITE => ActKind::Invite,
        BEFORE_SET_GROUP_INFO | BEFORE_SET_GROUP_INFO_EX => ActKind::EditGroup,
        BEFORE_UPDATE_USER | BEFORE_UPDATE_USER_EX => ActKind::EditProfile,
        BEFORE_SET_GROUP_MEMBER_INFO => ActKind::EditMember,
        _ => return None,
    })
}

/// Every field any judged act reads; each may be missing, null or of another type.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ActBody<'a> {
    #[serde(rename = "operationID", borrow)]
    operation_id: Text<'a>,
    #[serde(rename = "fromUserID", borrow)]
    from_user_id: Text<'a>,
    #[serde(rename = "toUserID", borrow)]
    to_user_id: Text<'a>,
    #[serde(rename = "reqMsg", borrow)]
    req_msg: Text<'a>,
    #[serde(rename = "ownerUserID", borrow)]
    owner_user_id: Text<'a>,
    #[serde(rename = "creatorUserID", borrow)]
    creator_user_id: Text<'a>,
    #[serde(rename = "initMemberList", borrow)]
    init_member_list: Members<'a>,
    #[serde(rename = "groupID", borrow)]
    group_id: Text<'a>,
    #[serde(rename = "groupName", borrow)]
    group_name: Text<'a>,
    #[serde(borrow)]
    notification: Text<'a>,
    #[serde(borrow)]
    introduction: Text<'a>,
    #[serde(rename = "applyID", borrow)]
    apply_id: Text<'a>,
    #[serde(rename = "reqMessage", borrow)]
    req_message: Text<'a>,
    #[serde(rename = "invitedUserIDs")]
    invited_user_ids: Count,
    #[serde(rename = "userID", borrow)]
    user_id: Text<'a>,
    #[serde(rename = "nickName", borrow)]
    nick_name: Text<'a>,
}

/// A parsed act, and the `operationID` for the log and for retries.
pub struct ParsedAct<'a> {
    pub request: ActRequest<'a>,
    pub operation_id: Cow<'a, str>,
    /// Whom a friend request asks (`toUserID`): part of what a retry must repeat.
    pub target: Cow<'a, str>,
}

/// Reads an act's body. Only a body that is not a JSON object at all is refused: every field
/// is optional and read leniently.
pub fn parse_act(kind: ActKind, body: &[u8]) -> Result<ParsedAct<'_>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("the body is not a JSON object".into());
    }
    let body: ActBody<'_> = serde_json::from_slice(body)
        .map_err(|error| format!("the body is not valid JSON: {error}"))?;
    let mut request = ActRequest {
        kind,
        actor: Cow::Borrowed(""),
        group_id: Cow::Borrowed(""),
        invitees: 0,
        request_text: Cow::Borrowed(""),
        texts: Vec::new(),
    };
    let mut target = Cow::Borrowed("");
    match kind {
        ActKind::FriendRequest => {
            target = Text::into_text(body.to_user_id);
            request.actor = Text::into_text(body.from_user_id);
            request.request_text = Text::into_text(body.req_msg);
        }
        ActKind::CreateGroup => {
            // The owner OpenIM checks against the caller is the role-100 entry it puts in
            // `initMemberList`; `ownerUserID` and `creatorUserID` are the client's own words,
            // read only when a body has no such entry (not one OpenIM sends).
            let Members { owner, count } = body.init_member_list;
            request.invitees = count - u64::from(owner.is_some());
            request.actor = [Text(owner), body.owner_user_id, body.creator_user_id]
                .into_iter()
                .find_map(|t| t.0.filter(|id| !id.is_empty()))
                .unwrap_or_default();
            request.texts = texts([body.group_name, body.introduction, body.notification]);
        }
        ActKind::JoinGroup => {
            request.actor = Text::into_text(body.apply_id);
            request.group_id = Text::into_text(body.group_id);
            request.request_text = Text::into_text(body.req_message);
        }
        ActKind::Invite => {
            request.group_id = Text::into_text(body.group_id);
            request.invitees = body.invited_user_ids.0;
        }
        ActKind::EditGroup => {
            request.texts = texts([body.group_name, body.introduction, body.notification]);
        }
        ActKind::EditProfile => {
            request.actor = Text::into_text(body.user_id);
            request.texts = texts([body.nick_name]);
        }
        ActKind::EditMember => {
            // `userID` is the member edited, not the editor: nobody to count or strike.
            request.texts = texts([body.nick_name]);
        }
    }
    Ok(ParsedAct {
        request,
        operation_id: Text::into_text(body.operation_id),
        target,
    })
}

/// What a reply to `callbackBeforeSetGroupInfoCommand` must echo: OpenIM copies `groupID`,
/// `groupName`, `introduction` and `faceURL` from it whatever they hold (`notification` is
/// harmless). Never `ex`, `needVerification`, `lookMemberInfo`, `applyMemberFriend`: the request
/// sends those as plain `""` / `0` when the caller left them unset, and OpenIM writes the reply's
/// whenever present — an echoed `0` would reset "joining needs verification" on a rename.
pub const SET_GROUP_INFO_ECHO: [&str; 5] = [
    "groupID",
    "groupName",
    "notification",
    "introduction",
    "faceURL",
];

/// What a reply to `callbackBeforeSetGroupInfoExCommand` must echo: every field, each nullable
/// on both sides and copied back even when absent (an absent one drops that part of the edit).
pub const SET_GROUP_INFO_EX_ECHO: [&str; 9] = [
    "groupID",
    "groupName",
    "notification",
    "introduction",
    "faceURL",
    "ex",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
];

/// The fields a reply to `command` must echo (none for most commands).
fn group_info_echo(command: &str) -> &'static [&'static str] {
    match command {
        BEFORE_SET_GROUP_INFO => &SET_GROUP_INFO_ECHO,
        BEFORE_SET_GROUP_INFO_EX => &SET_GROUP_INFO_EX_ECHO,
        _ => &[],
    }
}

/// Whether every reply to `command` must carry an echo of its request
/// ([`with_group_info_echo`]).
pub fn echoes(command: &str) -> bool {
    !group_info_echo(command).is_empty()
}

/// `reply` (a serialised JSON object) with the fields a reply to `command` must echo appended,
/// byte for byte as the request carried them. Every reply that does not reject needs them —
/// the allow, and the invalid and unauthorised replies too: OpenIM goes on with the edit then,
/// and an edit without its `groupID` is refused. Any other command's reply, and the reply to a
/// body that is not a JSON object, is returned as it is.
pub fn with_group_info_echo(command: &str, mut reply: Vec<u8>, body: &[u8]) -> Vec<u8> {
    use serde_json::value::RawValue;
    let echo = group_info_echo(command);
    if echo.is_empty() || reply.last() != Some(&b'}') {
        return reply;
    }
    let Ok(fields) =
        serde_json::from_slice::<std::collections::BTreeMap<Cow<'_, str>, &RawValue>>(body)
    else {
        return reply;
    };
    reply.pop(); // the closing brace
    for name in echo {
        if let Some(value) = fields.get(*name) {
            reply.extend_from_slice(format!(",\"{name}\":").as_bytes());
            reply.extend_from_slice(value.get().as_bytes());
        }
    }
    reply.push(b'}');
    reply
}

fn texts<'a, const N: usize>(fields: [Text<'a>; N]) -> Vec<Cow<'a, str>> {
    fields
        .into_iter()
        .filter_map(|t| t.0.filter(|text| !text.is_empty()))
        .collect()
}

/// The visitor methods of the JSON values a lenient field reads as `$value` (`@numbers`: all
/// but strings).
macro_rules! scalars_read_as {
    ($type:ty, $value:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<$type, E> {
            Ok($value)
        }
        scalars_read_as!(@numbers $type, $value);
    };
    (@numbers $type:ty, $value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$type, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$type, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$type, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$type, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<$type, E> {
            Ok($value)
        }
    };
}

/// A text: a string (OpenIM's wrappers included, which encode as plain values), or the value
/// of a `{"value": …}` object read leniently. Anything else reads as absent.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The text, empty when absent.
    fn into_text(self) -> Cow<'a, str> {
        self.0.unwrap_or_default()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor(PhantomData))
    }
}

struct TextVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text<'a>, A::Error> {
        let mut text = None;
        while let Some(key) = map.next_key::<Cow<'_, str>>()? {
            if key == "value" {
                text = map.next_value::<Text<'a>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Text(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    scalars_read_as!(@numbers Text<'a>, Text(None));
}

/// The entries of a list, counted as they stream by; anything but a list counts 0.
#[derive(Default)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Count, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Count(0))
            }
            scalars_read_as!(Count, Count(0));
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// `initMemberList`, as its entries stream by: how many there are, and the owner's ID
/// (`roleLevel` 100; the first, should there be several), the only ID kept.
#[derive(Default)]
struct Members<'a> {
    owner: Option<Cow<'a, str>>,
    count: u64,
}

/// One entry of `initMemberList`, leniently: anything but an object is an entry without fields.
#[derive(Default)]
struct Member<'a> {
    user_id: Option<Cow<'a, str>>,
    role_level: Option<i64>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of members")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members<'a>, A::Error> {
                let mut members = Members::default();
                while let Some(member) = seq.next_element::<Member<'a>>()? {
                    members.count += 1;
                    let is_owner = member.role_level == Some(OWNER_ROLE_LEVEL);
                    if members.owner.is_none() && is_owner {
                        members.owner = member.user_id.filter(|id| !id.is_empty());
                    }
                }
                Ok(members)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Members<'a>, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Members::default())
            }
            scalars_read_as!(Members<'a>, Members::default());
        }
        deserializer.deserialize_any(MembersVisitor(PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MemberVisitor<'a> {
            type Value = Member<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member<'a>, A::Error> {
                let mut member = Member::default();
                while let Some(key) = map.next_key::<Cow<'_, str>>()? {
                    match key.as_ref() {
                        "userID" => member.user_id = map.next_value::<Text<'a>>()?.0,
                        "roleLevel" => {
                            member.role_level = map.next_value::<serde_json::Value>()?.as_i64()
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(member)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'a>, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Member::default())
            }
            scalars_read_as!(Member<'a>, Member::default());
        }
        deserializer.deserialize_any(MemberVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: ActKind, body: &str) -> ActRequest<'_> {
        parse_act(kind, body.as_bytes()).unwrap().request
    }

    #[test]
    fn a_friend_request_names_its_requester_and_text() {
        let request = parse(
            ActKind::FriendRequest,
            r#"{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"u1","toUserID":"u2","reqMsg":"hi \u00e9","ex":""}"#,
        );
        assert_eq!(
            (request.actor.as_ref(), request.request_text.as_ref()),
            ("u1", "hi é")
        );
    }

    /// A creation from OpenIM's client SDK, as OpenIM encodes it (`omitempty` on the group's
    /// protobuf fields): the group info, then the owner OpenIM checked, admins and members.
    const SDK_CREATE: &str = concat!(
        r#"{"operationID":"1733550000000","callbackCommand":"callbackBeforeCreateGroupCommand","#,
        r#""groupName":"Hiking \u0026 more","ownerUserID":"victim","creatorUserID":"victim","#,
        r#""groupType":2,"initMemberList":[{"userID":"caller","roleLevel":100},"#,
        r#"{"userID":"a1","roleLevel":60},{"userID":"m1","roleLevel":20},"#,
        r#"{"userID":"m2","roleLevel":20}]}"#,
        "\n"
    );

    #[test]
    fn a_group_is_created_by_the_owner_openim_checked_not_the_names_the_client_wrote() {
        let create = parse(ActKind::CreateGroup, SDK_CREATE);
        assert_eq!(create.actor, "caller");
        assert_eq!(create.texts, vec!["Hiking & more"]);
        // Three members besides the owner.
        assert_eq!(create.invitees, 3);
        // Without a role-100 entry (not a body OpenIM sends): the owner, else the creator.
        let owner = parse(
            ActKind::CreateGroup,
            r#"{"ownerUserID":"o","creatorUserID":"c","initMemberList":[{"userID":"m","roleLevel":20}]}"#,
        );
        assert_eq!((owner.actor.as_ref(), owner.invitees), ("o", 1));
        let creator = parse(
            ActKind::CreateGroup,
            r#"{"ownerUserID":"","creatorUserID":"c"}"#,
        );
        assert_eq!((creator.actor.as_ref(), creator.invitees), ("c", 0));
        let member = parse(
            ActKind::CreateGroup,
            r#"{"ownerUserID":"o","initMemberList":[{"userID":"m","roleLevel":20},"junk",7,{"userID":"boss","roleLevel":100}]}"#,
        );
        assert_eq!((member.actor.as_ref(), member.invitees), ("boss", 3));
    }

    #[test]
    fn a_member_info_edit_is_judged_on_its_nickname_and_names_no_actor() {
        let edit = parse(
            ActKind::EditMember,
            r#"{"callbackCommand":"callbackBeforeSetGroupMemberInfoCommand","groupID":"g","userID":"target","nickName":"buy now","faceURL":null,"roleLevel":null,"ex":null}"#,
        );
        assert_eq!(
            (edit.actor.as_ref(), edit.texts.clone()),
            ("", vec![Cow::Borrowed("buy now")])
        );
        assert_eq!(
            act_kind(BEFORE_SET_GROUP_MEMBER_INFO),
            Some(ActKind::EditMember)
        );
    }

    #[test]
    fn a_set_group_info_reply_never_echoes_the_four_fields_openim_would_reset() {
        // A REST rename as OpenIM v3.8 sends it: the four unset fields as "" and 0.
        let rename = concat!(
            r#"{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"op","#,
            r#""groupID":"g1","groupName":"New \u003cname\u003e","notification":"","#,
            r#""introduction":"intro","faceURL":"","ex":"","needVerification":0,"#,
            r#""lookMemberInfo":0,"applyMemberFriend":0}"#,
            "\n"
        );
        let allow = serde_json::to_vec(&crate::http::wire::CallbackResponse::ALLOW).unwrap();
        let reply = with_group_info_echo(BEFORE_SET_GROUP_INFO, allow.clone(), rename.as_bytes());
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            concat!(
                r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"#,
                r#""groupID":"g1","groupName":"New \u003cname\u003e","notification":"","#,
                r#""introduction":"intro","faceURL":""}"#
            )
        );
        // The Ex command: wrappers encode as plain values or null, echoed as they came.
        let ex = concat!(
            r#"{"callbackCommand":"callbackBeforeSetGroupInfoExCommand","operationID":"op","#,
            r#""groupID":"g1","groupName":"Hiking","notification":null,"introduction":null,"#,
            r#""faceURL":null,"ex":null,"needVerification":2,"lookMemberInfo":null,"#,
            r#""applyMemberFriend":null,"unrelated":[1]}"#
        );
        let reply = with_group_info_echo(BEFORE_SET_GROUP_INFO_EX, allow.clone(), ex.as_bytes());
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            concat!(
                r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"#,
                r#""groupID":"g1","groupName":"Hiking","notification":null,"introduction":null,"#,
                r#""faceURL":null,"ex":null,"needVerification":2,"lookMemberInfo":null,"#,
                r#""applyMemberFriend":null}"#
            )
        );
        // Other commands, and bodies that are not objects, keep the reply as it is.
        assert_eq!(
            with_group_info_echo(BEFORE_ADD_FRIEND, allow.clone(), ex.as_bytes()),
            allow
        );
        assert_eq!(
            with_group_info_echo(BEFORE_SET_GROUP_INFO, allow.clone(), b"[1]"),
            allow
        );
    }

    #[test]
    fn invitees_are_counted_not_kept() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("\"user{i}\"")).collect();
        let body = format!(r#"{{"groupID":"g","invitedUserIDs":[{}]}}"#, ids.join(","));
        let invite = parse(ActKind::Invite, &body);
        assert_eq!((invite.group_id.as_ref(), invite.invitees), ("g", 10_000));
        assert_eq!(
            parse(ActKind::Invite, r#"{"invitedUserIDs":"x"}"#).invitees,
            0
        );
    }
}
