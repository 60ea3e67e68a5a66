//! The legitimate traffic: people who talk to each other (friends, groups, a marketplace, a New
//! Year wave, a viral article), and the traffic that looks most like a campaign without being
//! one — support desks and sellers hearing from many strangers, share templates of big sites,
//! a new small site shared among friends, ordinary texts full of numbers.

use floodgate::engine::Chat;

use crate::rng::Rng;
use crate::{COMMUNITY, DAY, DAYS, Event, GROUPS, HOUR, MINUTE, Origin, USERS, user};

const PHRASES: &[&str] = &[
    "ok",
    "haha",
    "thanks!",
    "好的",
    "lol",
    "see you tomorrow",
    "where are you?",
    "哈哈哈",
    "good morning",
    "on my way",
    "谢谢",
    "在吗",
    "Happy birthday!",
    "晚安",
    "明天见",
    "sounds good to me",
    "call me when you can",
    "I'm home",
    "miss you",
    "what time?",
    "see you at 5",
    "see you at 6",
    "我到了",
    "吃饭了吗",
    "Thank you so much!",
    "no problem",
    "let me check",
    "are you free tonight?",
    "我明天去北京",
    "我明天去南京",
    "nice photo!",
    "can't wait",
    "good night",
    "sorry, running late",
    "收到",
    "👍",
    "😂😂😂",
    "ok see you",
];

/// Words long messages are made of: people's long messages are their own.
const WORDS: &[&str] = &[
    "I",
    "we",
    "you",
    "they",
    "think",
    "should",
    "could",
    "maybe",
    "really",
    "meeting",
    "dinner",
    "trip",
    "kids",
    "report",
    "game",
    "plan",
    "tomorrow",
    "tonight",
    "weekend",
    "station",
    "cafe",
    "office",
    "park",
    "restaurant",
    "train",
    "late",
    "early",
    "again",
    "because",
    "but",
    "and",
    "then",
    "after",
    "before",
    "work",
    "home",
    "school",
    "mom",
    "dad",
    "birthday",
    "party",
    "present",
    "movie",
    "book",
    "weather",
    "rain",
    "sunny",
    "cold",
    "hot",
    "tired",
    "happy",
    "busy",
    "free",
    "call",
    "text",
    "photo",
    "video",
    "bring",
    "buy",
    "cook",
    "clean",
    "drive",
    "walk",
    "meet",
    "wait",
    "leave",
    "arrive",
    "remember",
    "forget",
    "ask",
    "tell",
    "think",
];

const GREETINGS: &[&str] = &[
    "Happy New Year!",
    "Happy New Year!!! 🎉",
    "新年快乐！",
    "Happy new year to you and your family, all the best for 2027!",
    "新年快乐，万事如意！",
    "HNY!",
];

/// Who gets what: a legitimate message (and what kind of traffic it is), or a spam copy.
pub(crate) struct World {
    friends: Vec<Vec<(usize, u32)>>,
    groups: Vec<Vec<usize>>,
}

pub(crate) fn world(rng: &mut Rng) -> World {
    let mut friends: Vec<Vec<(usize, u32)>> = vec![Vec::new(); USERS];
    for a in 0..USERS {
        let wanted = 2 + rng.zipf(30);
        for _ in 0..wanted {
            let community = a / COMMUNITY * COMMUNITY;
            let b = if rng.chance(0.9) {
                community + rng.below(COMMUNITY)
            } else {
                rng.below(USERS)
            };
            if b != a && b < USERS && !friends[a].iter().any(|&(f, _)| f == b) {
                // How often this pair talks: a few close friends, many occasional ones.
                let weight = 1 + (8 / (1 + rng.zipf(8))) as u32;
                friends[a].push((b, weight));
                friends[b].push((a, weight));
            }
        }
    }
    let groups = (0..GROUPS)
        .map(|g| {
            let size = 5 + rng.zipf(60);
            let community = (g * 37 % (USERS / COMMUNITY)) * COMMUNITY;
            (0..size)
                .map(|_| community + rng.below(COMMUNITY))
                .collect()
        })
        .collect();
    World { friends, groups }
}

