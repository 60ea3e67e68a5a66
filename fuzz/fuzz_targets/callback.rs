//! Everything untrusted a callback carries: the body, then the content of every content type,
//! then its normalisation and fingerprint, and the body read as each non-message callback.
//! Nothing here may panic.
#![no_main]

use floodgate::engine::content::judged_text;
use floodgate::engine::fingerprint::{fingerprint, normalise};
use floodgate::engine::folded::Folded;
use floodgate::engine::ActKind;
use floodgate::http::act_wire::parse_act;
use floodgate::http::wire::CallbackRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = CallbackRequest::parse(data) {
        let _ = request.mentions();
        if let Some(content) = request.content.as_deref() {
            for content_type in [101, 102, 103, 104, 105, 106, 108, 109, 110, 114, 117, 118, 1] {
                if let Some(text) = judged_text(content_type, content) {
                    let normal = normalise(&text);
                    assert_eq!(normalise(&normal), normal);
                    let _ = fingerprint(&Folded::of(&text), 10);
                }
            }
        }
    }
    for kind in [ActKind::FriendRequest, ActKind::CreateGroup, ActKind::Invite, ActKind::EditProfile] {
        let _ = parse_act(kind, data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let normal = normalise(text);
        assert_eq!(normalise(&normal), normal);
    }
});
