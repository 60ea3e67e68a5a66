//! The spam: families of runs that adapt, each family at several strengths, each run by fresh
//! cold accounts writing to strangers. What a run varies is drawn per copy (numbers, fillers,
//! tracking keys, rotated paths, look-alikes, where each piece goes); what it keeps constant is
//! named in `keeps`, so the report can tell a miss the design allows from one it does not.
//!
//! Every run draws its own pitch, domain and wording from pools, so no two runs are the same
//! text and nothing here is a fixed list a detector could learn.

use crate::rng::{Rng, place};
use crate::{DAY, DAYS, Event, HOUR, Origin, USERS, user};

/// Fresh accounts per run: the campaign goal counts from the 10th.
pub(crate) const BOTS_PER_RUN: usize = 25;
pub(crate) const COPIES_PER_BOT: usize = 3;

pub(crate) const BODY: &str = "a near-duplicate body";
const LINK: &str = "a payload: the link's target";
const DOMAIN: &str = "an unvetted domain";
const SHORT_PATH: &str = "a payload: the short link";
const BODY_LINK: &str = "a near-duplicate body and the link's target";
const BODY_DOMAIN: &str = "a near-duplicate body and an unvetted domain";
pub(crate) const NOTHING: &str = "nothing";

/// The text of a run's `n`th copy.
pub(crate) type CopyText = Box<dyn Fn(&mut Rng, usize) -> String>;

/// A spam run: its family, how strongly it varies, what it keeps, and its copies' text.
pub(crate) struct SpamRun {
    pub(crate) family: &'static str,
    pub(crate) strength: String,
    pub(crate) keeps: &'static str,
    pub(crate) text: CopyText,
}

const EN_OPENERS: &[&str] = &[
    "Congratulations!",
    "Dear customer,",
    "Attention:",
    "Good news!",
    "Notice:",
    "Important:",
];
const EN_OFFERS: &[&str] = &[
    "your account has been selected for a free iPhone in our anniversary draw",
    "your parcel could not be delivered because the address is incomplete",
    "we are hiring part-time online reviewers who earn 300 to 800 dollars a day from home",
    "your bank card has been temporarily frozen after a suspicious login",
    "our crypto signals group made 40 percent profit last week for every member",
    "you have an unclaimed tax refund waiting in your name",
    "your mobile plan qualifies for a double data upgrade at no cost",
];
const EN_ACTIONS: &[&str] = &[
    "reply YES to claim it before midnight",
    "update your details today to avoid losing it",
    "contact our agent now, places are limited",
    "confirm your identity within 24 hours",
    "join now before the offer closes",
    "send us your full name and address to continue",
];
const ZH_OPENERS: &[&str] = &[
    "恭喜您！",
    "尊敬的用户：",
    "【重要通知】",
    "好消息！",
    "温馨提示：",
];
const ZH_OFFERS: &[&str] = &[
    "您已被抽中为本月幸运用户，获得价值五千元的大礼包一份",
    "您的快递因地址不详无法派送，已退回当地网点",
    "现招聘兼职刷单员，在家用手机即可操作，日结工资三百到八百元",
    "您的银行账户存在异常登录，已被临时冻结",
    "内部炒股群免费进，老师每天推荐牛股，上周群友平均收益百分之四十",
    "您有一笔个人所得税退税尚未领取",
];
const ZH_ACTIONS: &[&str] = &[
    "请尽快回复领取，逾期作废",
    "请立即核实身份信息以免影响正常使用",
    "名额有限，先到先得",
    "添加客服办理，二十四小时内有效",
    "请补充收货信息并支付少量运费",
];

