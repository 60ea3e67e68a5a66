//! The load benchmark's client: OpenIM-like callbacks over keep-alive HTTP/1.1 connections, one
//! request at a time per connection (as OpenIM's gateway sends them). 10,000 distinct senders,
//! mixed content (ASCII, Chinese, look-alike spam, short replies), and a few flooding senders.
//!
//! With `LOADGEN_MIX=viral`, every request carries one text (a link, long enough for
//! near-duplicate keys) from the 10,000 senders: the campaign rule's worst case.
//!
//! With `LOADGEN_MIX=links`, 2,000 people write one-to-one to a few friends each, and every
//! other message is the answer to the one before (so most conversations are established, as
//! ordinary traffic is); three texts in four carry a link: to forty domains with varied paths
//! and queries (tracking parameters, item and video ids), a few through shorteners, in English
//! and Chinese, between words drawn at random. The link and domain keys, recipients and
//! vouchers that ordinary traffic makes, where the default mix has few links.
//!
//! `loadgen URL SECONDS CONNECTIONS [RATE]`: without RATE, as fast as answers come (peak); with
//! RATE requests/s in total, paced on an absolute schedule with latency counted from each
//! request's scheduled time (so a stall is not hidden). Prints one JSON line.
//!
//! Pacing: a thread of its own hands out send times every ~100 µs, to the connections in turn. Sleeping on tokio's timer instead (1 ms ticks) sends the requests
//! of a whole millisecond at once: the tail then measures how fast a burst drains, which grows
//! with each request's CPU cost rather than with anything a steady stream would see.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const SENDERS: u64 = 10_000;
const FLOODERS: u64 = 20;

const TEXTS: [&str; 6] = [
    "ok",
    "好的，明天下午三点在老地方见面，别迟到",
    "Are we still on for dinner tonight? I booked the table for seven.",
    "Bυy chеap fоllowers now, vіsit our shop todаy! Limited offer!!!",
    "加我微信领红包 限时优惠 vx123456 点击链接立即参与",
    "thanks!",
];

/// The viral mix's one text.
const VIRAL: &str =
    "Check out the new shop at example.com/deals, amazing offers for everyone this week!";

/// A small deterministic generator (xorshift), so every run sends the same mix.
struct Mix {
    state: u64,
    viral: bool,
    /// `LOADGEN_MIX=acts`: friend requests, group creations, applications, invitations and
    /// profile edits from the same senders, instead of messages.
    acts: bool,
    /// `LOADGEN_MIX=limitador`: Limitador's `check_and_report` for the same senders (one
    /// counter per sender), to compare with a rate limiter that is not floodgate.
    limitador: bool,
    /// `LOADGEN_MIX=links`: texts with links, one-to-one to a few friends each.
    links: bool,
    /// The links mix's last message (sender, recipient): the next may answer it.
    last: Option<(u64, u64)>,
}

