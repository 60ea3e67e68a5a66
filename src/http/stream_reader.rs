//! The reader of a callback body over `FLOODGATE_MAX_BODY` (README, "Bodies of any size"): fed
//! the body as it arrives, it keeps the top-level fields floodgate judges, each up to a cap,
//! skips every other value without keeping it, and writes what it kept as a small JSON object
//! that the ordinary parsers (`wire`, `act_wire`) read in place of the body.
//!
//! Padding must not change a verdict, so the small object reads as the body would: a field kept
//! whole has its bytes as sent; one over the cap is cut where its JSON stays valid (a string
//! between characters, a list or object between entries); `ex`, `faceURL` and `senderNickname`
//! (typed in a message, judged nowhere) become an empty value of their JSON type; a field
//! repeated keeps the repetition (serde refuses it either way; a map keeps the last). A body
//! that is not JSON yields what was kept before the fault, unclosed, which every parser
//! refuses as it would the body. Every byte is looked at once, nothing is rescanned, and
//! nesting is capped ([`MAX_DEPTH`]).

use super::commands::{BEFORE_SET_GROUP_INFO, BEFORE_SET_GROUP_INFO_EX};

/// The fields some parser reads (`wire::CallbackRequest`, `act_wire`, the set-group-info
/// echo): a field added there must be added here, or a padded body loses it.
pub const KEPT: [&str; 37] = [
    // Messages.
    "sendID",
    "callbackCommand",
    "serverMsgID",
    "clientMsgID",
    "operationID",
    "senderPlatformID",
    "sessionType",
    "msgFrom",
    "contentType",
    "status",
    "sendTime",
    "createTime",
    "content",
    "seq",
    "atUserList",
    "recvID",
    "groupID",
    // Friend requests, groups and profiles.
    "fromUserID",
    "reqMsg",
    "ownerUserID",
    "creatorUserID",
    "initMemberList",
    "groupName",
    "notification",
    "introduction",
    "applyID",
    "reqMessage",
    "invitedUserIDs",
    "userID",
    "nickName",
    "memberList",
    "users",
    // The set-group-info echo.
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
    // Typed in a message, judged nowhere: kept as an empty value of their type, except in a
    // set-group-info command, whose allow echoes them.
    "ex",
    "faceURL",
];

/// Fields of [`KEPT`] whose value is replaced by an empty one of its JSON type, unless the
/// command is a set-group-info one.
const STUBBED: [&str; 3] = ["ex", "faceURL", "senderNickname"];

/// The deepest nesting read, the body's own object included (serde_json's limit for values it
/// builds; it skips an unknown field of any depth, which a stream could only follow by keeping
/// a stack as long as the body). OpenIM's bodies nest a few levels.
pub const MAX_DEPTH: usize = 128;

/// The longest key worth decoding: every kept name written as `\uXXXX` escapes.
const KEY_CAP: usize = 6 * 20 + 2;

