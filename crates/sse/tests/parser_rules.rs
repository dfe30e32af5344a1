//! The WHATWG event-stream parser against SSE-RULES.md rules 1-25 and the wpt `eventsource/`
//! format tests. Every vector is fed whole, byte by byte, split at every boundary (and, for
//! short vectors, at every pair of boundaries); all runs must give the same items.

use pushwire_sse::{CapacityError, Config, Error, EventParser, Item, ItemRef};

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Ev(String, String, String),
    Retry(u64),
    Comment(String),
    Id(String),
    Err(CapacityError),
}

fn ev(t: &str, d: &str, id: &str) -> Out {
    Out::Ev(t.into(), d.into(), id.into())
}
fn msg(d: &str) -> Out {
    ev("message", d, "")
}
fn comment(c: &str) -> Out {
    Out::Comment(c.into())
}

/// Feeds `chunks` as one stream, then ends it; returns the items and the final last event id.
fn run(cfg: &Config, chunks: &[&[u8]]) -> (Vec<Out>, String) {
    let mut p = EventParser::with_config(cfg.clone());
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c);
        loop {
            match p.next_item() {
                Ok(Some(Item::Event(e))) => out.push(Out::Ev(
                    e.event_type.to_string(),
                    e.data,
                    e.last_event_id.to_string(),
                )),
                Ok(Some(Item::Retry(d))) => out.push(Out::Retry(d.as_millis() as u64)),
                Ok(Some(Item::Comment(c))) => out.push(Out::Comment(c)),
                Ok(Some(Item::LastEventId(id))) => out.push(Out::Id(id.to_string())),
                Ok(Some(other)) => panic!("unexpected item {other:?}"),
                Ok(None) => break,
                Err(Error::Capacity(c)) => out.push(Out::Err(c)),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    p.finish();
    (out, p.last_event_id().to_string())
}

/// Like [`run`] through the borrowing API; must give the same items.
fn run_ref(cfg: &Config, chunks: &[&[u8]]) -> (Vec<Out>, String) {
    let mut p = EventParser::with_config(cfg.clone());
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c);
        loop {
            match p.next_item_ref() {
                Ok(Some(ItemRef::Event {
                    event_type,
                    data,
                    last_event_id,
                })) => out.push(Out::Ev(
                    event_type.into(),
                    data.into(),
                    last_event_id.into(),
                )),
                Ok(Some(ItemRef::Retry(d))) => out.push(Out::Retry(d.as_millis() as u64)),
                Ok(Some(ItemRef::Comment(c))) => out.push(Out::Comment(c.into())),
                Ok(Some(ItemRef::LastEventId(id))) => out.push(Out::Id(id.into())),
                Ok(Some(other)) => panic!("unexpected item {other:?}"),
                Ok(None) => break,
                Err(Error::Capacity(c)) => out.push(Out::Err(c)),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    p.finish();
    (out, p.last_event_id().to_string())
}

/// Checks `input` under every chunking against `want` and the final last event id.
fn check_cfg(cfg: &Config, input: &[u8], want: &[Out], want_id: &str) {
    let (got, id) = run(cfg, &[input]);
    assert_eq!(got, want, "fed whole: {:?}", String::from_utf8_lossy(input));
    assert_eq!(id, want_id, "last event id, fed whole");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(cfg, &bytes), (got.clone(), id.clone()), "byte by byte");
    assert_eq!(
        run_ref(cfg, &[input]),
        (got.clone(), id.clone()),
        "borrowed, whole"
    );
    assert_eq!(
        run_ref(cfg, &bytes),
        (got.clone(), id.clone()),
        "borrowed, byte by byte"
    );
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(run(cfg, &[a, b]), (got.clone(), id.clone()), "split at {i}");
    }
    if input.len() <= 64 {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let parts = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(
                    run(cfg, &parts),
                    (got.clone(), id.clone()),
                    "split at {i},{j}"
                );
            }
        }
    }
}

fn check(input: &[u8], want: &[Out], want_id: &str) {
    check_cfg(&Config::default(), input, want, want_id);
}

// ---- 1a. Decoding and line splitting ----

