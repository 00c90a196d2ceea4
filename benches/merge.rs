//! One merge event applied to a stream value of 100, 10,000 and 100,000 items, for each
//! strategy (`realtime_core::merge`, the engine behind `NativeMergeState`). Building the
//! event's data is outside the timing; dropping what the event replaces is inside it.
//! Events that change the size are undone between timed batches, outside the timing, so
//! every batch starts from the same size. `benches/merge.js` times the JavaScript engine on
//! the same scenarios.
//!
//! Run: `cargo bench -p realtime-core --bench merge` (results in `benches/README.md`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main,
};
use realtime_core::merge::{MergeOptions, MergeState, Strategy};
use serde_json::{Value, json};

const SIZES: [usize; 3] = [100, 10_000, 100_000];

fn crud_item(id: usize) -> Value {
    json!({ "id": id, "text": format!("item {id}"), "done": false, "createdAt": 1_764_270_000_000_u64 + id as u64 })
}

fn presence_item(i: usize) -> Value {
    json!({ "key": format!("user-{i}"), "name": format!("User {i}"), "status": "online" })
}

fn cursor_item(i: usize) -> Value {
    json!({ "key": format!("user-{i}"), "x": i, "y": i * 2, "color": "#e11d48" })
}

fn state(strategy: Strategy, n: usize, item: fn(usize) -> Value) -> MergeState {
    let options = MergeOptions {
        strategy,
        max: n,
        ..MergeOptions::default()
    };
    MergeState::new(options, Value::Array((0..n).map(item).collect()))
}

/// Small sizes get criterion's default sample count; big ones 20 samples, so a full run
/// stays within a few minutes.
fn sized(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    group.sample_size(if n >= 10_000 { 20 } else { 100 });
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group
}

/// An event that leaves the size unchanged, with fresh data each time (cloned untimed).
fn same_size(
    c: &mut Criterion,
    name: &str,
    event: &str,
    make: impl Fn(usize) -> (MergeState, Value),
) {
    let mut group = group(c, name);
    for n in SIZES {
        sized(&mut group, n);
        let (mut state, data) = make(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || data.clone(),
                |data| state.apply(event, data),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn crud_keyed(c: &mut Criterion) {
    // An existing key in the middle of the array.
    same_size(c, "merge_crud_updated_existing", "updated", |n| {
        let mut data = crud_item(n / 2);
        data["done"] = json!(true);
        (state(Strategy::Crud, n, crud_item), data)
    });
    same_size(c, "merge_crud_created_upsert_existing", "created", |n| {
        let mut data = crud_item(n / 2);
        data["text"] = json!("edited");
        (state(Strategy::Crud, n, crud_item), data)
    });
    same_size(c, "merge_presence_join_existing", "join", |n| {
        let mut data = presence_item(n / 2);
        data["status"] = json!("away");
        (state(Strategy::Presence, n, presence_item), data)
    });
    same_size(c, "merge_cursor_update_existing", "update", |n| {
        let mut data = cursor_item(n / 2);
        data["x"] = json!(7);
        (state(Strategy::Cursor, n, cursor_item), data)
    });
    // `max` is the size: every push also drops the oldest item.
    same_size(c, "merge_latest_push_at_max", "created", |n| {
        (state(Strategy::Latest, n, crud_item), crud_item(n))
    });
}

/// Up to `CHUNK` events are timed back to back, then undone untimed.
const CHUNK: u64 = 1_000;

fn crud_created_append(c: &mut Criterion) {
    let mut group = group(c, "merge_crud_created_append");
    for n in SIZES {
        sized(&mut group, n);
        let mut state = state(Strategy::Crud, n, crud_item);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = left.min(CHUNK) as usize;
                    left -= count as u64;
                    let fresh: Vec<Value> = (n..n + count).map(crud_item).collect();
                    let started = Instant::now();
                    for data in fresh {
                        state.apply("created", data);
                    }
                    total += started.elapsed();
                    // Deleting the last item shifts nothing.
                    for id in (n..n + count).rev() {
                        state.apply("deleted", json!({ "id": id }));
                    }
                }
                total
            });
        });
    }
    group.finish();
}

fn crud_deleted_middle(c: &mut Criterion) {
    let mut group = group(c, "merge_crud_deleted_middle");
    for n in SIZES {
        sized(&mut group, n);
        let mut state = state(Strategy::Crud, n, crud_item);
        // A few deletes around the middle per batch, then the items come back at the end.
        let batch = (n / 10).clamp(1, 64);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = left.min(batch as u64) as usize;
                    left -= count as u64;
                    let items = state.value().as_array().expect("crud value is an array");
                    let start = n / 2 - count / 2;
                    let removed: Vec<Value> = items[start..start + count].to_vec();
                    let keys: Vec<Value> = removed
                        .iter()
                        .map(|item| json!({ "id": item["id"] }))
                        .collect();
                    let started = Instant::now();
                    for key in keys {
                        state.apply("deleted", key);
                    }
                    total += started.elapsed();
                    for item in removed {
                        state.apply("created", item);
                    }
                }
                total
            });
        });
    }
    group.finish();
}

fn set_replace(c: &mut Criterion) {
    // The new value has as many items as the old one, which is dropped inside the timing.
    let mut group = group(c, "merge_set_replace");
    for n in SIZES {
        sized(&mut group, n);
        let mut state = state(Strategy::Set, n, crud_item);
        let next = Value::Array((0..n).map(crud_item).collect());
        let batch = if n >= 10_000 {
            BatchSize::PerIteration
        } else {
            BatchSize::SmallInput
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || next.clone(),
                |data| state.apply("set", black_box(data)),
                batch,
            );
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    crud_keyed,
    crud_created_append,
    crud_deleted_middle,
    set_replace
);
criterion_main!(benches);