/// Why a body is not JSON (for the log; the reply is the parsers' own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the body is not valid JSON: {0}")]
pub struct Malformed(&'static str);

/// Feeds on a body's bytes in any pieces; see the module's description.
pub struct StreamReader {
    phase: Phase,
    /// Whether the body opened with `{`.
    opened: bool,
    cap: usize,
    /// The command as known so far: the body's `callbackCommand` once read, else the path's.
    command: String,
    /// The current member's key, quotes included, while it is short enough to be one we keep.
    key: Vec<u8>,
    key_str: Str,
    disposition: Disposition,
    value: Value,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    KeyOrClose,
    Key,
    InKey,
    Colon,
    BeforeValue,
    InValue,
    CommaOrClose,
    End,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Keep(&'static str),
    Stub(&'static str),
    Skip,
}

/// A member kept: its key as sent and its value (whole, cut, or an empty stand-in).
struct Entry {
    name: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl StreamReader {
    /// A reader keeping at most `cap` bytes of any one field, for a request whose path (or
    /// legacy query) names `command`.
    pub fn new(cap: usize, command: &str) -> StreamReader {
        StreamReader {
            phase: Phase::Start,
            opened: false,
            cap: cap.max(64),
            command: command.to_string(),
            key: Vec::new(),
            key_str: Str::Plain,
            disposition: Disposition::Skip,
            value: Value::new(None),
            entries: Vec::new(),
        }
    }

    /// Reads the next piece of the body. After an error the reader takes nothing more.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Malformed> {
        if self.phase == Phase::Failed {
            return Err(Malformed("the body was already refused"));
        }
        self.read(bytes).inspect_err(|_| self.phase = Phase::Failed)
    }

    /// What the parsers read: the kept fields as a JSON object, or when the body ended early
    /// or was not JSON, the same without its closing brace (empty when it did not open with
    /// `{`), which they refuse as they would the body.
    pub fn finish(&self) -> Vec<u8> {
        self.written(self.phase == Phase::End)
    }

    /// Bytes held: the kept fields and the value being read.
    pub fn kept_bytes(&self) -> usize {
        let entries: usize = self
            .entries
            .iter()
            .map(|e| e.key.len() + e.value.len())
            .sum();
        entries + self.key.len() + self.value.keep.as_ref().map_or(0, |k| k.buf.len())
    }

    fn written(&self, closed: bool) -> Vec<u8> {
        if !self.opened {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.kept_bytes() + self.entries.len() * 2 + 2);
        out.push(b'{');
        for (n, entry) in self.entries.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&entry.key);
            out.push(b':');
            out.extend_from_slice(&entry.value);
        }
        if closed {
            out.push(b'}');
        }
        out
    }

    fn read(&mut self, bytes: &[u8]) -> Result<(), Malformed> {
        let mut at = 0;
        while at < bytes.len() {
            match self.phase {
                Phase::InValue => {
                    let (used, done) = self.value.feed(&bytes[at..])?;
                    at += used;
                    if done {
                        self.end_member();
                        self.phase = Phase::CommaOrClose;
                    }
                    continue;
                }
                Phase::InKey => {
                    at += self.read_key(&bytes[at..])?;
                    continue;
                }
                _ => {}
            }
            let b = bytes[at];
            if is_space(b) {
                at += 1;
                continue;
            }
            match (self.phase, b) {
                (Phase::Start, b'{') => {
                    self.opened = true;
                    self.phase = Phase::KeyOrClose;
                }
                (Phase::KeyOrClose | Phase::Key, b'"') => {
                    self.key.clear();
                    self.key.push(b);
                    self.key_str = Str::Plain;
                    self.phase = Phase::InKey;
                }
                (Phase::KeyOrClose | Phase::CommaOrClose, b'}') => self.phase = Phase::End,
                (Phase::Colon, b':') => self.phase = Phase::BeforeValue,
                (Phase::BeforeValue, _) => {
                    self.begin_member();
                    self.phase = Phase::InValue;
                    continue; // the value reads its own first byte
                }
                (Phase::CommaOrClose, b',') => self.phase = Phase::Key,
                (Phase::End, _) => return Err(Malformed("trailing characters")),
                _ => return Err(Malformed("unexpected character")),
            }
            at += 1;
        }
        Ok(())
    }

    /// Reads a key's bytes; how many it used.
    fn read_key(&mut self, bytes: &[u8]) -> Result<usize, Malformed> {
        for (n, &b) in bytes.iter().enumerate() {
            let ended = self.key_str.step(b)?.ended;
            // A key longer than any kept name's escaped form is one we skip: hold no more.
            if self.key.len() <= KEY_CAP {
                self.key.push(b);
            }
            if ended {
                self.phase = Phase::Colon;
                return Ok(n + 1);
            }
        }
        Ok(bytes.len())
    }

    fn begin_member(&mut self) {
        self.disposition = self.disposition_of_key();
        let keep = match self.disposition {
            Disposition::Keep(_) => Some(Keep::new(self.cap)),
            Disposition::Stub(_) | Disposition::Skip => None,
        };
        self.value = Value::new(keep);
    }

    fn disposition_of_key(&self) -> Disposition {
        if self.key.len() > KEY_CAP {
            return Disposition::Skip;
        }
        let name = if self.key.contains(&b'\\') {
            match serde_json::from_slice::<String>(&self.key) {
                Ok(name) => std::borrow::Cow::Owned(name),
                Err(_) => return Disposition::Skip,
            }
        } else {
            let raw = &self.key[1..self.key.len() - 1];
            match std::str::from_utf8(raw) {
                Ok(name) => std::borrow::Cow::Borrowed(name),
                Err(_) => return Disposition::Skip,
            }
        };
        let echoed =
            self.command == BEFORE_SET_GROUP_INFO || self.command == BEFORE_SET_GROUP_INFO_EX;
        if let Some(&stubbed) = STUBBED.iter().find(|&&s| s == name)
            && (!echoed || stubbed == "senderNickname")
        {
            return Disposition::Stub(stubbed);
        }
        match KEPT.iter().find(|&&k| k == name) {
            Some(&kept) => Disposition::Keep(kept),
            None => Disposition::Skip,
        }
    }

    fn end_member(&mut self) {
        let (name, value) = match self.disposition {
            Disposition::Skip => return,
            Disposition::Stub(name) => (name, stub_of(self.value.first).to_vec()),
            Disposition::Keep(name) => (name, self.value.take_kept()),
        };
        if name == "callbackCommand"
            && let Ok(command) = serde_json::from_slice::<String>(&value)
        {
            self.command = command;
        }
        let key = std::mem::take(&mut self.key);
        // A repeated field: the first turns `null` (serde refuses the repetition whatever it
        // holds) and one more entry holds the latest (a map keeps the last): at most two per
        // name, however often it is repeated.
        let mut same = self.entries.iter_mut().filter(|e| e.name == name);
        match (same.next(), same.next()) {
            (None, _) => self.entries.push(Entry { name, key, value }),
            (Some(first), None) => {
                first.value = b"null".to_vec();
                self.entries.push(Entry { name, key, value });
            }
            (Some(_), Some(latest)) => latest.value = value,
        }
    }
}

/// An empty value of the JSON type whose first byte is `first`.
fn stub_of(first: u8) -> &'static [u8] {
    match first {
        b'"' => b"\"\"",
        b'{' => b"{}",
        b'[' => b"[]",
        b't' => b"true",
        b'f' => b"false",
        b'n' => b"null",
        _ => b"0",
    }
}