#[test]
fn rule_01_utf8_decode_replaces_invalid_bytes() {
    check(
        b"data:\xF0\x9F\x98\x80 \xE2\x80\xA6\n\ndata:\xE2\x82A\xFF\n\ndata:\xE2\x82\ndata:x\n\n",
        &[
            msg("\u{1F600} \u{2026}"),
            msg("\u{FFFD}A\u{FFFD}"),
            msg("\u{FFFD}\nx"),
        ],
        "",
    );
    // Surrogates and overlongs: one U+FFFD per byte (WHATWG maximal subparts).
    check(
        b"data:\xED\xA0\x80|\xC0\xAF\n\n",
        &[msg("\u{FFFD}\u{FFFD}\u{FFFD}|\u{FFFD}\u{FFFD}")],
        "",
    );
    // A truncated 4-byte sequence followed by a valid byte, split anywhere.
    check(b"data:\xF0\x9F\x98a\n\n", &[msg("\u{FFFD}a")], "");
}

#[test]
fn rule_02_one_leading_bom_stripped_only_at_start() {
    check(b"\xEF\xBB\xBFdata:1\n\n", &[msg("1")], "");
    // wpt format-bom.any.js: a BOM mid-stream is part of the field name.
    check(
        b"\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n",
        &[msg("1"), msg("3")],
        "",
    );
    // A BOM inside a value is U+FEFF.
    check(b"data:\xEF\xBB\xBF\n\n", &[msg("\u{FEFF}")], "");
}

#[test]
fn rule_02_wpt_format_bom_2_doubled_bom() {
    check(
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3\n\n",
        &[msg("2"), msg("3")],
        "",
    );
}

#[test]
fn rule_03_bom_split_down_to_single_bytes() {
    // The harness feeds it byte by byte and at every split; a partial BOM is not a BOM.
    check(b"\xEF\xBB\xBFdata:x\n\n", &[msg("x")], "");
    check(b"\xEF\xBBdata:x\n\ndata:y\n\n", &[msg("y")], "");
    let (out, _) = run(
        &Config::default(),
        &[b"\xEF", b"\xBB", b"\xBF", b"data:z\n\n"],
    );
    assert_eq!(out, [msg("z")]);
}

#[test]
fn rule_04_crlf_lf_and_lone_cr_end_lines() {
    check(
        b"data:a\r\ndata:b\ndata:c\rdata:d\r\n\r\n",
        &[msg("a\nb\nc\nd")],
        "",
    );
    check(b"data:a\r\rdata:b\n\n", &[msg("a"), msg("b")], "");
    check(b"data:a\n\rdata:b\r\n\n", &[msg("a"), msg("b")], "");
}

#[test]
fn rule_05_crlf_split_across_chunks_is_one_line_end() {
    let (out, _) = run(
        &Config::default(),
        &[b"data:a\r", b"\ndata:b\r", b"\n\r", b"\n"],
    );
    assert_eq!(out, [msg("a\nb")]);
    // A CR then an LF that arrives much later is still one line end.
    let (out, _) = run(&Config::default(), &[b"data:a\r", b"", b"", b"\n\n"]);
    assert_eq!(out, [msg("a")]);
}

#[test]
fn rule_06_wpt_format_newlines_trailing_cr_dispatches() {
    check(
        b"data:test\r\ndata\ndata:test\r\n\r",
        &[msg("test\n\ntest")],
        "",
    );
    check(b"data:x\r\r", &[msg("x")], "");
}

#[test]
fn rule_07_any_rechunking_gives_the_same_items() {
    let input: &[u8] = b"\xEF\xBB\xBF:hi\r\nid: 1\r\nevent: e\rdata: \xC3\xA9\r\nretry: 10\n\n\
id\ndata:\xF0\x9F\x98\x80\r\r";
    let want = [
        comment("hi"),
        Out::Retry(10),
        ev("e", "\u{e9}", "1"),
        msg("\u{1F600}"),
    ];
    check(input, &want, "");
    // Pseudo-random chunk sizes over a long repetitive stream.
    let mut big = Vec::new();
    for i in 0..300 {
        big.extend_from_slice(
            format!("id: {i}\r\nevent: t{}\rdata: \u{e9}{i}\r\n\n", i % 3).as_bytes(),
        );
    }
    let (whole, id) = run(&Config::default(), &[&big]);
    assert_eq!(whole.len(), 300);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20 {
        let mut parts = Vec::new();
        let mut rest: &[u8] = &big;
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = ((seed % 23) as usize + 1).min(rest.len());
            let (a, b) = rest.split_at(n);
            parts.push(a);
            rest = b;
        }
        assert_eq!(run(&Config::default(), &parts), (whole.clone(), id.clone()));
    }
}

