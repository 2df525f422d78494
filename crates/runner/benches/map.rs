//! `map` end to end on NDJSON (read, plan, write NDJSON) against the baseline
//! of plain serde_json parse and serialize of every line.
//!
//! Run: `cargo bench -p encharge-runner --bench map`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encharge_engine::config::{LoadOptions, load};
use encharge_runner::commands::map::map_events;
use serde_json::Value;

const EVENTS: &str = include_str!("../../../tests/data/analytics-python.ndjson");

fn map(c: &mut Criterion) {
    // The 120 sample events, repeated to a file of 12,000 lines.
    let input: String = EVENTS.repeat(100);
    let lines = input.lines().count() as u64;
    let env = |_: &str| Some("test-api-key".to_owned());
    let files = vec![("presets.yaml".to_owned(), encharge_runner::config::PRESETS.to_owned())];
    let loaded = load(
        &files,
        &LoadOptions {
            env: &env,
            require_api_key: true,
            require_write_keys: false,
        },
    )
    .unwrap();
    let mut group = c.benchmark_group("map end to end");
    group.throughput(Throughput::Elements(lines));
    group.sample_size(20);
    group.bench_function("map (presets)", |b| {
        let mut out = Vec::with_capacity(input.len() * 2);
        b.iter(|| {
            out.clear();
            map_events(&loaded.destination, black_box(input.as_bytes()), &mut out, None).unwrap();
            out.len()
        });
    });
    group.bench_function("baseline: parse and serialize each line", |b| {
        let mut out = Vec::with_capacity(input.len() * 2);
        b.iter(|| {
            out.clear();
            for line in black_box(&input).lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                serde_json::to_writer(&mut out, &v).unwrap();
                out.push(b'\n');
            }
            out.len()
        });
    });
    group.finish();
}

criterion_group!(benches, map);
criterion_main!(benches);