/// JSON's whitespace (not `is_ascii_whitespace`: a form feed is not JSON).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that end a run of plain string bytes: the quote, the backslash, control characters.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// How many bytes at the start of `bytes` are plain string bytes.
fn plain_run(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| SPECIAL[b as usize])
        .unwrap_or(bytes.len())
}

/// Reads a string's bytes without keeping them, from `state`: how many it used, and whether
/// the closing quote was among them.
fn skip_string(state: &mut Str, bytes: &[u8]) -> Result<(usize, bool), Malformed> {
    let mut at = 0;
    while at < bytes.len() {
        if *state == Str::Plain {
            at += plain_run(&bytes[at..]);
            if at == bytes.len() {
                break;
            }
        }
        let ended = state.step(bytes[at])?.ended;
        at += 1;
        if ended {
            return Ok((at, true));
        }
    }
    Ok((at, false))
}

/// Where in a string the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Str {
    Plain,
    Escape,
    Hex { left: u8, code: u16 },
}

/// What one byte of a string did.
struct StrStep {
    /// The closing quote.
    ended: bool,
    /// A character or escape starts here (a place a kept string may be cut).
    starts_token: bool,
    /// A `\u` escape of a high surrogate ended here: its pair must not be cut apart.
    high_surrogate: Option<bool>,
}