#[test]
fn rule_08_incomplete_event_at_eof_is_discarded() {
    check(b"data:x\n", &[], "");
    check(b"data:x\n\ndata:y", &[msg("x")], "");
    check(b"data:x\n\ndata:y\n", &[msg("x")], "");
}

#[test]
fn rule_08_wpt_format_data_before_final_empty_line_id_not_committed() {
    check(
        b"retry:1000\ndata:test1\n\nid:test\ndata:test2",
        &[Out::Retry(1000), msg("test1")],
        "",
    );
}

#[test]
fn rule_09_buffers_start_empty() {
    let p = EventParser::new();
    assert_eq!(p.last_event_id(), "");
    assert_eq!(p.reconnection_time(), None);
    check(b"data:x\n\n", &[msg("x")], "");
}

// ---- 1b. Line and field processing ----

#[test]
fn rule_10_empty_line_dispatches() {
    check(b"data:a\n\ndata:b\n\n", &[msg("a"), msg("b")], "");
}

#[test]
fn rule_11_wpt_format_comments() {
    let long = "x".repeat(2049);
    let input =
        format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n");
    check(
        input.as_bytes(),
        &[
            comment("\0"),
            comment(""),
            comment(&long),
            comment("data:fail"),
            comment(&long),
            msg("1\n2\n3\n4"),
        ],
        "",
    );
}

#[test]
fn rule_12_value_after_first_colon_minus_one_space() {
    check(b"data: a:b\n\n", &[msg("a:b")], "");
    check(b"data:  two\n\n", &[msg(" two")], "");
    check(b"data:\tx\n\n", &[msg("\tx")], "");
}

#[test]
fn rule_12_wpt_format_leading_space() {
    check(
        b"data:\ttest\rdata: \rdata:test\r\r",
        &[msg("\ttest\n\ntest")],
        "",
    );
}

#[test]
fn rule_13_line_without_colon_is_field_with_empty_value() {
    check(b"data\n\n", &[msg("")], "");
    check(
        b"id: 3\n\nid\n\n",
        &[Out::Id("3".into()), Out::Id("".into())],
        "",
    );
}

#[test]
fn rule_14_field_names_are_case_sensitive_and_literal() {
    check(b"Data:x\nDATA:y\ndata :z\n data:w\n\n", &[], "");
    check(b"data:1\nData:2\n\n", &[msg("1")], "");
}

#[test]
fn rule_14_wpt_format_field_parsing() {
    check(
        b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
        &[msg("\0\n 2\n1\n3\n\n4")],
        "",
    );
}

#[test]
fn rule_15_wpt_format_field_event_and_event_empty() {
    check(
        b"event:test\ndata:x\n\ndata:y\n\nevent: \ndata:z\n\n",
        &[ev("test", "x", ""), msg("y"), msg("z")],
        "",
    );
}

#[test]
fn rule_16_wpt_format_field_data() {
    check(
        b"data:\n\ndata\ndata\n\ndata:test\n\n",
        &[msg(""), msg("\n"), msg("test")],
        "",
    );
}

#[test]
fn rule_16_wpt_format_null_character_and_utf8() {
    check(b"data:\0\n\n", &[msg("\0")], "");
    check("data:ok\u{2026}\n\n".as_bytes(), &[msg("ok\u{2026}")], "");
}

#[test]
fn rule_17_wpt_format_field_id_null_ignored() {
    for bad in [&b"id: a\0b"[..], b"id:\0", b"id: \0x", b"id:x\0", b"id\0"] {
        let mut input = b"id: 1\n\n".to_vec();
        input.extend_from_slice(bad);
        input.extend_from_slice(b"\ndata: x\n\n");
        // `id\0` has field name "id\0": unknown, also ignored.
        check(&input, &[Out::Id("1".into()), ev("message", "x", "1")], "1");
    }
}

#[test]
fn rule_17_empty_id_resets_and_utf8_ids_round_trip() {
    check(
        "id: \u{2026}\ndata:a\n\nid:\ndata:b\n\n".as_bytes(),
        &[ev("message", "a", "\u{2026}"), msg("b")],
        "",
    );
}