const EN_FILLERS: &[&str] = &[
    "Hi",
    "Hello dear",
    "Good morning",
    "Hey friend",
    "Long time no see",
    "Sorry to bother you",
    "Tested and it works",
    "Don't miss it",
    "Trust me",
    "100% real",
    "Have a nice day",
    "God bless",
    "this is not a joke",
    "only today",
];
const ZH_FILLERS: &[&str] = &[
    "您好",
    "你好呀",
    "好久不见",
    "打扰一下",
    "亲测有效",
    "不要错过",
    "早上好",
    "在吗",
    "真实可靠",
    "祝您生活愉快",
    "机会难得",
    "朋友推荐的",
];
const EN_LEADS: &[&str] = &[
    "look",
    "check this",
    "for you:",
    "hurry",
    "limited!",
    "you won't believe this",
    "open now",
    "see here",
    "claim:",
    "last chance",
    "your gift",
    "details",
];
const ZH_LEADS: &[&str] = &[
    "点开看看",
    "快看",
    "你的包裹",
    "领取",
    "速看",
    "限时",
    "福利",
    "看这里",
    "打开链接",
    "中奖了",
    "详情",
];
/// Query keys that identify the click, not the target.
const TRACKING: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_eid",
    "igshid",
    "yclid",
    "spm",
    "ref",
    "ref_src",
    "src",
    "from",
    "share_source",
    "share_medium",
    "si",
];
const SCHEMES: &[&str] = &[
    "",
    "http://",
    "https://",
    "www.",
    "https://www.",
    "http://www.",
];
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "is.gd",
    "t.cn",
    "cutt.ly",
    "rb.gy",
    "t.ly",
    "s.id",
];
const DOMAIN_WORDS: &[&str] = &[
    "promo", "deal", "gift", "vip", "bonus", "lucky", "prize", "fast", "cash", "win", "shop",
    "best", "cheap", "free", "secure", "verify", "parcel", "refund",
];
const TLDS: &[&str] = &[
    "shop", "top", "xyz", "cn", "com", "vip", "club", "online", "net",
];
const HOMOGLYPHS: &[(char, char)] = &[
    ('a', 'а'),
    ('e', 'е'),
    ('o', 'о'),
    ('i', 'і'),
    ('c', 'с'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('A', 'Α'),
    ('B', 'Β'),
    ('E', 'Ε'),
    ('O', 'Ο'),
];
/// Simplified characters of the Chinese pitches and their traditional forms.
const TRADITIONAL: &[(char, char)] = &[
    ('获', '獲'),
    ('价', '價'),
    ('礼', '禮'),
    ('们', '們'),
    ('递', '遞'),
    ('无', '無'),
    ('发', '發'),
    ('现', '現'),
    ('单', '單'),
    ('员', '員'),
    ('机', '機'),
    ('资', '資'),
    ('银', '銀'),
    ('账', '賬'),
    ('户', '戶'),
    ('异', '異'),
    ('录', '錄'),
    ('临', '臨'),
    ('结', '結'),
    ('内', '內'),
    ('进', '進'),
    ('师', '師'),
    ('荐', '薦'),
    ('领', '領'),
    ('请', '請'),
    ('尽', '盡'),
    ('时', '時'),
    ('费', '費'),
    ('货', '貨'),
    ('办', '辦'),
    ('税', '稅'),
    ('认', '認'),
    ('证', '證'),
    ('优', '優'),
];
const EMOJI: &[&str] = &["🎁", "🔥", "💰", "✅", "🎉", "⭐"];

/// Targets on sites people share with their contacts (the legitimate traffic shares other pages
/// of them): a scam video, a phishing form, a fake listing. `{id}` is the run's own.
const VETTED_TARGETS: &[&str] = &[
    "youtube.com/watch?v={id}",
    "docs.google.com/forms/d/e/{id}/viewform",
    "item.taobao.com/item.htm?id={digits}",
    "amazon.com/dp/{asin}",
    "facebook.com/marketplace/item/{digits}",
];

#[derive(Clone, Copy)]
enum Script {
    En,
    Zh,
}

fn pitch(rng: &mut Rng, script: Script) -> String {
    match script {
        Script::En => format!(
            "{} {} {}",
            rng.pick(EN_OPENERS),
            rng.pick(EN_OFFERS),
            rng.pick(EN_ACTIONS)
        ),
        Script::Zh => format!(
            "{}{}，{}",
            rng.pick(ZH_OPENERS),
            rng.pick(ZH_OFFERS),
            rng.pick(ZH_ACTIONS)
        ),
    }
}

fn script_name(script: Script) -> &'static str {
    match script {
        Script::En => "English",
        Script::Zh => "Chinese",
    }
}

fn fillers(script: Script) -> &'static [&'static str] {
    match script {
        Script::En => EN_FILLERS,
        Script::Zh => ZH_FILLERS,
    }
}

