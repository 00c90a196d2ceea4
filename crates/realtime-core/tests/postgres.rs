//! PostgreSQL against the real server on 127.0.0.1:5432, database `test` (DATABASE_URL
//! overrides): typed results from text parameters, and the NOTIFY listener publishing into a
//! server's subscribers, the default parser refusing malformed payloads, and LISTEN restored
//! after the backend is terminated.

mod common;

use common::*;
use std::time::Duration;

use realtime_core::postgres::notify::ListenConfig;
use realtime_core::postgres::{PgHandle, TextParam};
use realtime_core::server::NotifyParse;
use serde_json::json;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn text(value: &str) -> TextParam {
    TextParam(Some(value.into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_decodes_by_column_type() {
    let pg = PgHandle::open(&database_url()).unwrap();
    let result = pg
        .query(
            "SELECT $1::int4 AS n, $2::text AS t, $3::jsonb AS j, $4::float8 AS f, $5::text AS missing",
            &[text("7"), text("é\"x"), text(r#"{"k":[true,null]}"#), text("0.5"), TextParam(None)],
        )
        .await
        .unwrap();
    let names: Vec<_> = result.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["n", "t", "j", "f", "missing"]);
    assert_eq!(result.fields[2].type_oid, 3802);
    assert_eq!(
        result.rows,
        vec![vec![
            json!(7),
            json!("é\"x"),
            json!({"k": [true, null]}),
            json!(0.5),
            json!(null)
        ]]
    );
    let multi = pg
        .query(
            "CREATE TEMP TABLE t_multi (x int); INSERT INTO t_multi VALUES (1), (2);",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(multi.row_count, 0);
    let updated = pg.query("UPDATE t_multi SET x = x + 1", &[]).await.unwrap();
    assert_eq!(updated.row_count, 2);
    let error = pg.query("SELECT nope FROM t_multi", &[]).await.unwrap_err();
    assert!(error.to_string().starts_with("[42703] "), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_subscribers_and_survive_a_terminated_backend() {
    let channel = format!("rust_notify_{:08x}", rand::random::<u32>());
    let server = start(config());
    let mut client = connect(&server.ws_url()).await;
    let id = server.expect_open();
    assert!(server.server.subscribe(id, "orders"));
    let pg = PgHandle::open(&database_url()).unwrap();
    let listen = ListenConfig {
        channel: channel.clone(),
        reconnect_interval: Duration::from_millis(50),
        auto_reconnect: true,
    };
    let listener = server
        .server
        .listen_notify(pg.config().clone(), listen, NotifyParse::Json)
        .expect("server running");
    let until = |check: &dyn Fn() -> bool| {
        let ok = (0..300).any(|_| {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
            false
        });
        assert!(ok, "condition not met in 3 s");
    };
    until(&|| listener.is_listening());

    let notify = |payload: &'static str| {
        let pg = &pg;
        let channel = channel.clone();
        async move {
            pg.query(
                "SELECT pg_notify($1, $2)",
                &[TextParam(Some(channel)), text(payload)],
            )
            .await
            .unwrap();
        }
    };
    notify("garbage").await;
    notify(r#"{"topic":"orders","event":"created","data":{"id":1}}"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"orders","event":"created","data":{"id":1}}"#
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(listener.stats.dropped.load(Relaxed), 1);

    let killed = pg
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
            &[TextParam(Some(format!("LISTEN \"{channel}\"")))],
        )
        .await
        .unwrap();
    assert_eq!(killed.row_count, 1);
    until(&|| listener.stats.connects.load(Relaxed) == 2 && listener.is_listening());
    notify(r#"{"topic":"orders","event":"deleted"}"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"orders","event":"deleted","data":null}"#
    );
    listener.stop();
    until(&|| !listener.is_listening());
}
