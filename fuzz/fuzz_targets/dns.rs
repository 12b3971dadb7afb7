//! The embedded DNS server's packets: a question is read only from a well-formed query, and answers and failures echo its id and question with the right counts and flags.
#![no_main]

use berth_engine::network::dns::{answer, failure, parse_question};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|q: &[u8]| {
    let rcode = q.first().map_or(2, |b| b & 0x0f);
    let f = failure(q, rcode);
    assert!(f.len() <= q.len());
    if f.len() >= 12 {
        assert_eq!(&f[..2], &q[..2], "the id is echoed");
        assert_eq!(f[2] & 0x80, 0x80, "a response");
        assert_eq!(f[3] & 0x0f, rcode);
        assert!(f[6..12].iter().all(|b| *b == 0), "no records");
    }
    let Some(question) = parse_question(q) else {
        return;
    };
    assert!(
        q.len() >= 12 && q[2] & 0x80 == 0,
        "only queries have a question"
    );
    assert!(question.end >= 17 && question.end <= q.len());
    assert_eq!(
        question.qtype,
        u16::from_be_bytes([q[question.end - 4], q[question.end - 3]])
    );
    assert_eq!(
        question.class,
        u16::from_be_bytes([q[question.end - 2], q[question.end - 1]])
    );
    assert_eq!(question.name, question.name.to_ascii_lowercase());
    assert_eq!(f.len(), question.end, "a failure keeps the question");
    let n = (q.len() % 5) as u8;
    let ips: Vec<Ipv4Addr> = (0..n).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    let r = answer(q, question.end, &ips, 0);
    assert_eq!(r.len(), question.end + 16 * ips.len());
    assert_eq!(&r[..2], &q[..2]);
    assert_eq!(&r[4..6], &q[4..6], "one question");
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), u16::from(n));
    assert_eq!(&r[12..question.end], &q[12..question.end]);
    assert!(parse_question(&r).is_none(), "an answer is not a question");
});