pub(crate) fn pick_friend(rng: &mut Rng, friends: &[(usize, u32)]) -> Option<usize> {
    let total: u32 = friends.iter().map(|&(_, w)| w).sum();
    let mut target = rng.below(total as usize) as u32;
    for &(f, w) in friends {
        if target < w {
            return Some(f);
        }
        target -= w;
    }
    None
}

fn chat_text(rng: &mut Rng, who: usize) -> String {
    match rng.below(10) {
        0..=5 => PHRASES[rng.zipf(PHRASES.len())].to_string(),
        6 | 7 => {
            let words = 10 + rng.below(12);
            let mut sentence: Vec<&str> =
                (0..words).map(|_| WORDS[rng.zipf(WORDS.len())]).collect();
            sentence.push("ok?");
            sentence.join(" ")
        }
        8 => format!("look at this youtube.com/watch?v=v{}", rng.below(400)),
        _ => format!(
            "my new number is 138 {:04} {:04}",
            who % 10_000,
            rng.below(10_000)
        ),
    }
}

pub(crate) fn legit_traffic(rng: &mut Rng, world: &World) -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |at, origin, chat, from: String, to: String, text: String| {
        events.push(Event {
            at,
            origin: Origin::Legit(origin),
            chat,
            from,
            to,
            text,
        })
    };
    for day in 0..DAYS {
        let start = day * DAY;
        // Conversations: a message, then a reply or a few, seconds to minutes apart.
        for a in 0..USERS {
            let conversations = rng.below(4);
            for _ in 0..conversations {
                let Some(b) = pick_friend(rng, &world.friends[a]) else {
                    continue;
                };
                let mut at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                let turns = 1 + rng.below(6);
                for turn in 0..turns {
                    let (from, to) = if turn % 2 == 0 { (a, b) } else { (b, a) };
                    let text = chat_text(rng, from);
                    push(at, "chat", Chat::Single, user(from), user(to), text);
                    at += 5_000 + rng.below(3 * MINUTE as usize) as u64;
                }
            }
        }
        // Groups: members chat; an organiser shares an event link that others repeat.
        for (g, members) in world.groups.iter().enumerate() {
            let posts = rng.below(20);
            for _ in 0..posts {
                let who = members[rng.below(members.len())];
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                let text = if rng.chance(0.1) {
                    format!("Route for Sunday: maps.example.com/route/{g}")
                } else {
                    chat_text(rng, who)
                };
                push(
                    at,
                    "group chatter",
                    Chat::Group,
                    user(who),
                    format!("g{g}"),
                    text,
                );
            }
        }
        // The marketplace: buyers ask sellers they never met; sellers answer.
        for _ in 0..150 {
            let buyer = rng.below(USERS);
            let mut at = start + 9 * HOUR + rng.below(12 * HOUR as usize) as u64;
            for _ in 0..2 + rng.below(7) {
                let seller = rng.below(USERS);
                let ask = [
                    "Hi, is this still available?",
                    "Is this still available?",
                    "hi, still available?",
                ];
                push(
                    at,
                    "marketplace",
                    Chat::Single,
                    user(buyer),
                    user(seller),
                    ask[rng.below(3)].to_string(),
                );
                if rng.chance(0.7) {
                    let reply = ["Yes it is!", "yes, still available", "sorry, sold"];
                    push(
                        at + 60_000,
                        "marketplace",
                        Chat::Single,
                        user(seller),
                        user(buyer),
                        reply[rng.below(3)].to_string(),
                    );
                }
                at += 20_000 + rng.below(90_000) as u64;
            }
        }
    }
    // The last day: a New Year wave at midnight, and a popular article everyone shares.
    let midnight = (DAYS - 1) * DAY;
    for a in 0..USERS {
        if !rng.chance(0.5) {
            continue;
        }
        let mut at = midnight + rng.below(10 * MINUTE as usize) as u64;
        let greeting = GREETINGS[rng.zipf(GREETINGS.len())];
        let count = (2 + rng.below(10)).min(world.friends[a].len());
        let mut greeted = Vec::new();
        for _ in 0..count * 2 {
            if greeted.len() == count {
                break;
            }
            if let Some(f) = pick_friend(rng, &world.friends[a]).filter(|f| !greeted.contains(f)) {
                greeted.push(f);
                push(
                    at,
                    "new year",
                    Chat::Single,
                    user(a),
                    user(f),
                    greeting.to_string(),
                );
                at += 4_000 + rng.below(20_000) as u64;
            }
        }
    }
    for (g, members) in world.groups.iter().enumerate() {
        for &m in members {
            if !rng.chance(0.3) {
                continue;
            }
            let at = midnight + rng.below(15 * MINUTE as usize) as u64;
            push(
                at,
                "new year",
                Chat::Group,
                user(m),
                format!("g{g}"),
                GREETINGS[rng.zipf(GREETINGS.len())].to_string(),
            );
        }
    }
    let article = "you have to read this news.example.com/2027/01/01/fireworks-record";
    for a in 0..USERS {
        if !rng.chance(0.1) {
            continue;
        }
        if let Some(f) = pick_friend(rng, &world.friends[a]) {
            let at = midnight + 10 * HOUR + rng.below(2 * HOUR as usize) as u64;
            let text = article.to_string();
            push(at, "viral article", Chat::Single, user(a), user(f), text);
        }
    }
    events
}

