//! The engine's hot paths on real events (from analytics-python): trigger
//! evaluation, each action's default mapping, the whole plan (parsed event in,
//! request body bytes out), and plain serde_json parse + serialize of the same
//! events as the baseline.
//!
//! Run: `cargo bench -p encharge-engine --bench engine`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encharge_engine::actions::Action;
use encharge_engine::config::{LoadOptions, load};
use encharge_engine::mapping::Mapping;
use encharge_engine::trigger::Trigger;
use serde_json::Value;

const EVENTS: &str = include_str!("../../../tests/data/analytics-python.ndjson");
const PRESETS: &str = include_str!("../../../mappings/presets.yaml");

fn events() -> Vec<Value> {
    EVENTS.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> &'a Value {
    events.iter().find(|e| e["type"] == t).unwrap()
}

fn triggers(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("trigger");
    group.throughput(Throughput::Elements(events.len() as u64));
    for src in [
        "type = \"track\"",
        "type = \"track\" and (event = \"Order Completed\" or properties.revenue > 10)",
    ] {
        let trigger = Trigger::parse(src).unwrap();
        group.bench_function(src, |b| {
            b.iter(|| events.iter().filter(|e| trigger.matches(black_box(e))).count());
        });
    }
    group.finish();
}

fn mappings(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("default mapping");
    group.throughput(Throughput::Elements(1));
    for action in Action::ALL {
        let event_type = match action {
            Action::TrackEvent | Action::AddTag | Action::RemoveTag => "track",
            Action::IdentifyUser => "identify",
            Action::TrackPageView => "page",
            Action::AliasUser => "alias",
            Action::CreateUpdateObject => "group",
        };
        let event = of_type(&events, event_type);
        let mapping = Mapping::compile(&action.default_mapping()).unwrap();
        group.bench_function(action.name(), |b| b.iter(|| mapping.eval(black_box(event)).unwrap()));
    }
    group.finish();
}

fn plan(c: &mut Criterion) {
    let events = events();
    let env = |_: &str| Some("test-api-key".to_owned());
    let files = vec![("presets.yaml".to_owned(), PRESETS.to_owned())];
    let loaded = load(
        &files,
        &LoadOptions {
            env: &env,
            require_api_key: true,
            require_write_keys: false,
        },
    )
    .unwrap();
    let destination = loaded.destination;
    let mut group = c.benchmark_group("plan");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("presets, event to body bytes", |b| {
        let mut planned = Vec::new();
        let mut body = Vec::with_capacity(4096);
        b.iter(|| {
            for event in &events {
                planned.clear();
                destination.plan(black_box(event), &mut planned).unwrap();
                for p in &planned {
                    for r in p.result.as_ref().unwrap() {
                        body.clear();
                        body.extend_from_slice(r.body_bytes());
                    }
                }
            }
            body.len()
        });
    });
    group.bench_function("baseline: serialize the event", |b| {
        let mut body = Vec::with_capacity(4096);
        b.iter(|| {
            for event in &events {
                body.clear();
                serde_json::to_writer(&mut body, black_box(event)).unwrap();
            }
            body.len()
        });
    });
    group.bench_function("baseline: parse and serialize the event", |b| {
        let lines: Vec<&str> = EVENTS.lines().collect();
        let mut body = Vec::with_capacity(4096);
        b.iter(|| {
            for line in &lines {
                let v: Value = serde_json::from_str(black_box(line)).unwrap();
                body.clear();
                serde_json::to_writer(&mut body, &v).unwrap();
            }
            body.len()
        });
    });
    group.finish();
}

criterion_group!(benches, triggers, mappings, plan);
criterion_main!(benches);