fn lead(rng: &mut Rng, script: Script) -> &'static str {
    match script {
        Script::En => rng.pick::<&str>(EN_LEADS),
        Script::Zh => rng.pick::<&str>(ZH_LEADS),
    }
}

/// How many numbers a copy carries and how long they are.
#[derive(Clone, Copy)]
enum Numbers {
    Digits(usize),
    /// Two or three amounts, codes and times.
    Mixed,
}

fn number(rng: &mut Rng, script: Script, len: usize) -> String {
    let digits = rng.digits(len);
    if rng.chance(0.3) {
        return digits;
    }
    let label = match script {
        Script::En => *rng.pick(&["Ref", "Order", "code", "No.", "#", "ID", "case"]),
        Script::Zh => *rng.pick(&["编号", "单号", "验证码", "订单号", "尾号"]),
    };
    let gap = if label == "#" || rng.chance(0.4) {
        ""
    } else {
        " "
    };
    format!("{label}{gap}{digits}")
}

fn mixed_number(rng: &mut Rng, script: Script) -> String {
    let amount = rng.between(10, 99_999);
    match (rng.below(4), script) {
        (0, Script::En) => format!("${amount}.{:02}", rng.below(100)),
        (0, Script::Zh) => format!("{amount}元"),
        (1, Script::En) => format!("{amount} USD"),
        (1, Script::Zh) => format!("¥{amount}.{:02}", rng.below(100)),
        (2, _) => format!("{}:{:02}", rng.below(24), rng.below(60)),
        _ => {
            let len = rng.between(4, 8);
            number(rng, script, len)
        }
    }
}

fn with_numbers(rng: &mut Rng, text: &str, script: Script, numbers: Numbers) -> String {
    match numbers {
        Numbers::Digits(len) => {
            let piece = number(rng, script, len);
            place(rng, text, &piece)
        }
        Numbers::Mixed => {
            let mut text = text.to_string();
            for _ in 0..rng.between(2, 3) {
                let piece = mixed_number(rng, script);
                text = place(rng, &text, &piece);
            }
            text
        }
    }
}

fn with_fillers(rng: &mut Rng, text: &str, pool: &[&str], count: usize) -> String {
    let mut text = text.to_string();
    for filler in rng.pick_distinct(pool, count) {
        text = place(rng, &text, filler);
    }
    text
}

fn fresh_domain(rng: &mut Rng) -> String {
    format!(
        "{}-{}{}.{}",
        rng.pick(DOMAIN_WORDS),
        rng.pick(DOMAIN_WORDS),
        rng.digits(2),
        rng.pick(TLDS)
    )
}