/// What a support desk hears: one near-identical question per customer, each with their own
/// order number, and what the desk answers.
struct Desk {
    questions: &'static [&'static str],
    follow_up: &'static str,
    answer: &'static str,
    /// Digits of this shop's order numbers.
    order_digits: usize,
}

const DESKS: &[Desk] = &[
    Desk {
        questions: &[
            "Hi, my order {n} has not arrived yet, could you please check where it is?",
            "Hello, I ordered {n} last week and it still hasn't shipped, can you help me?",
            "Hi, I'd like to return order {n}, the size is wrong. How do I do that?",
        ],
        follow_up: "any update on order {n}?",
        answer: "Thanks for reaching out! We're checking order {n} and will get back to you shortly.",
        order_digits: 8,
    },
    Desk {
        questions: &[
            "你好，我的订单{n}还没有发货，麻烦帮我查一下什么时候能发",
            "您好，订单号{n}的商品收到有破损，请问怎么申请退换货？",
            "客服你好，我想查询一下订单{n}的物流信息，谢谢",
        ],
        follow_up: "订单{n}有进展了吗？",
        answer: "亲，您好，已经收到您关于订单{n}的问题，我们正在核实，请耐心等待",
        order_digits: 18,
    },
    Desk {
        questions: &[
            "Hello, I was charged twice for booking {n}, please refund one of the payments",
            "Hi, can I change the date of my booking {n} to next weekend?",
        ],
        follow_up: "Hi again, still waiting about booking {n}",
        answer: "Hello, thank you for your message about booking {n}. An agent will reply within 24 hours.",
        order_digits: 12,
    },
    Desk {
        questions: &[
            "您好，我的手机号码无法接收验证码，账号{n}登录不了，请帮忙处理",
            "你好，账号{n}被误封了，麻烦帮忙看看怎么解封",
        ],
        follow_up: "账号{n}的问题处理了吗",
        answer: "您好，账号{n}的问题已提交技术部门处理，处理结果会第一时间通知您",
        order_digits: 10,
    },
];

