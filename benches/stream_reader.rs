//! The reader of bodies over `FLOODGATE_MAX_BODY`: 1 MiB message bodies, padded in the ways a
//! client can pad them, against serde_json parsing the same bytes whole. Compare by ratio.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use floodgate::http::stream_reader::StreamReader;
use floodgate::http::wire::CallbackRequest;

const SIZE: usize = 1 << 20;
const PIECE: usize = 64 * 1024;

/// A message whose `ex` (or, for `content`, whose text) is `unit` repeated to ~1 MiB.
fn body(padding: &str, unit: &str) -> Vec<u8> {
    let fill = unit.repeat(SIZE / unit.len());
    let (content, ex) = match padding {
        "content" => (format!("{{\\\"content\\\":\\\"{fill}\\\"}}"), String::new()),
        _ => (r#"{\"content\":\"get free money now\"}"#.to_string(), fill),
    };
    let ex = if padding == "nested" {
        format!(r#""x","offlinePushInfo":{{"desc":[{ex}0]}}"#)
    } else {
        format!(r#""{ex}""#)
    };
    format!(
        r#"{{"sendID":"alice","callbackCommand":"callbackBeforeSendSingleMsgCommand","clientMsgID":"c1","operationID":"op","senderPlatformID":1,"sessionType":1,"msgFrom":100,"contentType":101,"content":"{content}","atUserList":null,"ex":{ex},"recvID":"bob"}}"#
    )
    .into_bytes()
}

fn streamed(body: &[u8]) -> Vec<u8> {
    let mut reader = StreamReader::new(256 * 1024, "callbackBeforeSendSingleMsgCommand");
    for piece in body.chunks(PIECE) {
        if reader.feed(piece).is_err() {
            break;
        }
    }
    reader.finish()
}

fn oversized(c: &mut Criterion) {
    let mut group = c.benchmark_group("oversized_body");
    group.throughput(Throughput::Bytes(SIZE as u64));
    let cases = [
        ("plain ex", "ex", "abcdefgh"),
        ("escaped ex", "ex", r#"\"\\\u00e9"#),
        ("nested unknown field", "nested", "[[{},[]]],1,"),
        ("1 MiB content", "content", "free money "),
    ];
    for (name, padding, unit) in cases {
        let bytes = body(padding, unit);
        assert!(
            CallbackRequest::parse(&streamed(&bytes)).is_ok(),
            "{name} reads"
        );
        group.bench_with_input(BenchmarkId::new("serde_whole", name), &bytes, |b, bytes| {
            b.iter(|| CallbackRequest::parse(black_box(bytes)).map(|r| r.mentions()))
        });
        group.bench_with_input(BenchmarkId::new("streamed", name), &bytes, |b, bytes| {
            b.iter(|| streamed(black_box(bytes)))
        });
    }
    group.finish();
}

criterion_group!(benches, oversized);
criterion_main!(benches);
