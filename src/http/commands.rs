//! OpenIM's callback command names: the ones floodgate judges and every one it knows, for the
//! `command` metric label. Owned here so that the message wire (`wire`) and the acts' wire
//! (`act_wire`) both read them and neither depends on the other.

pub const BEFORE_SEND_SINGLE: &str = "callbackBeforeSendSingleMsgCommand";
pub const BEFORE_SEND_GROUP: &str = "callbackBeforeSendGroupMsgCommand";
pub const BEFORE_ADD_FRIEND: &str = "callbackBeforeAddFriendCommand";
pub const BEFORE_CREATE_GROUP: &str = "callbackBeforeCreateGroupCommand";
pub const BEFORE_JOIN_GROUP: &str = "callbackBeforeJoinGroupCommand";
pub const BEFORE_INVITE: &str = "callbackBeforeInviteJoinGroupCommand";
pub const BEFORE_SET_GROUP_INFO: &str = "callbackBeforeSetGroupInfoCommand";
pub const BEFORE_SET_GROUP_INFO_EX: &str = "callbackBeforeSetGroupInfoExCommand";
pub const BEFORE_UPDATE_USER: &str = "callbackBeforeUpdateUserInfoCommand";
pub const BEFORE_UPDATE_USER_EX: &str = "callbackBeforeUpdateUserInfoExCommand";
pub const BEFORE_SET_GROUP_MEMBER_INFO: &str = "callbackBeforeSetGroupMemberInfoCommand";

/// Every command floodgate judges (the rest it passes on): their metric series exist from
/// start-up.
pub const JUDGED_COMMANDS: [&str; 11] = [
    BEFORE_SEND_SINGLE,
    BEFORE_SEND_GROUP,
    BEFORE_ADD_FRIEND,
    BEFORE_CREATE_GROUP,
    BEFORE_JOIN_GROUP,
    BEFORE_INVITE,
    BEFORE_SET_GROUP_INFO,
    BEFORE_SET_GROUP_INFO_EX,
    BEFORE_UPDATE_USER,
    BEFORE_UPDATE_USER_EX,
    BEFORE_SET_GROUP_MEMBER_INFO,
];

/// Every callback command of OpenIM v3.8.3 and main (docs/openim.md): the `command` label values.
pub const COMMANDS: [&str; 53] = [
    "callbackBeforeInviteJoinGroupCommand",
    "callbackAfterJoinGroupCommand",
    "callbackAfterSetGroupInfoCommand",
    "callbackAfterSetGroupInfoExCommand",
    "callbackBeforeSetGroupInfoCommand",
    "callbackBeforeSetGroupInfoExCommand",
    "callbackBeforeAfterMsgCommand",
    "callbackBeforeAddBlackCommand",
    "callbackAfterAddFriendCommand",
    "callbackBeforeAddFriendAgreeCommand",
    "callbackAfterAddFriendAgreeCommand",
    "callbackAfterDeleteFriendCommand",
    "callbackBeforeImportFriendsCommand",
    "callbackAfterImportFriendsCommand",
    "callbackAfterRemoveBlackCommand",
    "callbackAfterQuitGroupCommand",
    "callbackAfterKickGroupCommand",
    "callbackAfterDisMissGroupCommand",
    "callbackBeforeJoinGroupCommand",
    "callbackAfterGroupMsgReadCommand",
    "callbackBeforeMsgModifyCommand",
    "callbackAfterUpdateUserInfoCommand",
    "callbackAfterUpdateUserInfoExCommand",
    "callbackBeforeUpdateUserInfoExCommand",
    "callbackBeforeUserRegisterCommand",
    "callbackAfterUserRegisterCommand",
    "callbackAfterTransferGroupOwnerCommand",
    "callbackBeforeSetFriendRemarkCommand",
    "callbackAfterSetFriendRemarkCommand",
    "callbackAfterSingleMsgReadCommand",
    BEFORE_SEND_SINGLE,
    "callbackAfterSendSingleMsgCommand",
    BEFORE_SEND_GROUP,
    "callbackAfterSendGroupMsgCommand",
    "callbackAfterUserOnlineCommand",
    "callbackAfterUserOfflineCommand",
    "callbackAfterUserKickOffCommand",
    "callbackBeforeOfflinePushCommand",
    "callbackBeforeOnlinePushCommand",
    "callbackBeforeGroupOnlinePushCommand",
    "callbackBeforeAddFriendCommand",
    "callbackBeforeUpdateUserInfoCommand",
    "callbackBeforeCreateGroupCommand",
    "callbackAfterCreateGroupCommand",
    "callbackBeforeMembersJoinGroupCommand",
    "callbackBeforeSetGroupMemberInfoCommand",
    "callbackAfterSetGroupMemberInfoCommand",
    "callbackBeforeCreateSingleChatConversationsCommand",
    "callbackAfterCreateSingleChatConversationsCommand",
    "callbackBeforeCreateGroupChatConversationsCommand",
    "callbackAfterCreateGroupChatConversationsCommand",
    "callbackAfterMsgSaveDBCommand",
    "other",
];

/// The `command` label of a command name: itself if OpenIM has it, else `other`.
pub fn command_label(command: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|&&known| known == command)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_labels_are_a_closed_set() {
        assert_eq!(command_label(BEFORE_SEND_SINGLE), BEFORE_SEND_SINGLE);
        assert_eq!(
            command_label("callbackAfterUserOnlineCommand"),
            "callbackAfterUserOnlineCommand"
        );
        assert_eq!(command_label("user-chosen-text"), "other");
    }

    #[test]
    fn every_judged_command_has_its_own_label() {
        for command in JUDGED_COMMANDS {
            assert_eq!(command_label(command), command);
        }
    }
}
