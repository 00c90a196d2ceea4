//! Fan-out of one publish to N subscribers, in Rust: the envelope framed once, then one
//! outbox push per subscriber of the same bytes (the `envelope`, `hub` and `outbox` code the
//! server runs).
//! Outboxes are emptied between iterations, as a writer task would, outside the timing.
//!
//! Run: `cargo bench -p realtime-core --bench fanout` (results in `benches/README.md`).

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use realtime_core::envelope;
use realtime_core::hub::{Hub, Subscriber};
use realtime_core::outbox::{Outbox, Taken};

struct Sub {
    id: u64,
    outbox: Outbox,
}

#[derive(Clone)]
struct Handle(Arc<Sub>);

impl Subscriber for Handle {
    fn key(&self) -> u64 {
        self.0.id
    }
}

const DATA: &str = r#"{"id":42,"userId":"alice","text":"hello, world","createdAt":1764270000000}"#;

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_fanout");
    for n in [1usize, 100, 10_000] {
        let hub = Hub::new();
        let topic: Arc<str> = Arc::from("messages");
        let subs: Vec<Arc<Sub>> = (0..n as u64)
            .map(|id| {
                Arc::new(Sub {
                    id,
                    outbox: Outbox::new(1 << 30),
                })
            })
            .collect();
        for sub in &subs {
            hub.subscribe(&topic, Handle(Arc::clone(sub)));
        }
        let mut scratch = Taken::default();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            // Only the publish is timed; emptying the outboxes (the writers' work) is not.
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let started = std::time::Instant::now();
                    let frame = envelope::framed("messages", "created", Some(DATA));
                    hub.for_each_subscriber("messages", |sub| {
                        sub.0.outbox.push(frame.clone());
                    });
                    total += started.elapsed();
                    for sub in &subs {
                        sub.outbox.take(&mut scratch, true);
                        sub.outbox
                            .written(scratch.frames.iter().map(|f| f.len()).sum());
                        scratch = Taken::default();
                    }
                }
                total
            });
        });
    }
    group.finish();
}

fn envelope_build(c: &mut Criterion) {
    c.bench_function("envelope_build", |b| {
        b.iter(|| envelope::framed("messages", "created", Some(std::hint::black_box(DATA))))
    });
}

criterion_group!(benches, fanout, envelope_build);
criterion_main!(benches);