/// Big sites whose app share buttons fill in a template: only the page changes. `{t}` is a
/// page title, `{id}`/`{digits}`/`{asin}`/`{si}`/`{tk}` the page's own.
const SHARE_TEMPLATES: &[&str] = &[
    "Check out this video on YouTube: https://youtube.com/watch?v={id}&si={si}",
    "Watch \"{t}\" on YouTube: https://youtu.be/{id}?si={si}",
    "Check out this deal on Amazon: https://www.amazon.com/dp/{asin}?ref=cm_sw_r_cp_ud_dp_{tk}",
    "Look what I found on Marketplace: https://www.facebook.com/marketplace/item/{digits}/",
    "【淘宝】https://m.tb.cn/h.{tk}?tk={si} 「{t}」点击链接直接打开 或者 淘宝搜索直接打开",
    "【{t}-哔哩哔哩】 https://b23.tv/{tk}",
    "这个商品不错，https://item.taobao.com/item.htm?id={digits}&spm=a21n57.1.0.0 快来看看",
    "Fill this in please: https://docs.google.com/forms/d/e/{id}/viewform?usp=sf_link",
];
const TITLES: &[&str] = &[
    "how to fix a bike chain in 2 minutes",
    "cute cat compilation",
    "夏季新款连衣裙",
    "wireless earbuds",
    "家常红烧肉做法",
    "lofi beats to study to",
    "travel vlog day 3",
    "儿童自行车",
];