impl Str {
    fn step(&mut self, b: u8) -> Result<StrStep, Malformed> {
        let mut step = StrStep {
            ended: false,
            starts_token: false,
            high_surrogate: None,
        };
        match *self {
            Str::Plain => match b {
                b'"' => {
                    step.ended = true;
                    step.starts_token = true;
                }
                b'\\' => {
                    *self = Str::Escape;
                    step.starts_token = true;
                }
                0..=0x1f => return Err(Malformed("a control character in a string")),
                _ => {
                    step.starts_token = b & 0xc0 != 0x80;
                    step.high_surrogate = step.starts_token.then_some(false);
                }
            },
            Str::Escape => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    *self = Str::Plain;
                    step.high_surrogate = Some(false);
                }
                b'u' => *self = Str::Hex { left: 4, code: 0 },
                _ => return Err(Malformed("an invalid escape")),
            },
            Str::Hex { left, code } => {
                let digit = (b as char)
                    .to_digit(16)
                    .ok_or(Malformed("an invalid \\u escape"))?;
                let code = code << 4 | digit as u16;
                if left == 1 {
                    *self = Str::Plain;
                    step.high_surrogate = Some((0xd800..=0xdbff).contains(&code));
                } else {
                    *self = Str::Hex {
                        left: left - 1,
                        code,
                    };
                }
            }
        }
        Ok(step)
    }
}

/// Where in a number the reader is (JSON's grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    /// The next state, `None` when `b` is not part of the number.
    fn step(self, b: u8) -> Option<Num> {
        Some(match (self, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus, b'1'..=b'9') => Num::Int,
            (Num::Int, b'0'..=b'9') => Num::Int,
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Dot | Num::Frac, b'0'..=b'9') => Num::Frac,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::E,
            (Num::E, b'+' | b'-') => Num::ESign,
            (Num::E | Num::ESign | Num::Exp, b'0'..=b'9') => Num::Exp,
            _ => return None,
        })
    }

    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

/// What the value reader expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A value; `or_close` right after `[`.
    Value {
        or_close: bool,
    },
    /// An object's key; `or_close` right after `{`.
    Key {
        or_close: bool,
    },
    Colon,
    /// A value inside a container ended: `,` or the close.
    After,
    Str {
        key: bool,
        state: Str,
    },
    Num(Num),
    Lit {
        word: &'static [u8],
        at: usize,
    },
    Done,
}

/// What is kept of one member's value, and where it may be cut if it grows past the cap.
struct Keep {
    buf: Vec<u8>,
    cap: usize,
    /// A string value: the length at the start of its last character or escape.
    boundary: usize,
    /// A list or object: the length after its last whole entry.
    entry_end: usize,
    /// Inside a string, a `\u` high surrogate waits for its pair: no cut there.
    pending_high: bool,
    over: bool,
}