impl Mix {
    fn new(seed: u64) -> Mix {
        Mix {
            state: seed,
            viral: std::env::var("LOADGEN_MIX").is_ok_and(|mix| mix == "viral"),
            acts: std::env::var("LOADGEN_MIX").is_ok_and(|mix| mix == "acts"),
            limitador: std::env::var("LOADGEN_MIX").is_ok_and(|mix| mix == "limitador"),
            links: std::env::var("LOADGEN_MIX").is_ok_and(|mix| mix == "links"),
            last: None,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn body(&mut self, n: u64) -> String {
        let roll = self.next();
        if self.links {
            return self.link_body(roll, n);
        }
        // One request in twenty comes from a flooder; the rest from 10,000 ordinary senders.
        let sender = if roll.is_multiple_of(20) && !self.viral {
            format!("flooder{}", roll % FLOODERS)
        } else {
            format!("user{}", roll % SENDERS)
        };
        let text = TEXTS[(roll >> 8) as usize % TEXTS.len()];
        if self.acts {
            return act_body(roll, &sender, text, n);
        }
        if self.limitador {
            return format!(
                "{{\"namespace\":\"openim\",\"values\":{{\"user_id\":\"{sender}\"}},\"delta\":1}}"
            );
        }
        let text = if self.viral {
            VIRAL.to_string()
        } else if roll.is_multiple_of(3) {
            format!("{text} #{n}")
        } else {
            text.to_string()
        };
        let recipient = (roll >> 16) % SENDERS;
        message_body(&sender, &format!("user{recipient}"), &text, n)
    }

    /// One message of the links mix: every other one answers the message before it.
    fn link_body(&mut self, roll: u64, n: u64) -> String {
        let (sender, recipient) = match self.last {
            Some((sender, recipient)) if roll.is_multiple_of(2) => (recipient, sender),
            _ => {
                let sender = (roll >> 1) % LINK_USERS;
                // A friend: the pairs recur, and each goes both ways.
                let offset = FRIEND_OFFSETS[(roll >> 16) as usize % FRIEND_OFFSETS.len()];
                (sender, (sender + offset) % LINK_USERS)
            }
        };
        self.last = Some((sender, recipient));
        let chat = TEXTS[(roll >> 8) as usize % TEXTS.len()];
        let text = link_text(self, chat);
        message_body(
            &format!("user{sender}"),
            &format!("user{recipient}"),
            &text,
            n,
        )
    }
}

/// A one-to-one message callback.
fn message_body(sender: &str, recipient: &str, text: &str, n: u64) -> String {
    let content = serde_json::json!({ "content": text }).to_string();
    let content = serde_json::to_string(&content).unwrap_or_default();
    // OpenIM's field order (Go's encoder writes a struct's fields in order), not a map's
    // sorted keys: floodgate reads the command from the leading fields.
    format!(
        "{{\"sendID\":\"{sender}\",\"callbackCommand\":\"callbackBeforeSendSingleMsgCommand\",\
             \"serverMsgID\":\"s{n}\",\"clientMsgID\":\"c{n}\",\"operationID\":\"op{n}\",\
             \"senderPlatformID\":1,\"senderNickname\":\"nick\",\"sessionType\":1,\"msgFrom\":100,\
             \"contentType\":101,\"status\":1,\"sendTime\":0,\"createTime\":0,\"content\":{content},\
             \"seq\":0,\"atUserList\":null,\"faceURL\":\"\",\"ex\":\"\",\"recvID\":\"{recipient}\"}}\n"
    )
}

/// The people of the links mix.
const LINK_USERS: u64 = 2_000;

/// The links mix's friends of user `u`: `u + offset` for each of these (mod LINK_USERS); each
/// offset's negation is there too, so friendship goes both ways.
const FRIEND_OFFSETS: [u64; 6] = [1, 7, 31, LINK_USERS - 1, LINK_USERS - 7, LINK_USERS - 31];

/// Hosts of the links mix and the shape of their paths: `v` video id, `i` item page, `w`
/// wiki title, `r` repository, `a` dated article, `p` post id, `s` shortener code.
#[rustfmt::skip]
const HOSTS: [(&str, u8); 40] = [
    ("www.youtube.com", b'v'), ("youtu.be", b's'), ("www.bilibili.com", b'v'),
    ("v.douyin.com", b's'), ("www.tiktok.com", b'p'), ("item.taobao.com", b'i'),
    ("item.jd.com", b'i'), ("detail.tmall.com", b'i'), ("www.amazon.com", b'i'),
    ("www.ebay.com", b'i'), ("en.wikipedia.org", b'w'), ("zh.wikipedia.org", b'w'),
    ("baike.baidu.com", b'w'), ("github.com", b'r'), ("gitlab.com", b'r'),
    ("stackoverflow.com", b'p'), ("news.ycombinator.com", b'p'), ("www.reddit.com", b'p'),
    ("www.zhihu.com", b'p'), ("weibo.com", b'p'), ("mp.weixin.qq.com", b'p'),
    ("x.com", b'p'), ("www.instagram.com", b'p'), ("www.facebook.com", b'p'),
    ("www.linkedin.com", b'p'), ("medium.com", b'a'), ("www.nytimes.com", b'a'),
    ("www.bbc.co.uk", b'a'), ("www.theguardian.com", b'a'), ("www.sina.com.cn", b'a'),
    ("docs.google.com", b'p'), ("drive.google.com", b'p'), ("open.spotify.com", b'p'),
    ("www.imdb.com", b'p'), ("www.booking.com", b'i'), ("www.airbnb.com", b'i'),
    ("bit.ly", b's'), ("t.co", b's'), ("tinyurl.com", b's'), ("b23.tv", b's'),
];

const WORDS: [&str; 16] = [
    "rust", "tokio", "summer", "recipe", "travel", "budget", "review", "guide", "camera", "garden",
    "history", "python", "concert", "market", "coffee", "design",
];

/// What comes before and after a link: short, as people write around a link they share.
#[rustfmt::skip]
const BEFORE: [&str; 10] = [
    "", "check this out ", "看看这个 ", "lol ", "这个 ", "here ", "the one I meant: ", "found it ",
    "刚看到 ", "you'll like this ",
];
#[rustfmt::skip]
const AFTER: [&str; 10] = [
    "", " 😂", " 挺有意思的", " what do you think?", " 你看一下", " for saturday", " 分享给你",
    " haha", " 价格还可以", " (long but worth it)",
];

/// An id of `len` letters and digits drawn from `mix`.
fn id(mix: &mut Mix, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut bits = mix.next();
    (0..len)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char;
            bits /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// One text of the links mix: three in four carry a link (an ordinary chat text otherwise).
fn link_text(mix: &mut Mix, chat: &str) -> String {
    let roll = mix.next();
    if roll.is_multiple_of(4) {
        return chat.to_string();
    }
    let (host, shape) = HOSTS[(roll >> 8) as usize % HOSTS.len()];
    let word = |k: u64| WORDS[((roll >> k) % WORDS.len() as u64) as usize];
    let path = match shape {
        b'v' => format!("/watch?v={}", id(mix, 11)),
        b'i' => format!("/item/{}.html", mix.next() % 10_000_000_000),
        b'w' => format!("/wiki/{}_{}", word(16), word(20)),
        b'r' => format!("/{}/{}-{}", word(16), word(20), word(24)),
        b'a' => format!(
            "/2026/{:02}/{:02}/{}-{}-{}",
            1 + (roll >> 28) % 12,
            1 + (roll >> 32) % 28,
            word(16),
            word(20),
            word(24)
        ),
        b's' => format!("/{}", id(mix, 7)),
        _ => format!("/p/{}", id(mix, 10)),
    };
    let query = match (roll >> 40) % 6 {
        0 => format!("?utm_source=share&utm_medium=app&utm_campaign={}", word(44)),
        1 if shape != b'v' => format!(
            "?spm=a2141.{}&id={}",
            mix.next() % 100_000,
            mix.next() % 1_000_000
        ),
        2 if shape == b'v' => format!("&t={}s", (roll >> 48) % 600),
        _ => String::new(),
    };
    let scheme = if (roll >> 56).is_multiple_of(5) {
        ""
    } else {
        "https://"
    };
    let words = mix.next();
    let before = BEFORE[(words % BEFORE.len() as u64) as usize];
    let after = AFTER[((words >> 8) % AFTER.len() as u64) as usize];
    // One in four says a little more, in words of its own.
    let more = if (words >> 16).is_multiple_of(4) {
        let word = |k: u64| WORDS[((words >> k) % WORDS.len() as u64) as usize];
        format!(" {} {} {}", word(20), word(24), word(28))
    } else {
        String::new()
    };
    format!("{before}{scheme}{host}{path}{query}{after}{more}")
}

/// One non-message callback of the `acts` mix, chosen by `roll`: mostly friend requests (the
/// vector spam uses most), then applications, invitations, creations and profile edits.
fn act_body(roll: u64, sender: &str, text: &str, n: u64) -> String {
    let text = serde_json::to_string(text).unwrap_or_default();
    let other = (roll >> 16) % SENDERS;
    let group = (roll >> 24) % 1000;
    match (roll >> 32) % 10 {
        0..=4 => format!(
            "{{\"callbackCommand\":\"callbackBeforeAddFriendCommand\",\"fromUserID\":\"{sender}\",\
             \"toUserID\":\"user{other}\",\"reqMsg\":{text},\"ex\":\"\"}}\n"
        ),
        5 | 6 => format!(
            "{{\"callbackCommand\":\"callbackBeforeJoinGroupCommand\",\"groupID\":\"g{group}\",\
             \"groupType\":\"\\u0002\",\"applyID\":\"{sender}\",\"reqMessage\":{text},\"ex\":\"\"}}\n"
        ),
        7 => format!(
            "{{\"operationID\":\"op{n}\",\"callbackCommand\":\"callbackBeforeInviteJoinGroupCommand\",\
             \"groupID\":\"g{group}\",\"reason\":\"\",\"invitedUserIDs\":[\"user{other}\",\"user{}\"]}}\n",
            other + 1
        ),
        8 => format!(
            "{{\"operationID\":\"op{n}\",\"callbackCommand\":\"callbackBeforeCreateGroupCommand\",\
             \"groupID\":\"\",\"groupName\":{text},\"ownerUserID\":\"\",\"creatorUserID\":\"{sender}\",\
             \"initMemberList\":[{{\"userID\":\"{sender}\",\"roleLevel\":100}}]}}\n"
        ),
        _ => format!(
            "{{\"callbackCommand\":\"callbackBeforeUpdateUserInfoCommand\",\"userID\":\"{sender}\",\
             \"nickName\":\"nick{n}\",\"faceURL\":\"\",\"ex\":\"\"}}\n"
        ),
    }
}

#[derive(Default)]
struct Tally {
    latencies: Option<hdrhistogram::Histogram<u64>>,
    ok: u64,
    rejected: u64,
    errors: u64,
}

/// Hands out one send time per 1/rate s until `until`, to each connection in turn, waking
/// about every 100 µs.
fn pace(rate: f64, until: Instant, connections: Vec<UnboundedSender<Instant>>) {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    let mut turn = 0;
    while next < until {
        let now = Instant::now();
        while next <= now && next < until {
            let _ = connections[turn % connections.len()].send(next);
            turn += 1;
            next += interval;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

async fn connection(
    authority: String,
    path: String,
    until: Instant,
    mut schedule: Option<UnboundedReceiver<Instant>>,
    seed: u64,
) -> Tally {
    let mut tally = Tally {
        latencies: Some(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()),
        ..Tally::default()
    };
    let Ok(stream) = tokio::net::TcpStream::connect(&authority).await else {
        tally.errors += 1;
        return tally;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, driver)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        tally.errors += 1;
        return tally;
    };
    tokio::spawn(driver);
    let mut mix = Mix::new(seed | 1);
    let mut n = seed << 32;
    while Instant::now() < until {
        // Paced: latency counts from the request's scheduled time, so a stall is not hidden
        // (as in wrk2): a late answer delays the next send, and that delay is counted too.
        let scheduled = match &mut schedule {
            Some(schedule) => match schedule.recv().await {
                Some(at) => at,
                None => break,
            },
            None => Instant::now(),
        };
        n += 1;
        let request = Request::post(path.as_str())
            .header("host", authority.as_str())
            .header("content-type", "application/json; charset=utf-8")
            .body(Full::new(Bytes::from(mix.body(n))))
            .expect("request");
        match sender.send_request(request).await {
            Ok(response) => {
                // Limitador answers a limited request with 429, floodgate with nextCode 1.
                let limited = response.status() == 429;
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let micros = scheduled.elapsed().as_micros() as u64;
                let _ = tally.latencies.as_mut().unwrap().record(micros.max(1));
                if limited || body.windows(12).any(|w| w == b"\"nextCode\":1") {
                    tally.rejected += 1;
                } else {
                    tally.ok += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                break;
            }
        }
    }
    tally
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: loadgen URL SECONDS CONNECTIONS [RATE]";
    let url = args.get(1).expect(usage);
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let connections: u64 = args.get(3).and_then(|s| s.parse().ok()).expect(usage);
    let rate: Option<f64> = args.get(4).and_then(|s| s.parse().ok());
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a.to_string(), format!("/{p}")))
        .unwrap_or((rest.to_string(), "/".into()));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut schedules: Vec<Option<UnboundedReceiver<Instant>>> =
        (0..connections).map(|_| None).collect();
    if let Some(rate) = rate {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..connections).map(|_| unbounded_channel()).unzip();
        schedules = receivers.into_iter().map(Some).collect();
        std::thread::spawn(move || pace(rate, until, senders));
    }
    let workers: Vec<_> = (0..connections)
        .zip(schedules)
        .map(|(i, schedule)| {
            tokio::spawn(connection(
                authority.clone(),
                path.clone(),
                until,
                schedule,
                0x9E37_79B9 + i * 7919,
            ))
        })
        .collect();
    let mut total = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut ok, mut rejected, mut errors) = (0, 0, 0);
    for worker in workers {
        let tally = worker.await.expect("worker");
        total.add(tally.latencies.unwrap()).unwrap();
        ok += tally.ok;
        rejected += tally.rejected;
        errors += tally.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = ok + rejected;
    println!(
        "{}",
        serde_json::json!({
            "requests": requests, "rps": requests as f64 / elapsed, "allowed": ok, "rejected": rejected, "errors": errors,
            "p50_us": total.value_at_quantile(0.5), "p99_us": total.value_at_quantile(0.99), "p999_us": total.value_at_quantile(0.999),
        })
    );
}