fn vetted_target(rng: &mut Rng, with_id_query: bool) -> String {
    let pattern = if with_id_query {
        *rng.pick(&[VETTED_TARGETS[0], VETTED_TARGETS[2]])
    } else {
        *rng.pick(VETTED_TARGETS)
    };
    pattern
        .replace("{id}", &rng.mixed(11))
        .replace("{digits}", &rng.digits(12))
        .replace(
            "{asin}",
            &format!("B0{}", rng.token("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 8)),
        )
}

fn tracking_value(rng: &mut Rng, key: &str) -> String {
    match key {
        "fbclid" | "gclid" | "dclid" | "msclkid" => {
            let len = 24 + rng.below(12);
            rng.mixed(len)
        }
        "spm" => format!(
            "a{}.{}.{}.{}",
            rng.digits(4),
            rng.digits(7),
            rng.digits(2),
            rng.digits(1)
        ),
        "si" => rng.mixed(16),
        _ => {
            let len = 4 + rng.below(8);
            rng.lower(len)
        }
    }
}

/// `target` with `count` tracking keys of fresh values; with `shuffle`, the target's own query
/// key is moved among them.
fn tracked(rng: &mut Rng, target: &str, count: usize, shuffle: bool) -> String {
    let (path, own) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    let mut params: Vec<String> = rng
        .pick_distinct(TRACKING, count)
        .into_iter()
        .map(|key| format!("{key}={}", tracking_value(rng, key)))
        .collect();
    match own {
        Some(own) if shuffle => {
            let at = rng.below(params.len() + 1);
            params.insert(at, own);
        }
        Some(own) => params.insert(0, own),
        None => {}
    }
    if params.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

fn homoglyphs(rng: &mut Rng, text: &str, share: f64) -> String {
    text.chars()
        .map(|c| match HOMOGLYPHS.iter().find(|&&(l, _)| l == c) {
            Some(&(_, look)) if rng.chance(share) => look,
            _ => c,
        })
        .collect()
}

fn fullwidth(rng: &mut Rng, text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = if rng.chance(0.3) {
                c.to_ascii_uppercase()
            } else {
                c
            };
            if c.is_ascii_graphic() && rng.chance(0.5) {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn invisibles(rng: &mut Rng, text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if "aeiou".contains(c) && rng.chance(0.3) {
            out.push('\u{301}');
        }
        if rng.chance(0.15) {
            out.push(*rng.pick(&['\u{200b}', '\u{200d}', '\u{2060}', '\u{ad}']));
        }
    }
    out
}

fn spaced_zh(rng: &mut Rng, text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = match c {
            '，' if rng.chance(0.5) => ',',
            '：' if rng.chance(0.5) => ':',
            _ => c,
        };
        out.push(c);
        if rng.chance(0.3) {
            out.push(*rng.pick(&[' ', '　', '.', '*']));
        }
    }
    out
}

fn traditional(rng: &mut Rng, text: &str) -> String {
    text.chars()
        .map(|c| match TRADITIONAL.iter().find(|&&(s, _)| s == c) {
            Some(&(_, t)) if rng.chance(0.6) => t,
            _ => c,
        })
        .collect()
}

/// A link goes where a reader can click it: apart from the words around it.
fn link_in(rng: &mut Rng, text: &str, link: &str) -> String {
    let link = format!(
        "{}{link}{}",
        rng.pick(&[" ", "：", "👉 ", "\n"]),
        rng.pick(&[" ", "\n", " 。"])
    );
    place(rng, text, &link).trim().to_string()
}

/// A scheme and `www.` before `target`, `www.` only where the host has no subdomain.
fn scheme_for(rng: &mut Rng, target: &str) -> &'static str {
    let host = target.split('/').next().unwrap_or(target);
    if host.matches('.').count() > 1 {
        rng.pick::<&str>(&["", "http://", "https://"])
    } else {
        rng.pick::<&str>(SCHEMES)
    }
}

/// The spam runs: every family at every strength.
pub(crate) fn spam_runs(rng: &mut Rng) -> Vec<SpamRun> {
    let mut runs = Vec::new();
    let mut add = |family, strength: String, keeps, text: CopyText| {
        runs.push(SpamRun {
            family,
            strength,
            keeps,
            text,
        })
    };

    for script in [Script::En, Script::Zh] {
        for (strength, numbers) in [
            ("one 4-digit number", Numbers::Digits(4)),
            ("one 8-digit number", Numbers::Digits(8)),
            ("one 12-digit number", Numbers::Digits(12)),
            ("2-3 amounts, codes, times", Numbers::Mixed),
        ] {
            let base = pitch(rng, script);
            add(
                "numbers",
                format!("{strength}, {}", script_name(script)),
                BODY,
                Box::new(move |rng, _| with_numbers(rng, &base, script, numbers)),
            );
        }
    }

    for script in [Script::En, Script::Zh] {
        for count in 1..=3 {
            let base = pitch(rng, script);
            add(
                "fillers and greetings",
                format!("{count} of them, {}", script_name(script)),
                BODY,
                Box::new(move |rng, _| with_fillers(rng, &base, fillers(script), count)),
            );
        }
    }
    {
        let script = if rng.chance(0.5) {
            Script::En
        } else {
            Script::Zh
        };
        let base = pitch(rng, script);
        add(
            "fillers and greetings",
            format!("2 of them in both scripts, {} pitch", script_name(script)),
            BODY,
            Box::new(move |rng, _| {
                let pool: Vec<&str> = EN_FILLERS.iter().chain(ZH_FILLERS).copied().collect();
                with_fillers(rng, &base, &pool, 2)
            }),
        );
    }

    for (strength, count, shuffle, vary_scheme) in [
        ("1 tracking key", 1, false, false),
        ("3 tracking keys", 3, false, false),
        ("5 tracking keys around the target's id", 5, true, false),
        ("2-4 tracking keys, scheme and www varied", 0, true, true),
    ] {
        let target = vetted_target(rng, shuffle);
        let fixed_scheme = scheme_for(rng, &target);
        let script = if rng.chance(0.5) {
            Script::En
        } else {
            Script::Zh
        };
        add(
            "tracking queries",
            format!("{strength} (a page of a shared site)"),
            LINK,
            Box::new(move |rng, _| {
                let count = if count == 0 { rng.between(2, 4) } else { count };
                let scheme = if vary_scheme {
                    scheme_for(rng, &target)
                } else {
                    fixed_scheme
                };
                let link = format!("{scheme}{}", tracked(rng, &target, count, shuffle));
                let lead = lead(rng, script);
                link_in(rng, lead, &link)
            }),
        );
    }

    for (n, strength) in [
        "4-character path",
        "two-segment path",
        "path and query",
        "rotated subdomain",
    ]
    .into_iter()
    .enumerate()
    {
        let domain = fresh_domain(rng);
        let script = if n % 2 == 0 { Script::En } else { Script::Zh };
        add(
            "rotated paths on a fresh domain",
            format!("{strength}, {} words", script_name(script)),
            DOMAIN,
            Box::new(move |rng, _| {
                let rest = match n {
                    0 => format!("{domain}/{}", rng.lower(4)),
                    1 => format!("{domain}/{}/{}", rng.lower(3), rng.lower(8)),
                    2 => format!(
                        "{domain}/p/{}?id={}&c={}",
                        rng.lower(6),
                        rng.digits(6),
                        rng.lower(4)
                    ),
                    _ => format!("{}.{domain}/{}", rng.lower(5), rng.lower(4)),
                };
                let link = format!("{}{rest}", rng.pick(&["", "http://", "https://"]));
                let mut text = lead(rng, script).to_string();
                if rng.chance(0.5) {
                    let more = lead(rng, script);
                    text = place(rng, &text, more);
                }
                link_in(rng, &text, &link)
            }),
        );
    }

    {
        let short = format!("{}/{}", rng.pick(SHORTENERS), rng.mixed(7));
        let script = if rng.chance(0.5) {
            Script::En
        } else {
            Script::Zh
        };
        add(
            "shorteners",
            "one fixed short link, words vary".to_string(),
            SHORT_PATH,
            Box::new(move |rng, _| {
                let lead = lead(rng, script);
                let link = format!("{}{short}", rng.pick(&["", "https://"]));
                link_in(rng, lead, &link)
            }),
        );
    }
    for (strength, script, many) in [
        ("a new short link per copy, long text", Script::En, false),
        ("a new short link per copy, long text", Script::Zh, false),
        (
            "a new link per copy on 8 shorteners, long text",
            Script::En,
            true,
        ),
    ] {
        let base = pitch(rng, script);
        let fixed = *rng.pick(SHORTENERS);
        add(
            "shorteners",
            format!("{strength}, {}", script_name(script)),
            BODY,
            Box::new(move |rng, _| {
                let host = if many { *rng.pick(SHORTENERS) } else { fixed };
                let link = format!("https://{host}/{}", rng.mixed(7));
                link_in(rng, &base, &link)
            }),
        );
    }
    {
        let fixed = *rng.pick(SHORTENERS);
        add(
            "shorteners",
            "a new short link per copy, short text (control)".to_string(),
            NOTHING,
            Box::new(move |rng, _| {
                let link = format!("{fixed}/{}", rng.mixed(7));
                let script = if rng.chance(0.5) {
                    Script::En
                } else {
                    Script::Zh
                };
                let lead = lead(rng, script);
                link_in(rng, lead, &link)
            }),
        );
    }

    for (n, strength) in [
        "30% of the letters that have a look-alike",
        "80% of the letters that have a look-alike",
        "fullwidth letters, random case",
        "zero-width characters and accents",
    ]
    .into_iter()
    .enumerate()
    {
        let base = pitch(rng, Script::En);
        add(
            "look-alikes",
            strength.to_string(),
            BODY,
            Box::new(move |rng, _| match n {
                0 => homoglyphs(rng, &base, 0.3),
                1 => homoglyphs(rng, &base, 0.8),
                2 => fullwidth(rng, &base),
                _ => invisibles(rng, &base),
            }),
        );
    }
    {
        let base = pitch(rng, Script::Zh);
        add(
            "look-alikes",
            "Chinese, spaces and halfwidth punctuation".to_string(),
            BODY,
            Box::new(move |rng, _| spaced_zh(rng, &base)),
        );
        let base = pitch(rng, Script::Zh);
        add(
            "look-alikes",
            "Chinese, traditional characters".to_string(),
            BODY,
            Box::new(move |rng, _| traditional(rng, &base)),
        );
    }
    {
        // A spammer registers a few look-alike spellings of one fresh domain, not one per copy.
        let domain = fresh_domain(rng);
        // Look-alikes in the name only: a top-level domain must exist for the link to work.
        let (name, tld) = domain.rsplit_once('.').unwrap_or((&domain, "com"));
        let spellings: Vec<String> = (0..4)
            .map(|_| format!("{}.{tld}", homoglyphs(rng, name, 0.4)))
            .collect();
        let path = rng.lower(5);
        add(
            "look-alikes",
            "4 look-alike spellings of a fresh domain, fixed path".to_string(),
            DOMAIN,
            Box::new(move |rng, _| {
                let link = format!("{}/{path}", rng.pick(&spellings));
                let script = if rng.chance(0.5) {
                    Script::En
                } else {
                    Script::Zh
                };
                let lead = lead(rng, script);
                link_in(rng, lead, &link)
            }),
        );
    }

    for script in [Script::En, Script::Zh] {
        let base = pitch(rng, script);
        add(
            "mixes",
            format!("numbers and 1-2 fillers, {}", script_name(script)),
            BODY,
            Box::new(move |rng, _| {
                let len = rng.between(4, 12);
                let text = with_numbers(rng, &base, script, Numbers::Digits(len));
                let count = rng.between(1, 2);
                with_fillers(rng, &text, fillers(script), count)
            }),
        );
    }
    {
        let base = pitch(rng, Script::En);
        let target = vetted_target(rng, false);
        add(
            "mixes",
            "fillers, tracking keys, scheme, English".to_string(),
            BODY_LINK,
            Box::new(move |rng, _| {
                let scheme = scheme_for(rng, &target);
                let count = rng.between(1, 3);
                let link = format!("{scheme}{}", tracked(rng, &target, count, true));
                let text = link_in(rng, &base, &link);
                let count = rng.between(1, 3);
                with_fillers(rng, &text, EN_FILLERS, count)
            }),
        );
    }
    {
        let base = pitch(rng, Script::En);
        let target = vetted_target(rng, true);
        add(
            "mixes",
            "everything: look-alikes, a number, fillers, tracking keys, scheme, English"
                .to_string(),
            BODY_LINK,
            Box::new(move |rng, _| {
                let len = rng.between(4, 10);
                let text = with_numbers(rng, &base, Script::En, Numbers::Digits(len));
                let count = rng.between(1, 2);
                let text = with_fillers(rng, &text, EN_FILLERS, count);
                let scheme = scheme_for(rng, &target);
                let count = rng.between(1, 4);
                let link = format!("{scheme}{}", tracked(rng, &target, count, true));
                // Look-alikes in the words only: a link must still lead where it points.
                let text = homoglyphs(rng, &text, 0.3);
                link_in(rng, &text, &link)
            }),
        );
    }
    {
        let base = pitch(rng, Script::Zh);
        let domain = fresh_domain(rng);
        add(
            "mixes",
            "everything: spaces, a number, fillers of both scripts, rotated path, Chinese"
                .to_string(),
            BODY_DOMAIN,
            Box::new(move |rng, _| {
                let text = with_numbers(rng, &base, Script::Zh, Numbers::Mixed);
                let pool: Vec<&str> = EN_FILLERS.iter().chain(ZH_FILLERS).copied().collect();
                let count = rng.between(1, 3);
                let text = with_fillers(rng, &text, &pool, count);
                let link = format!("{}{domain}/{}", rng.pick(&["", "https://"]), rng.lower(6));
                let text = if rng.chance(0.5) {
                    spaced_zh(rng, &text)
                } else {
                    text
                };
                link_in(rng, &text, &link)
            }),
        );
    }

    v2_runs(&mut add);
    runs
}

/// The runs of the v2 evaluation, unchanged: each is one family's first strength.
fn v2_runs(add: &mut impl FnMut(&'static str, String, &'static str, CopyText)) {
    add(
        "v2 runs",
        "reference numbers".into(),
        BODY,
        Box::new(|rng: &mut Rng, _| {
            format!(
                "Congratulations! Your account won a free iPhone 15. Reply YES to claim your prize today. Ref {}",
                10_000 + rng.below(90_000)
            )
        }),
    );
    add(
        "v2 runs",
        "rotated links in a long text".into(),
        BODY,
        Box::new(|_: &mut Rng, n| {
            format!(
                "Your parcel is held at the depot: pay the small customs fee here bit.ly/p{n}x today"
            )
        }),
    );
    add(
        "v2 runs",
        "look-alikes and a phone number".into(),
        BODY,
        Box::new(|rng: &mut Rng, _| {
            let base = "Earn 500 dollars a day from home with our simple plan, message me on WhatsApp +44 7700 900123";
            homoglyphs(rng, base, 0.4)
        }),
    );
    add(
        "v2 runs",
        "emoji".into(),
        BODY,
        Box::new(|rng: &mut Rng, _| {
            "Limited offer cheap followers and likes for your account visit our shop now"
                .split(' ')
                .map(|w| {
                    if rng.chance(0.3) {
                        format!("{w} {}", EMOJI[rng.below(EMOJI.len())])
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }),
    );
    add(
        "v2 runs",
        "messenger ID, changing words".into(),
        "a payload: a messenger ID",
        Box::new(|rng: &mut Rng, _| {
            [
                "加我微信：deal_8888 领红包",
                "优惠多多 微信 deal_8888",
                "找我 微信:deal_8888 有惊喜",
                "兼职日结 加微信號deal_8888",
                "VX: deal_8888 速来",
            ][rng.below(5)]
            .to_string()
        }),
    );
    add(
        "v2 runs",
        "phone, rewritten".into(),
        "a payload: a phone number",
        Box::new(|rng: &mut Rng, _| {
            [
                "loans today, call 555-010-9999",
                "Call (555) 010 9999 for cash!",
                "cash now: ring 5550109999",
                "tel: 555.010.9999 easy loans",
            ][rng.below(4)]
            .to_string()
        }),
    );
    add(
        "v2 runs",
        "e-mail, short".into(),
        "a payload: an e-mail address",
        Box::new(|rng: &mut Rng, _| {
            [
                "jobs: hr.fastcash@example.net",
                "write hr.fastcash@example.net",
                "HR.FastCash@example.net now",
            ][rng.below(3)]
            .to_string()
        }),
    );
    add(
        "v2 runs",
        "short text, rotated link (control)".into(),
        NOTHING,
        Box::new(|_: &mut Rng, n| format!("claim it: bit.ly/c{n}q")),
    );
}

/// Each run: `BOTS_PER_RUN` fresh accounts, `COPIES_PER_BOT` copies each to random users, a
/// few seconds apart, at a random time of a random day after the first. Some victims answer.
pub(crate) fn spam_traffic(rng: &mut Rng, runs: &[SpamRun]) -> Vec<Event> {
    let mut events = Vec::new();
    for (run, spam) in runs.iter().enumerate() {
        let day = 1 + rng.below(DAYS as usize - 1) as u64;
        let start = day * DAY + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
        let mut sent = 0;
        for bot in 0..BOTS_PER_RUN {
            for copy in 0..COPIES_PER_BOT {
                let at =
                    start + (bot * COPIES_PER_BOT + copy) as u64 * 4_000 + rng.below(3_000) as u64;
                let victim = user(rng.below(USERS));
                let from = format!("bot{run}x{bot}");
                if rng.chance(0.1) {
                    events.push(Event {
                        at: at + 30_000 + rng.below(90_000) as u64,
                        origin: Origin::Legit("answers to spam"),
                        chat: floodgate::engine::Chat::Single,
                        from: victim.clone(),
                        to: from.clone(),
                        text: rng
                            .pick(&["who is this?", "你是谁？", "??", "stop"])
                            .to_string(),
                    });
                }
                events.push(Event {
                    at,
                    origin: Origin::Spam { run, bot },
                    chat: floodgate::engine::Chat::Single,
                    from,
                    to: victim,
                    text: (spam.text)(rng, sent),
                });
                sent += 1;
            }
        }
    }
    events
}