impl Keep {
    fn new(cap: usize) -> Keep {
        Keep {
            buf: Vec::new(),
            cap,
            boundary: 0,
            entry_end: 0,
            pending_high: false,
            over: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.over {
            return;
        }
        if self.buf.len() + bytes.len() > self.cap {
            self.over = true;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

/// One member's value, read byte by byte; kept when `keep` is set.
struct Value {
    /// The containers open inside this value.
    stack: Vec<u8>,
    token: Token,
    keep: Option<Keep>,
    /// The value's first byte: its JSON type.
    first: u8,
}

impl Value {
    fn new(keep: Option<Keep>) -> Value {
        Value {
            stack: Vec::new(),
            token: Token::Value { or_close: false },
            keep,
            first: 0,
        }
    }

    /// The kept bytes, cut to valid JSON if they outgrew the cap.
    fn take_kept(&mut self) -> Vec<u8> {
        let Some(mut keep) = self.keep.take() else {
            return Vec::new();
        };
        if keep.over {
            match self.first {
                b'"' => {
                    keep.buf.truncate(keep.boundary);
                    keep.buf.push(b'"');
                }
                b'{' | b'[' => {
                    keep.buf.truncate(keep.entry_end);
                    keep.buf.push(if self.first == b'{' { b'}' } else { b']' });
                }
                // A number longer than the cap: one that reads as its type (a float past
                // every integer) without the digits.
                _ => keep.buf = b"1e22".to_vec(),
            }
        }
        keep.buf
    }

    /// Reads from `bytes`: how many it used, and whether the value ended.
    fn feed(&mut self, bytes: &[u8]) -> Result<(usize, bool), Malformed> {
        let mut at = 0;
        while at < bytes.len() {
            if let Token::Str { key, mut state } = self.token {
                if self.keep.as_ref().is_none_or(|k| k.over) {
                    // Nothing more of this value is kept: skip the string at full speed.
                    let (used, ended) = skip_string(&mut state, &bytes[at..])?;
                    at += used;
                    self.token = Token::Str { key, state };
                    if ended {
                        self.string_ended(key);
                    }
                } else if state == Str::Plain
                    && let run = plain_run(&bytes[at..])
                    && run > 0
                {
                    self.keep_run(&bytes[at..at + run], key);
                    at += run;
                } else if self.byte(bytes[at])? {
                    at += 1;
                }
            } else if self.byte(bytes[at])? {
                at += 1;
            }
            if self.token == Token::Done {
                return Ok((at, true));
            }
        }
        Ok((at, false))
    }

    fn string_ended(&mut self, key: bool) {
        if key {
            self.token = Token::Colon;
        } else {
            self.value_ended();
        }
    }

    /// Whether this value is a string at its top (where cuts are between characters).
    fn in_top_string(&self, key: bool) -> bool {
        !key && self.stack.is_empty()
    }

    /// A run of plain string bytes (no quote, backslash or control character).
    fn keep_run(&mut self, run: &[u8], key: bool) {
        let top = self.in_top_string(key);
        let Some(keep) = self.keep.as_mut() else {
            return;
        };
        if keep.over {
            return;
        }
        if !top {
            keep.push(run);
            return;
        }
        let before = keep.buf.len();
        if !keep.pending_high {
            keep.boundary = before;
        }
        keep.pending_high = false;
        let room = keep.cap - before;
        if run.len() <= room {
            keep.buf.extend_from_slice(run);
            return;
        }
        // Cut at the last character start that fits (UTF-8: at most 3 continuation bytes).
        let cut = (room.saturating_sub(3)..=room)
            .rev()
            .find(|&i| run[i] & 0xc0 != 0x80)
            .unwrap_or(0);
        keep.boundary = before + cut;
        keep.over = true;
    }

    /// Reads one byte; `false` when it ended a number and is to be read again.
    fn byte(&mut self, b: u8) -> Result<bool, Malformed> {
        match self.token {
            Token::Value { or_close } => {
                if is_space(b) {
                    return Ok(true);
                }
                if or_close && b == b']' {
                    self.close(b)?;
                } else {
                    self.begin_value(b)?;
                }
            }
            Token::Key { or_close } => match b {
                _ if is_space(b) => {}
                b'}' if or_close => self.close(b)?,
                b'"' => {
                    self.keep_bytes(&[b]);
                    self.token = Token::Str {
                        key: true,
                        state: Str::Plain,
                    };
                }
                _ => return Err(Malformed("expected a key")),
            },
            Token::Colon => match b {
                _ if is_space(b) => {}
                b':' => {
                    self.keep_bytes(&[b]);
                    self.token = Token::Value { or_close: false };
                }
                _ => return Err(Malformed("expected `:`")),
            },
            Token::After => match b {
                _ if is_space(b) => {}
                b',' => {
                    self.keep_bytes(&[b]);
                    self.token = if self.stack.last() == Some(&b'{') {
                        Token::Key { or_close: false }
                    } else {
                        Token::Value { or_close: false }
                    };
                }
                b']' | b'}' => self.close(b)?,
                _ => return Err(Malformed("expected `,` or a close")),
            },
            Token::Str { key, mut state } => {
                let step = state.step(b)?;
                let top = self.in_top_string(key);
                if let Some(keep) = self.keep.as_mut().filter(|k| !k.over && top) {
                    if step.starts_token && !keep.pending_high {
                        keep.boundary = keep.buf.len();
                    }
                    if let Some(high) = step.high_surrogate {
                        keep.pending_high = high;
                    }
                }
                self.keep_bytes(&[b]);
                self.token = Token::Str { key, state };
                if step.ended {
                    self.string_ended(key);
                }
            }
            Token::Num(num) => match num.step(b) {
                Some(next) => {
                    self.keep_bytes(&[b]);
                    self.token = Token::Num(next);
                }
                None if num.complete() => {
                    self.value_ended();
                    return Ok(false);
                }
                None => return Err(Malformed("an invalid number")),
            },
            Token::Lit { word, at } => {
                if word[at] != b {
                    return Err(Malformed("an invalid literal"));
                }
                self.keep_bytes(&[b]);
                if at + 1 == word.len() {
                    self.value_ended();
                } else {
                    self.token = Token::Lit { word, at: at + 1 };
                }
            }
            Token::Done => return Err(Malformed("a value after its end")),
        }
        Ok(true)
    }

    fn begin_value(&mut self, b: u8) -> Result<(), Malformed> {
        let top = self.stack.is_empty();
        if top {
            self.first = b;
        }
        self.token = match b {
            b'"' => Token::Str {
                key: false,
                state: Str::Plain,
            },
            b'{' | b'[' => {
                // The body's own object is one level.
                if self.stack.len() + 2 > MAX_DEPTH {
                    return Err(Malformed("nested too deep"));
                }
                self.stack.push(b);
                if b == b'{' {
                    Token::Key { or_close: true }
                } else {
                    Token::Value { or_close: true }
                }
            }
            b'-' => Token::Num(Num::Minus),
            b'0' => Token::Num(Num::Zero),
            b'1'..=b'9' => Token::Num(Num::Int),
            b't' => Token::Lit {
                word: b"true",
                at: 1,
            },
            b'f' => Token::Lit {
                word: b"false",
                at: 1,
            },
            b'n' => Token::Lit {
                word: b"null",
                at: 1,
            },
            _ => return Err(Malformed("expected a value")),
        };
        self.keep_bytes(&[b]);
        if let Some(keep) = self.keep.as_mut().filter(|_| top) {
            // The string's first character, or the container's first entry, starts here.
            keep.boundary = keep.buf.len();
            keep.entry_end = keep.buf.len();
        }
        Ok(())
    }

    fn close(&mut self, b: u8) -> Result<(), Malformed> {
        let open = if b == b'}' { b'{' } else { b'[' };
        if self.stack.pop() != Some(open) {
            return Err(Malformed("a mismatched close"));
        }
        self.keep_bytes(&[b]);
        self.value_ended();
        Ok(())
    }

    fn value_ended(&mut self) {
        if self.stack.is_empty() {
            self.token = Token::Done;
            return;
        }
        self.token = Token::After;
        if self.stack.len() == 1
            && let Some(keep) = self.keep.as_mut().filter(|k| !k.over)
        {
            keep.entry_end = keep.buf.len();
        }
    }

    fn keep_bytes(&mut self, bytes: &[u8]) {
        if let Some(keep) = self.keep.as_mut() {
            keep.push(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::commands::{BEFORE_SEND_GROUP, BEFORE_SEND_SINGLE};
    use crate::http::wire::CallbackRequest;

    fn read_in(body: &[u8], cap: usize, command: &str, piece: usize) -> (Vec<u8>, bool) {
        let mut reader = StreamReader::new(cap, command);
        let ok = body.chunks(piece.max(1)).all(|c| reader.feed(c).is_ok());
        (reader.finish(), ok)
    }

    fn read(body: &[u8], cap: usize) -> Vec<u8> {
        read_in(body, cap, BEFORE_SEND_SINGLE, body.len()).0
    }

    const MESSAGE: &str = r#"{"sendID":"al\"ice","callbackCommand":"callbackBeforeSendSingleMsgCommand",
        "clientMsgID":"c1","operationID":"op","senderPlatformID":1,"senderNickname":"Al",
        "sessionType":1,"msgFrom":100,"contentType":101,"content":"{\"content\":\"get free money \u00e9\"}",
        "seq":-1.5e3,"atUserList":["b","c"],"faceURL":"http://x","ex":"pad",
        "offlinePushInfo":{"title":"t","desc":[1,2,{"a":null}]},"recvID":"bob","groupID":"",
        "status":true}"#;

    /// Records the field names a derived `Deserialize` struct asks for.
    struct FieldNames(&'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for &mut FieldNames {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only a struct is read"))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(serde::de::Error::custom("recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    #[test]
    fn every_field_a_message_parser_reads_is_kept_or_stood_in_for() {
        let mut names = FieldNames(&[]);
        let _ = <CallbackRequest<'_> as serde::Deserialize>::deserialize(&mut names);
        assert!(names.0.len() >= 20, "{:?}", names.0);
        for name in names.0 {
            assert!(
                KEPT.contains(name) || STUBBED.contains(name),
                "`{name}` is read from a message but a long body would lose it"
            );
        }
    }

    #[test]
    fn a_message_reads_as_its_judged_fields_whatever_the_pieces() {
        let whole = read(MESSAGE.as_bytes(), 4096);
        let text = String::from_utf8(whole.clone()).unwrap();
        assert!(
            !text.contains("offlinePushInfo") && !text.contains("pad"),
            "{text}"
        );
        assert!(
            text.contains(r#""ex":"""#) && text.contains(r#""faceURL":"""#),
            "{text}"
        );
        for piece in [1, 2, 3, 7, 64] {
            assert_eq!(
                read_in(MESSAGE.as_bytes(), 4096, "", piece).0,
                whole,
                "{piece}"
            );
        }
        let original: serde_json::Value = serde_json::from_str(MESSAGE).unwrap();
        let kept: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        for name in ["sendID", "content", "atUserList", "seq", "status", "recvID"] {
            assert_eq!(original[name], kept[name], "{name}");
        }
    }

    #[test]
    fn the_echo_keeps_ex_and_face_url_of_a_set_group_info_command() {
        let body = br#"{"groupID":"g","ex":{"value":"x"},"faceURL":null,"groupName":"n"}"#;
        let kept = read_in(body, 4096, BEFORE_SET_GROUP_INFO_EX, body.len()).0;
        assert_eq!(kept, body.to_vec());
        let late = br#"{"ex":"a","callbackCommand":"callbackBeforeSetGroupInfoCommand","ex":"b"}"#;
        let kept = read_in(late, 4096, BEFORE_SEND_GROUP, late.len()).0;
        assert_eq!(
            kept,
            br#"{"ex":null,"callbackCommand":"callbackBeforeSetGroupInfoCommand","ex":"b"}"#
        );
    }

    #[test]
    fn a_string_over_the_cap_is_cut_between_characters_and_stays_valid() {
        let pieces = [
            r"a",
            r"é",
            r"中",
            r"😀",
            r#"\""#,
            r"\\",
            r"\u00e9",
            r"\ud83d\ude00",
        ];
        let mut body = String::from(r#"{"content":""#);
        for n in 0..400 {
            body.push_str(pieces[n % pieces.len()]);
        }
        body.push_str(r#"","recvID":"bob"}"#);
        let full: serde_json::Value = serde_json::from_str(&body).unwrap();
        let full = full["content"].as_str().unwrap();
        for cap in 64..400 {
            let kept = read(body.as_bytes(), cap);
            let value: serde_json::Value = serde_json::from_slice(&kept)
                .unwrap_or_else(|e| panic!("{cap}: {e}: {}", String::from_utf8_lossy(&kept)));
            let content = value["content"].as_str().unwrap();
            assert!(
                full.starts_with(content) && content.len() > cap / 3,
                "{cap}"
            );
            assert!(kept.len() <= cap + 40, "{cap}");
            assert_eq!(value["recvID"], "bob");
        }
    }

    #[test]
    fn lists_and_objects_over_the_cap_are_cut_between_entries() {
        let ids: Vec<String> = (0..5000).map(|i| format!("\"user{i}\"")).collect();
        let body = format!(
            r#"{{"atUserList":[{}],"groupName":{{"value":"x","other":[{}]}},"contentType":{}}}"#,
            ids.join(" , "),
            ids.join(","),
            "9".repeat(3000)
        );
        let kept = read(body.as_bytes(), 1024);
        let value: serde_json::Value = serde_json::from_slice(&kept).unwrap();
        let list = value["atUserList"].as_array().unwrap();
        assert!(list.len() > 50 && list[0] == "user0", "{}", list.len());
        assert_eq!(value["groupName"], serde_json::json!({"value": "x"}));
        assert!(
            CallbackRequest::parse(&kept).is_err(),
            "a huge number is no i32 either way"
        );
        assert!(CallbackRequest::parse(body.as_bytes()).is_err());
    }

    #[test]
    fn twenty_megabytes_of_skipped_value_keep_nothing_and_any_repetition_two_entries() {
        let mut reader = StreamReader::new(1024, BEFORE_SEND_SINGLE);
        reader
            .feed(br#"{"sendID":"alice","content":"hi","ex":""#)
            .unwrap();
        let junk = r#"\"\\\"\\\\\"\u0041{[{["#.repeat(4096);
        let mut fed = 0;
        while fed < 20 << 20 {
            reader.feed(junk.as_bytes()).unwrap();
            fed += junk.len();
            assert!(reader.kept_bytes() < 64, "{}", reader.kept_bytes());
        }
        reader.feed(br#"","offlinePushInfo":"#).unwrap();
        let deep = "[".repeat(100) + &"]".repeat(100);
        for _ in 0..10_000 {
            reader.feed(deep.as_bytes()).unwrap();
            reader.feed(br#","x":"#).unwrap();
        }
        reader.feed(b"1").unwrap();
        for n in 0..10_000 {
            reader
                .feed(format!(r#","content":"{n}""#).as_bytes())
                .unwrap();
        }
        reader.feed(b"}").unwrap();
        assert_eq!(
            reader.finish(),
            br#"{"sendID":"alice","content":null,"ex":"","content":"9999"}"#
        );
    }

    #[test]
    fn the_reader_refuses_what_serde_refuses_and_caps_nesting() {
        let depth = |n: usize| {
            format!(
                r#"{{"sendID":"a","x":{}1{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let (kept, ok) = read_in(depth(MAX_DEPTH - 1).as_bytes(), 4096, "", 7);
        assert!(ok && CallbackRequest::parse(&kept).is_ok());
        let (kept, ok) = read_in(depth(MAX_DEPTH).as_bytes(), 4096, "", 7);
        assert!(
            !ok && CallbackRequest::parse(&kept).is_err(),
            "deeper is refused"
        );
        let mut bodies: Vec<String> = Vec::new();
        bodies.extend(
            [
                r#"{"sendID":"a"}"#,
                r#"{"sendID":"a",}"#,
                r#"{"sendID":"a"} x"#,
                r#"{"sendID":"a"}  "#,
                r#"{"sendID":"a","ex":"\x"}"#,
                "{\"sendID\":\"a\",\"ex\":\"\u{1}\"}",
                r#"{"sendID":"a","x":01}"#,
                r#"{"sendID":"a","x":1.}"#,
                r#"{"sendID":"a","x":-}"#,
                r#"{"sendID":"a","x":1e+}"#,
                r#"{"sendID":"a","x":[1,]}"#,
                r#"{"sendID":"a","x":[1 2]}"#,
                r#"{"sendID":"a","x":{"a" 1}}"#,
                r#"{"sendID":"a","x":[}"#,
                r#"{"sendID":"a","x":tru}"#,
                r#"{"sendID":"a","x":nul,"y":1}"#,
                r#"{"sendID":"a","x":"\u12G4"}"#,
                r#"{"sendID":"a","sendID":"b"}"#,
                r#"{"send\u0049D":5}"#,
                "{\"sendID\":\"a\"\u{c}}",
                r#"{"sendID":"a""#,
                r#"["sendID"]"#,
                "",
                "   ",
                r#"{}"#,
            ]
            .map(String::from),
        );
        for body in &bodies {
            for piece in [1, 5, body.len()] {
                let (kept, _) = read_in(body.as_bytes(), 4096, BEFORE_SEND_SINGLE, piece);
                assert_eq!(
                    CallbackRequest::parse(&kept).is_ok(),
                    CallbackRequest::parse(body.as_bytes()).is_ok(),
                    "{body:.60} in pieces of {piece}: {}",
                    String::from_utf8_lossy(&kept)
                );
            }
        }
    }
}