#[test]
fn rule_18_wpt_format_field_retry() {
    check(
        b"retry:03000\ndata:x\n\n",
        &[Out::Retry(3000), msg("x")],
        "",
    );
    check(b"retry: 0\n\n", &[Out::Retry(0)], "");
}

#[test]
fn rule_18_wpt_format_field_retry_bogus_and_empty() {
    for bogus in [
        "retry:1000x",
        "retry",
        "retry:",
        "retry: +5",
        "retry:  5",
        "retry:-1",
        "retry:5 ",
        "retry:1.5",
        "retry:\u{0661}",
    ] {
        let input = format!("{bogus}\ndata:x\n\n");
        check(input.as_bytes(), &[msg("x")], "");
    }
    // Huge values saturate instead of overflowing.
    check(
        b"retry:99999999999999999999999\n\n",
        &[Out::Retry(u64::MAX)],
        "",
    );
}

#[test]
fn rule_19_wpt_format_field_unknown() {
    check(
        b"data:test\n unknown:x\nfoo:bar\nfoo\ndata:end\n\n",
        &[msg("test\nend")],
        "",
    );
}

// ---- 1c. Dispatch ----

#[test]
fn rule_20_wpt_format_field_id_3_id_persists_and_resets() {
    check(
        b"id: 1\ndata: 1\n\ndata: 2\n\nid:\ndata:3\n\nid: 4\ndata:4\n\nid\ndata:5\n\n",
        &[
            ev("message", "1", "1"),
            ev("message", "2", "1"),
            msg("3"),
            ev("message", "4", "4"),
            msg("5"),
        ],
        "",
    );
}

#[test]
fn rule_21_id_committed_by_block_without_data() {
    check(
        b"id: 5\n\ndata: x\n\n",
        &[Out::Id("5".into()), ev("message", "x", "5")],
        "5",
    );
    // The same id again changes nothing, so no item.
    check(b"id: 5\n\nid: 5\n\n", &[Out::Id("5".into())], "5");
}

#[test]
fn rule_22_empty_data_buffer_fires_nothing_and_resets_type() {
    check(b"event:x\n\ndata:y\n\n", &[msg("y")], "");
    check(b"event:x\nid:1\n\n", &[Out::Id("1".into())], "1");
}

#[test]
fn rule_23_only_one_trailing_lf_removed() {
    check(b"data:a\ndata:\n\n", &[msg("a\n")], "");
    check(b"data\ndata\ndata\n\n", &[msg("\n\n")], "");
}

#[test]
fn rule_24_type_defaults_to_message_and_carries_last_event_id() {
    check(
        b"id:7\nevent:up\ndata:a\n\ndata:b\n\n",
        &[ev("up", "a", "7"), ev("message", "b", "7")],
        "7",
    );
}

#[test]
fn rule_25_wpt_event_data_buffers_reset_after_dispatch() {
    check(
        b"event:t\ndata:msg\ndata:msg\n\n\ndata:b\n\n:\n\n\ndata:c\n\n",
        &[ev("t", "msg\nmsg", ""), msg("b"), comment(""), msg("c")],
        "",
    );
}

// ---- Limits (Config) ----

#[test]
fn limit_max_line_errors_then_resyncs_at_blank_line() {
    let cfg = Config::default().with_max_line(16).with_max_event_data(64);
    let line = format!("data: {}", "x".repeat(20));
    let input = format!("id: 1\n\nid: 2\n{line}\ndata:more\n\ndata:ok\n\n");
    check_cfg(
        &cfg,
        input.as_bytes(),
        &[
            Out::Id("1".into()),
            Out::Err(CapacityError::LineTooLong),
            ev("message", "ok", "1"),
        ],
        "1",
    );
    // A line of exactly max_line bytes passes.
    let ok = format!("data:{}\n\n", "y".repeat(11));
    check_cfg(&cfg, ok.as_bytes(), &[msg(&"y".repeat(11))], "");
}