fn share(rng: &mut Rng) -> String {
    let template = rng.pick(SHARE_TEMPLATES);
    template
        .replace("{t}", rng.pick::<&str>(TITLES))
        .replace("{id}", &rng.mixed(11))
        .replace("{si}", &rng.mixed(16))
        .replace("{tk}", &rng.mixed(10))
        .replace("{digits}", &{
            let len = 12 + rng.below(4);
            rng.digits(len)
        })
        .replace(
            "{asin}",
            &format!("B0{}", rng.token("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 8)),
        )
}

/// Ordinary texts with numbers in them: times, amounts, codes, rooms, flights.
fn number_text(rng: &mut Rng) -> String {
    let h = rng.between(1, 12);
    let m = *rng.pick(&[0, 15, 30, 45, 10, 20]);
    let amount = rng.between(5, 3000);
    let len = rng.between(4, 8);
    let code = rng.digits(len);
    match rng.below(14) {
        0 => format!("see you at {h}:{m:02} at the station"),
        1 => format!(
            "I just sent you {amount}.{:02} for the tickets, let me know when you get it",
            rng.below(100)
        ),
        2 => format!("the door code is {code}"),
        3 => format!(
            "my flight lands at {h}:{m:02}, gate {}, can you pick me up?",
            rng.between(1, 60)
        ),
        4 => format!("the bill was {amount} so it's {} each", amount / 4),
        5 => format!("can you grab my parcel? the pickup code is {code}, thanks a lot!"),
        6 => format!("取件码{code}，帮我拿一下快递，谢谢"),
        7 => format!("我转了你{amount}块，记得查收"),
        8 => format!("今晚{h}点{m}分在老地方见"),
        9 => format!("会议改到明天{h}点了，在{}会议室", rng.between(100, 999)),
        10 => format!(
            "The wifi password is {code}, the network is Home-{}",
            rng.digits(3)
        ),
        11 => format!("my new number is {}, save it", rng.digits(11)),
        12 => format!(
            "room {} on the {}th floor, meeting starts at {h}:{m:02}",
            rng.between(100, 999),
            rng.between(2, 30)
        ),
        _ => format!("{amount}元已经付了，订单号是{}", rng.digits(16)),
    }
}

fn push(
    events: &mut Vec<Event>,
    at: u64,
    kind: &'static str,
    chat: Chat,
    from: String,
    to: String,
    text: String,
) {
    events.push(Event {
        at,
        origin: Origin::Legit(kind),
        chat,
        from,
        to,
        text,
    });
}

/// A random user who is not `who` nor one of their friends: a stranger.
fn stranger(rng: &mut Rng, world: &World, who: usize) -> usize {
    loop {
        let other = rng.below(USERS);
        if other != who && !world.friends[who].iter().any(|&(f, _)| f == other) {
            return other;
        }
    }
}

/// The legitimate traffic that stresses what a campaign key ignores (numbers, fillers, query,
/// the path under an unvetted domain).
pub(crate) fn stress_traffic(rng: &mut Rng, world: &World) -> Vec<Event> {
    let mut events = Vec::new();
    let small_sites: Vec<String> = (0..USERS / COMMUNITY)
        .map(|c| {
            format!(
                "{}{}{c}.{}",
                rng.pick(&[
                    "lantern",
                    "maple",
                    "harbor",
                    "greenleaf",
                    "sunny",
                    "bluebird"
                ]),
                rng.pick(&["bakery", "club", "studio", "garden", "books", "yoga"]),
                rng.pick(&["com", "net", "org", "cn", "shop"])
            )
        })
        .collect();
    let hot_sellers: Vec<usize> = (0..12).map(|_| rng.below(USERS)).collect();
    for day in 0..DAYS {
        let start = day * DAY;
        // Support desks: 30-200 customers a day, half of them in a rush after a delay.
        for (d, desk) in DESKS.iter().enumerate() {
            let account = format!("desk{d}");
            let customers = rng.between(30, 200);
            let rush = start + 9 * HOUR + rng.below(10 * HOUR as usize) as u64;
            for c in 0..customers {
                let customer = rng.below(USERS);
                let at = if c % 2 == 0 {
                    rush + rng.below(20 * MINUTE as usize) as u64
                } else {
                    start + 8 * HOUR + rng.below(13 * HOUR as usize) as u64
                };
                let order = rng.digits(desk.order_digits);
                let mut question =
                    desk.questions[rng.zipf(desk.questions.len())].replace("{n}", &order);
                if rng.chance(0.2) {
                    question = format!(
                        "{} {question}",
                        rng.pick(&["Hi!", "hello", "您好", "在吗？"])
                    );
                }
                push(
                    &mut events,
                    at,
                    "support desk",
                    Chat::Single,
                    user(customer),
                    account.clone(),
                    question,
                );
                let answered = at + rng.between(MINUTE as usize, 40 * MINUTE as usize) as u64;
                push(
                    &mut events,
                    answered,
                    "support desk",
                    Chat::Single,
                    account.clone(),
                    user(customer),
                    desk.answer.replace("{n}", &order),
                );
                if rng.chance(0.3) {
                    let later = answered + rng.between(HOUR as usize, 5 * HOUR as usize) as u64;
                    push(
                        &mut events,
                        later,
                        "support desk",
                        Chat::Single,
                        user(customer),
                        account.clone(),
                        desk.follow_up.replace("{n}", &order),
                    );
                }
            }
        }
        // Sellers with many listings hear from strangers about an item number.
        for &seller in &hot_sellers {
            let items: Vec<String> = (0..5)
                .map(|_| {
                    let len = rng.between(4, 9);
                    rng.digits(len)
                })
                .collect();
            let buyers = rng.between(10, 60);
            let popular = start + 9 * HOUR + rng.below(12 * HOUR as usize) as u64;
            for b in 0..buyers {
                let buyer = stranger(rng, world, seller);
                let item = &items[rng.zipf(items.len())];
                let at = if b % 3 == 0 {
                    popular + rng.below(10 * MINUTE as usize) as u64
                } else {
                    start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64
                };
                let ask = match rng.below(6) {
                    0 => format!("Hi, is this still available? item {item}"),
                    1 => format!("Is item {item} still available?"),
                    2 => format!("hi! still available? (item #{item})"),
                    3 => format!(
                        "Hello, is the item {item} still for sale? I can pick it up today if it is"
                    ),
                    4 => format!("你好，{item}号宝贝还在吗？"),
                    _ => format!("请问商品{item}还有货吗，今天能发货吗"),
                };
                push(
                    &mut events,
                    at,
                    "sellers",
                    Chat::Single,
                    user(buyer),
                    user(seller),
                    ask,
                );
                if rng.chance(0.7) {
                    let reply = *rng.pick(&[
                        "yes, still available",
                        "sorry, sold",
                        "还在的",
                        "yes! when can you come?",
                    ]);
                    push(
                        &mut events,
                        at + rng.between(MINUTE as usize, 30 * MINUTE as usize) as u64,
                        "sellers",
                        Chat::Single,
                        user(seller),
                        user(buyer),
                        reply.to_string(),
                    );
                }
            }
        }
        // Share buttons of big sites: friends share pages all day, and a burst of 15-25 cold
        // users each sends a different page to a stranger within ten minutes.
        for _ in 0..120 {
            let a = rng.below(USERS);
            if let Some(f) = pick_friend(rng, &world.friends[a]) {
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                push(
                    &mut events,
                    at,
                    "share templates",
                    Chat::Single,
                    user(a),
                    user(f),
                    share(rng),
                );
            }
        }
        for _ in 0..3 {
            let burst = start + 9 * HOUR + rng.below(12 * HOUR as usize) as u64;
            for _ in 0..rng.between(15, 25) {
                let a = rng.below(USERS);
                let to = stranger(rng, world, a);
                let at = burst + rng.below(10 * MINUTE as usize) as u64;
                push(
                    &mut events,
                    at,
                    "share templates",
                    Chat::Single,
                    user(a),
                    user(to),
                    share(rng),
                );
            }
        }
        // A new small site of each community, shared among friends and in the community's
        // groups; on one day each community announces an event that 8-20 members forward
        // within a quarter of an hour.
        for (c, site) in small_sites.iter().enumerate() {
            for _ in 0..rng.between(2, 8) {
                let a = c * COMMUNITY + rng.below(COMMUNITY);
                if let Some(f) = pick_friend(rng, &world.friends[a]) {
                    let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                    let text = format!(
                        "{} {site}/{}/{}",
                        rng.pick(&[
                            "have a look:",
                            "new menu!",
                            "看看这个",
                            "photos from saturday"
                        ]),
                        rng.pick(&["menu", "photos", "events", "blog"]),
                        rng.between(1, 40)
                    );
                    push(
                        &mut events,
                        at,
                        "small site",
                        Chat::Single,
                        user(a),
                        user(f),
                        text,
                    );
                }
            }
            if day as usize == 1 + c % (DAYS as usize - 1) {
                let page = format!("https://{site}/events/{}", rng.digits(3));
                let burst = start + 10 * HOUR + rng.below(10 * HOUR as usize) as u64;
                for _ in 0..rng.between(8, 20) {
                    let a = c * COMMUNITY + rng.below(COMMUNITY);
                    for _ in 0..rng.between(1, 2) {
                        if let Some(f) = pick_friend(rng, &world.friends[a]) {
                            let at = burst + rng.below(15 * MINUTE as usize) as u64;
                            let text = format!(
                                "{} {page}",
                                rng.pick(&[
                                    "Join us this Saturday!",
                                    "we're doing this again, come!",
                                    "周六一起来吧",
                                    "sign up here:"
                                ])
                            );
                            push(
                                &mut events,
                                at,
                                "small site",
                                Chat::Single,
                                user(a),
                                user(f),
                                text,
                            );
                        }
                    }
                }
            }
        }
        for (g, members) in world.groups.iter().enumerate() {
            let site = &small_sites[members[0] / COMMUNITY];
            if rng.chance(0.3) {
                let who = members[rng.below(members.len())];
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                push(
                    &mut events,
                    at,
                    "small site",
                    Chat::Group,
                    user(who),
                    format!("g{g}"),
                    format!("new photos {site}/photos/{}", rng.between(1, 99)),
                );
            }
            // Numbers in group chatter.
            for _ in 0..rng.below(6) {
                let who = members[rng.below(members.len())];
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                push(
                    &mut events,
                    at,
                    "numbers",
                    Chat::Group,
                    user(who),
                    format!("g{g}"),
                    number_text(rng),
                );
            }
        }
        // Numbers in ordinary texts to contacts.
        for a in 0..USERS {
            if !rng.chance(0.3) {
                continue;
            }
            if let Some(f) = pick_friend(rng, &world.friends[a]) {
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                push(
                    &mut events,
                    at,
                    "numbers",
                    Chat::Single,
                    user(a),
                    user(f),
                    number_text(rng),
                );
            }
        }
    }
    events
}
