//! The channels through the real binary against the real peers of the test kit (mosquitto,
//! the Telegram Bot API emulator, Synapse), with an instant fake provider:
//!
//! 1. idle RSS (VmRSS after 5 s) of a bare gateway, and of one with Telegram, MQTT and
//!    Matrix connected;
//! 2. messages/s end to end through MQTT: N requests published at once (QoS 1) from 20
//!    senders (20 sessions under dmScope per-peer) until the N-th answer arrives on the
//!    reply topic.
//!
//!     cargo bench --bench channels [-- N]

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, temp_dir};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let base = fake_config(&[("fake", &fake.base_url())]);

    let root = temp_dir("bench-bare");
    let bare = Gateway::start(&root, &base);
    std::thread::sleep(Duration::from_secs(5));
    let bare_rss = bare.rss_kib();
    drop(bare);

    let root = temp_dir("bench-channels");
    let broker = common::mqtt::Broker::start(&root);
    let tg = common::telegram::TelegramEmu::start();
    let hs = common::matrix::Synapse::start(&root);
    let bot = hs.register("hearth");
    let cfg = base.clone()
        + "\n[session]\ndm_scope = \"per-peer\"\n"
        + &common::mqtt::channel_config(&broker, "")
        + &common::telegram::channel_config(&root, &tg, "555:bench", "")
        + &common::matrix::channel_config(&root, &hs, &bot, "");
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(
        &[
            "telegram/default: connected",
            "mqtt/default: connected",
            "matrix/default: connected",
        ],
        60,
    );
    std::thread::sleep(Duration::from_secs(5));
    let ch_rss = gw.rss_kib();
    println!(
        "idle RSS: bare gateway {bare_rss} KiB; with Telegram, MQTT and Matrix connected {ch_rss} KiB (+{} KiB)",
        ch_rss.saturating_sub(bare_rss)
    );

    let replies = broker.subscribe("hearth/reply");
    let mut publisher = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-q",
            "1",
            "-t",
            "hearth/request",
            "-l",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub -l");
    let t0 = Instant::now();
    {
        let stdin = publisher.stdin.as_mut().expect("stdin");
        for i in 0..n {
            writeln!(
                stdin,
                r#"{{"id": "b{i}", "from": "sender{}", "text": "bench {i}"}}"#,
                i % 20
            )
            .expect("write");
        }
    }
    drop(publisher.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(600);
    while replies.payloads().len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} answers",
            replies.payloads().len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = publisher.wait();
    println!(
        "MQTT end to end: {n} requests from 20 senders answered in {secs:.2} s = {:.0} messages/s; gateway RSS after {} KiB",
        n as f64 / secs,
        gw.rss_kib()
    );
}