#[test]
fn limit_endless_line_memory_stays_bounded() {
    let cfg = Config::default()
        .with_max_line(1024)
        .with_max_event_data(1024);
    let mut p = EventParser::with_config(cfg);
    let chunk = [b'x'; 64];
    let mut errors = 0;
    for _ in 0..100_000 {
        p.feed(&chunk);
        while let Some(r) = p.next_item().transpose() {
            assert_eq!(r, Err(Error::Capacity(CapacityError::LineTooLong)));
            errors += 1;
        }
        assert!(p.buffered() <= 1024 + 64, "buffered {}", p.buffered());
    }
    assert_eq!(errors, 1);
    p.feed(b"\ndata:skipped\n\ndata:after\n\n");
    let Ok(Some(Item::Event(e))) = p.next_item() else {
        panic!()
    };
    assert_eq!(e.data, "after");
}

#[test]
fn limit_max_event_data() {
    let cfg = Config::default().with_max_line(16).with_max_event_data(16);
    check_cfg(
        &cfg,
        b"data:0123456789\ndata:0123456789\ndata:x\n\ndata:ok\n\n",
        &[Out::Err(CapacityError::EventDataTooLarge), msg("ok")],
        "",
    );
}

#[test]
fn limit_max_id_and_event_type() {
    let cfg = Config::default()
        .with_max_id_len(4)
        .with_max_event_type_len(4);
    check_cfg(
        &cfg,
        b"id:1234\nevent:abcd\ndata:a\n\nid:12345\ndata:b\n\nevent:abcde\ndata:c\n\ndata:d\n\n",
        &[
            ev("abcd", "a", "1234"),
            Out::Err(CapacityError::IdTooLong),
            Out::Err(CapacityError::EventTypeTooLong),
            ev("message", "d", "1234"),
        ],
        "1234",
    );
}

#[test]
fn limit_defaults_let_a_1_mib_event_through() {
    let data = "z".repeat(1 << 20);
    let input = format!("data: {data}\n\n");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(64).collect();
    let (out, _) = run(&Config::default(), &chunks);
    assert_eq!(out, [msg(&data)]);
}

#[test]
fn finish_rearms_bom_and_keeps_last_event_id() {
    let mut p = EventParser::new();
    p.feed(b"\xEF\xBB\xBFid: 9\ndata: a\n\nid: 10\ndata: partial");
    assert!(matches!(p.next_item(), Ok(Some(Item::Event(_)))));
    assert_eq!(p.next_item(), Ok(None));
    p.finish();
    assert_eq!(p.last_event_id(), "9");
    p.feed(b"\xEF\xBB\xBFdata: b\n\n");
    let Ok(Some(Item::Event(e))) = p.next_item() else {
        panic!()
    };
    assert_eq!((e.data.as_str(), &*e.last_event_id), ("b", "9"));
}

#[test]
fn with_last_event_id_seeds_the_stream() {
    let mut p = EventParser::new().with_last_event_id("41");
    p.feed(b"data: x\n\n");
    let Ok(Some(Item::Event(e))) = p.next_item() else {
        panic!()
    };
    assert_eq!(&*e.last_event_id, "41");
}

#[test]
fn rule_07_data_kept_across_buffer_compaction() {
    // A data line, then more than the parser's 4 KiB compaction threshold of other lines
    // before the event ends: the value must survive the buffer being compacted under it,
    // with one data line and with two, under any chunk size.
    let filler: String = (0..60)
        .map(|i| format!(": {i:04} {}\n", "c".repeat(90)))
        .collect();
    let input = format!(
        "data: first\n{filler}data: second\n\nid: 7\ndata: only\n{filler}\ndata: x\ndata: y\n{filler}\n"
    );
    let mut want = Vec::new();
    let comments: Vec<Out> = (0..60)
        .map(|i| comment(&format!("{i:04} {}", "c".repeat(90))))
        .collect();
    want.extend(comments.iter().cloned());
    want.push(msg("first\nsecond"));
    want.extend(comments.iter().cloned());
    want.push(ev("message", "only", "7"));
    want.extend(comments.iter().cloned());
    want.push(ev("message", "x\ny", "7"));
    for size in [1, 7, 64, 4099, input.len()] {
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(size).collect();
        assert_eq!(
            run(&Config::default(), &chunks),
            (want.clone(), "7".to_string()),
            "{size}"
        );
        assert_eq!(
            run_ref(&Config::default(), &chunks),
            (want.clone(), "7".to_string()),
            "borrowed, {size}"
        );
    }
}
