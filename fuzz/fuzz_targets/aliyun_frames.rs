//! Alibaba's channel: every client text frame (`RG#`, `H1`, `NO`, API-call JSON, anything
//! else) through the channel's own parser, the API call's accessors (kind, `x-ca-seq`,
//! the body as base64 or text), `seq_of` on malformed calls, and the answer frames built
//! from what they return. Nothing may panic, and every answer frame is JSON that echoes
//! the sequence number.

#![no_main]

use gateway::fuzzing::{
    ClientFrame, aliyun_error_answer, aliyun_parse, aliyun_register_failed, aliyun_seq_of,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The error answer the channel sends: JSON, with `seq` as `header["x-ca-seq"]`.
fn check_answer(seq: Option<&str>, message: &str) {
    let frame = aliyun_error_answer(400, seq, message);
    let value: Value = serde_json::from_str(&frame).expect("an answer frame is JSON");
    assert_eq!(value["status"], 400);
    assert_eq!(value["header"].get("x-ca-seq").and_then(Value::as_str), seq);
    assert_eq!(value["body"].as_str(), Some(message));
}

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8; invalid bytes become U+FFFD as a lossy reader would.
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    match aliyun_parse(text) {
        Ok(ClientFrame::Register(device)) => {
            assert_eq!(Some(device.as_str()), text.strip_prefix("RG#"));
            let failed = aliyun_register_failed(&device);
            assert_eq!(failed.matches('#').count(), 1, "{failed:?}");
        }
        Ok(ClientFrame::Call(call)) => {
            let _ = call.kind();
            let _ = call.header("content-type");
            let seq = call.seq();
            match call.body_bytes() {
                Ok(body) => check_answer(seq, &String::from_utf8_lossy(&body)),
                Err(why) => check_answer(seq, &why),
            }
        }
        Ok(ClientFrame::Heartbeat | ClientFrame::Ack | ClientFrame::Other) => {}
        Err(why) => {
            let seq = aliyun_seq_of(text);
            if let Some(seq) = seq {
                assert!(seq.bytes().all(|b| b.is_ascii_digit()), "{seq:?}");
                assert!(text.contains(seq));
            }
            check_answer(seq, &why);
        }
    }
    // Also on text that parsed: it must never panic.
    if let Some(seq) = aliyun_seq_of(text) {
        assert!(seq.bytes().all(|b| b.is_ascii_digit()), "{seq:?}");
    }
});
