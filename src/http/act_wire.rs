//! The bodies of the non-message callbacks floodgate judges (docs/openim.md "Friend requests,
//! groups and profiles"), read into an [`ActRequest`].
//!
//! Read leniently: these callbacks are not messages, and a field floodgate cannot use must not
//! cost a user their friend request. A text may come as a string, as the `{"value": …}` wrapper
//! of the Ex commands, or as anything else (then it is absent); lists are counted or searched
//! as they stream by, never kept, so a 10,000-entry invitee list costs no memory.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::engine::{ActKind, ActRequest};

pub const BEFORE_ADD_FRIEND: &str = "callbackBeforeAddFriendCommand";
pub const BEFORE_CREATE_GROUP: &str = "callbackBeforeCreateGroupCommand";
pub const BEFORE_JOIN_GROUP: &str = "callbackBeforeJoinGroupCommand";
pub const BEFORE_INVITE: &str = "callbackBeforeInviteJoinGroupCommand";
pub const BEFORE_UPDATE_USER: &str = "callbackBeforeUpdateUserInfoCommand";
pub const BEFORE_UPDATE_USER_EX: &str = "callbackBeforeUpdateUserInfoExCommand";
use super::wire::{BEFORE_SET_GROUP_INFO, BEFORE_SET_GROUP_INFO_EX};

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
    #[serde(rename = "reqMsg", borrow)]
    req_msg: Text<'a>,
    #[serde(rename = "ownerUserID", borrow)]
    owner_user_id: Text<'a>,
    #[serde(rename = "creatorUserID", borrow)]
    creator_user_id: Text<'a>,
    #[serde(rename = "initMemberList", borrow)]
    init_member_list: Owner<'a>,
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

/// A parsed act, and the `operationID` for the log.
pub struct ParsedAct<'a> {
    pub request: ActRequest<'a>,
    pub operation_id: Cow<'a, str>,
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
    match kind {
        ActKind::FriendRequest => {
            request.actor = Text::into_text(body.from_user_id);
            request.request_text = Text::into_text(body.req_msg);
        }
        ActKind::CreateGroup => {
            // OpenIM's client SDK fills only the creator; a server-side create names the owner.
            request.actor = [
                body.owner_user_id,
                body.creator_user_id,
                Text(body.init_member_list.0),
            ]
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
    }
    Ok(ParsedAct {
        request,
        operation_id: Text::into_text(body.operation_id),
    })
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

/// A text as OpenIM may send it: a string, or the `{"value": …}` wrapper of the Ex commands.
/// Anything else reads as absent.
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

/// The owner among `initMemberList`'s entries (`roleLevel` 100), found as they stream by: only
/// that one ID is kept.
#[derive(Default)]
struct Owner<'a>(Option<Cow<'a, str>>);

/// One entry of `initMemberList`, leniently: anything but an object is an entry without fields.
#[derive(Default)]
struct Member<'a> {
    user_id: Option<Cow<'a, str>>,
    role_level: Option<i64>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Owner<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OwnerVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for OwnerVisitor<'a> {
            type Value = Owner<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of members")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Owner<'a>, A::Error> {
                let mut owner = None;
                while let Some(member) = seq.next_element::<Member<'a>>()? {
                    if owner.is_none() && member.role_level == Some(OWNER_ROLE_LEVEL) {
                        owner = member.user_id;
                    }
                }
                Ok(Owner(owner))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Owner<'a>, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Owner(None))
            }
            scalars_read_as!(Owner<'a>, Owner(None));
        }
        deserializer.deserialize_any(OwnerVisitor(PhantomData))
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

    #[test]
    fn a_group_is_created_by_its_owner_else_its_creator_else_the_role_100_member() {
        let owner = parse(
            ActKind::CreateGroup,
            r#"{"ownerUserID":"o","creatorUserID":"c","groupName":"g","initMemberList":[]}"#,
        );
        assert_eq!(owner.actor, "o");
        assert_eq!(owner.texts, vec!["g"]);
        let creator = parse(
            ActKind::CreateGroup,
            r#"{"ownerUserID":"","creatorUserID":"c"}"#,
        );
        assert_eq!(creator.actor, "c");
        let member = parse(
            ActKind::CreateGroup,
            r#"{"initMemberList":[{"userID":"m","roleLevel":20},"junk",7,{"userID":"boss","roleLevel":100}]}"#,
        );
        assert_eq!(member.actor, "boss");
    }

    #[test]
    fn wrappers_and_wrong_types_read_leniently() {
        let profile = parse(
            ActKind::EditProfile,
            r#"{"userID":"u","nickName":{"value":"Free money"},"faceURL":{"value":""}}"#,
        );
        assert_eq!(
            (profile.actor.as_ref(), profile.texts.clone()),
            ("u", vec![Cow::Borrowed("Free money")])
        );
        let odd = parse(
            ActKind::JoinGroup,
            "{\"applyID\":42,\"groupID\":[1,2],\"groupType\":\"\\u0002\",\"reqMessage\":null}",
        );
        assert_eq!((odd.actor.as_ref(), odd.group_id.as_ref()), ("", ""));
        assert!(parse_act(ActKind::JoinGroup, b"[1,2]").is_err());
        assert!(parse_act(ActKind::JoinGroup, b"{\"applyID\":").is_err());
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
